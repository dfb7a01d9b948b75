import Foundation
import Shared
import Testing

/// RFC 6962 / RFC 9162 Merkle trees against pymerkle (`scripts/merkle-reference`, an
/// independent implementation) for every size, index and pair of sizes up to 40 leaves: the same
/// roots, the same inclusion proofs, and our consistency proofs leading from its root of one size
/// to its root of the other. Every proof is checked by our verifier, and any altered hash, leaf,
/// index, fork or rollback refused.
///
/// The pymerkle comparison is skipped, with the reason printed, when python3 cannot import it
/// (`scripts/setup-system` installs it), unless `SPLITKEY_REQUIRE_PYTHON_TOOLS=1`.
struct MerkleTreeTests {
    static let size = 40
    static let leaves: [[UInt8]] = (0..<size).map { MerkleTree.leafHash(Array("entry \($0)".utf8)) }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    static func bytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }

    // MARK: Fixed values

    @Test func hashingUsesTheRFCPrefixes() throws {
        #expect(Self.hex(MerkleTree.emptyRoot) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // SHA-256 of the single byte 0x00: the leaf hash of the empty entry.
        #expect(Self.hex(MerkleTree.leafHash([])) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        // The tree of RFC 6962's test leaves "", 00, 10 (certificate-transparency's reference root).
        let ct = ([[], [0x00], [0x10]] as [[UInt8]]).map { MerkleTree.leafHash($0) }
        #expect(Self.hex(MerkleTree.root(ct[...])) == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77")
        // A leaf never hashes like a node of the same bytes.
        let (a, b) = (Self.leaves[0], Self.leaves[1])
        #expect(MerkleTree.nodeHash(a, b) != MerkleTree.leafHash(a + b))
    }

    // MARK: Against pymerkle

    struct Reference: Decodable {
        var roots: [String]
        var inclusion: [String: [String]]
    }

    static let required = PythonTools.required
    static let unavailable = PythonTools.missing("pymerkle", for: "MerkleTreeTests")

    @Test(.enabled(if: unavailable == nil || required, "pymerkle is not importable by python3"))
    func rootsAndProofsAgreeWithPymerkle() throws {
        if let unavailable = Self.unavailable {
            Issue.record("SPLITKEY_REQUIRE_PYTHON_TOOLS=1 but \(unavailable)")
            return
        }
        let (status, output) = try PythonTools.run(["python3", PythonTools.script("merkle-reference").path, "\(Self.size)"])
        try #require(status == 0, "scripts/merkle-reference failed (exit \(status)):\n\(output.suffix(2000))")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(output.utf8))
        try #require(reference.roots.count == Self.size + 1)
        for s in 1...Self.size {
            let leaves = Self.leaves[..<s]
            #expect(Self.hex(MerkleTree.root(leaves)) == reference.roots[s], "root of size \(s)")
            for i in 0..<s {
                let ours = try MerkleTree.inclusionProof(index: i, in: leaves).map(Self.hex)
                #expect(ours == reference.inclusion["\(s) \(i)"], "inclusion of \(i) in \(s)")
            }
            for m in 1..<s {
                // pymerkle's consistency proofs are of another shape (the old tree's full
                // decomposition), so ours are checked against its roots: a proof made from our
                // leaves must lead from its root of size m to its root of size s.
                let proof = try MerkleTree.consistencyProof(oldSize: m, in: leaves)
                let (old, new) = (try #require(Self.bytes(reference.roots[m])), try #require(Self.bytes(reference.roots[s])))
                #expect(throws: Never.self, "consistency \(m) -> \(s)") {
                    try MerkleTree.verifyConsistency(oldSize: m, newSize: s, oldRoot: old, newRoot: new, proof: proof)
                }
            }
        }
    }

    // MARK: Our verifier

    @Test func everyInclusionProofVerifiesAndNothingAlteredDoes() throws {
        for s in 1...Self.size {
            let leaves = Self.leaves[..<s]
            let root = MerkleTree.root(leaves)
            for i in 0..<s {
                let proof = try MerkleTree.inclusionProof(index: i, in: leaves)
                try MerkleTree.verifyInclusion(leafHash: Self.leaves[i], index: i, size: s, proof: proof, root: root)
                // Another leaf, index or root; a proof with a flipped bit, one hash more or less. (The
                // size is bound only through the path's shape: a checkpoint signs size and root together.)
                #expect(throws: MerkleProofError.self) {
                    try MerkleTree.verifyInclusion(leafHash: Self.leaves[(i + 1) % Self.size], index: i, size: s, proof: proof, root: root)
                }
                if s > 1 {
                    #expect(throws: MerkleProofError.self) {
                        try MerkleTree.verifyInclusion(leafHash: Self.leaves[i], index: (i + 1) % s, size: s, proof: proof, root: root)
                    }
                }
                #expect(throws: MerkleProofError.self) {
                    try MerkleTree.verifyInclusion(
                        leafHash: Self.leaves[i], index: i, size: s, proof: proof, root: MerkleTree.nodeHash(root, root))
                }
                for (k, hash) in proof.enumerated() {
                    var bad = proof
                    bad[k][k % 32] ^= UInt8(1 << (k % 8))
                    #expect(throws: MerkleProofError.rootMismatch) {
                        try MerkleTree.verifyInclusion(leafHash: Self.leaves[i], index: i, size: s, proof: bad, root: root)
                    }
                    #expect(hash.count == 32)
                }
                #expect(throws: MerkleProofError.self) {
                    try MerkleTree.verifyInclusion(leafHash: Self.leaves[i], index: i, size: s, proof: proof + [root], root: root)
                }
                if !proof.isEmpty {
                    #expect(throws: MerkleProofError.self) {
                        try MerkleTree.verifyInclusion(
                            leafHash: Self.leaves[i], index: i, size: s, proof: Array(proof.dropLast()), root: root)
                    }
                }
            }
        }
        #expect(throws: MerkleProofError.indexOutOfRange(index: 3, size: 3)) {
            try MerkleTree.verifyInclusion(leafHash: Self.leaves[0], index: 3, size: 3, proof: [], root: MerkleTree.emptyRoot)
        }
    }

    @Test func everyConsistencyProofVerifiesAndNoForkDoes() throws {
        // A second history that shares the first 5 entries, then differs: a fork.
        let fork = Array(Self.leaves[..<5]) + (5..<Self.size).map { MerkleTree.leafHash(Array("forked \($0)".utf8)) }
        for s in 1...Self.size {
            let leaves = Self.leaves[..<s]
            let newRoot = MerkleTree.root(leaves)
            for m in 0...s {
                let oldRoot = MerkleTree.root(Self.leaves[..<m])
                let proof = try MerkleTree.consistencyProof(oldSize: m, in: leaves)
                try MerkleTree.verifyConsistency(oldSize: m, newSize: s, oldRoot: oldRoot, newRoot: newRoot, proof: proof)
                // An old tree past the fork point against the forked history of the same size: no
                // proof the forked log can give makes its root an extension of the old one.
                if m > 5 {
                    let forkedRoot = MerkleTree.root(fork[..<s])
                    let forkedProof = try MerkleTree.consistencyProof(oldSize: m, in: fork[..<s])
                    #expect(throws: MerkleProofError.rootMismatch, "fork \(m) -> \(s)") {
                        try MerkleTree.verifyConsistency(
                            oldSize: m, newSize: s, oldRoot: oldRoot, newRoot: forkedRoot, proof: forkedProof)
                    }
                } else if m > 0, s > 5 {
                    // Before the fork point both histories agree: the forked tree does extend it.
                    try MerkleTree.verifyConsistency(
                        oldSize: m, newSize: s, oldRoot: oldRoot, newRoot: MerkleTree.root(fork[..<s]),
                        proof: try MerkleTree.consistencyProof(oldSize: m, in: fork[..<s]))
                }
                for k in proof.indices {
                    var bad = proof
                    bad[k][0] ^= 0x80
                    #expect(throws: MerkleProofError.self, "bit flipped in hash \(k) of \(m) -> \(s)") {
                        try MerkleTree.verifyConsistency(oldSize: m, newSize: s, oldRoot: oldRoot, newRoot: newRoot, proof: bad)
                    }
                }
                if m > 0, m < s {
                    // A rollback: the new tree presented as the old one, and sizes swapped.
                    #expect(throws: MerkleProofError.self) {
                        try MerkleTree.verifyConsistency(oldSize: s, newSize: m, oldRoot: newRoot, newRoot: oldRoot, proof: proof)
                    }
                    #expect(throws: MerkleProofError.self) {
                        try MerkleTree.verifyConsistency(oldSize: m, newSize: s, oldRoot: oldRoot, newRoot: newRoot, proof: [])
                    }
                }
            }
        }
        #expect(throws: MerkleProofError.malformedProof("a hash of 31 bytes (SHA-256 has 32)")) {
            try MerkleTree.verifyConsistency(
                oldSize: 1, newSize: 2, oldRoot: Self.leaves[0], newRoot: MerkleTree.root(Self.leaves[..<2]),
                proof: [Array(Self.leaves[1].dropLast())])
        }
    }
}
