import Crypto

/// The Merkle tree of RFC 6962 / RFC 9162 §2.1 over SHA-256: a leaf hashes as
/// `SHA-256(0x00 || entry)`, an inner node as `SHA-256(0x01 || left || right)`, and a tree of `n`
/// leaves splits at the largest power of two below `n`. The different prefixes keep a leaf from
/// ever passing for an inner node (a second preimage of a tree), and the split rule makes the
/// root of every size unique, so "size and root" names one list of entries.
///
/// Generation here works over the leaf hashes it is given (the caller's storage decides how they
/// are kept); verification needs only the proof, sizes and roots, and is what a witness, a node
/// holding a receipt or an auditor runs.
public enum MerkleTree {
    public static let hashSize = 32

    /// The root of the empty tree: SHA-256 of nothing.
    public static let emptyRoot: [UInt8] = Array(SHA256.hash(data: [UInt8]()))

    public static func leafHash(_ entry: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(entry))
        return Array(hasher.finalize())
    }

    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The largest power of two smaller than `n` (n >= 2): where a tree of `n` leaves splits.
    static func split(_ n: Int) -> Int {
        precondition(n >= 2)
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// MTH of RFC 9162 §2.1.1 over `leaves` (leaf hashes, not entries).
    public static func root(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        switch leaves.count {
        case 0: return emptyRoot
        case 1: return leaves.first!
        default:
            let k = split(leaves.count)
            let mid = leaves.startIndex + k
            return nodeHash(root(leaves[..<mid]), root(leaves[mid...]))
        }
    }

    public static func root(_ leaves: [UInt8]...) -> [UInt8] { root(leaves[...]) }

    /// The inclusion proof (audit path, RFC 9162 §2.1.3.1) of leaf `index` in the tree of
    /// `leaves`: the sibling hashes from the leaf up to the root.
    public static func inclusionProof(index: Int, in leaves: ArraySlice<[UInt8]>) throws(MerkleProofError) -> [[UInt8]] {
        guard index >= 0, index < leaves.count else { throw .indexOutOfRange(index: index, size: leaves.count) }
        var slice = leaves
        var i = index
        // Top-down, then reversed: the recursion PATH(m, D[n]) written as a loop.
        var upward: [[UInt8]] = []
        while slice.count > 1 {
            let k = split(slice.count)
            let mid = slice.startIndex + k
            if i < k {
                upward.append(root(slice[mid...]))
                slice = slice[..<mid]
            } else {
                upward.append(root(slice[..<mid]))
                slice = slice[mid...]
                i -= k
            }
        }
        return upward.reversed()
    }

    /// The consistency proof (RFC 9162 §2.1.4.1) that the tree of the first `oldSize` of `leaves`
    /// is a prefix of the tree of all of them. Empty when `oldSize` is 0 or the whole tree.
    public static func consistencyProof(oldSize: Int, in leaves: ArraySlice<[UInt8]>) throws(MerkleProofError) -> [[UInt8]] {
        guard oldSize >= 0, oldSize <= leaves.count else { throw .sizesOutOfOrder(old: oldSize, new: leaves.count) }
        guard oldSize > 0, oldSize < leaves.count else { return [] }
        return subproof(oldSize, leaves, complete: true)
    }

    /// SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1.
    private static func subproof(_ m: Int, _ leaves: ArraySlice<[UInt8]>, complete: Bool) -> [[UInt8]] {
        let n = leaves.count
        if m == n { return complete ? [] : [root(leaves)] }
        let k = split(n)
        let mid = leaves.startIndex + k
        if m <= k {
            return subproof(m, leaves[..<mid], complete: complete) + [root(leaves[mid...])]
        }
        return subproof(m - k, leaves[mid...], complete: false) + [root(leaves[..<mid])]
    }

    /// Checks that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`
    /// (RFC 9162 §2.1.3.2). Any proof of the wrong length, a wrong sibling, index or size fails.
    public static func verifyInclusion(
        leafHash: [UInt8], index: Int, size: Int, proof: [[UInt8]], root expected: [UInt8]
    ) throws(MerkleProofError) {
        guard index >= 0, index < size else { throw .indexOutOfRange(index: index, size: size) }
        try checkHashes(proof + [leafHash, expected])
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { throw .malformedProof("the proof is longer than a tree of \(size) leaves allows") }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .malformedProof("the proof is shorter than a tree of \(size) leaves needs") }
        guard r == expected else { throw .rootMismatch }
    }

    /// Checks that the tree of `oldSize` leaves with root `oldRoot` is a prefix of the tree of
    /// `newSize` leaves with root `newRoot` (RFC 9162 §2.1.4.2): the check a witness makes
    /// before it cosigns a new checkpoint. Equal sizes need equal roots and an empty proof; an
    /// empty old tree is a prefix of every tree.
    public static func verifyConsistency(
        oldSize: Int, newSize: Int, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]
    ) throws(MerkleProofError) {
        guard oldSize >= 0, oldSize <= newSize else { throw .sizesOutOfOrder(old: oldSize, new: newSize) }
        try checkHashes(proof + [oldRoot, newRoot])
        if oldSize == 0 {
            guard proof.isEmpty else { throw .malformedProof("a proof from the empty tree is empty") }
            guard oldRoot == emptyRoot else { throw .rootMismatch }
            return
        }
        if oldSize == newSize {
            guard proof.isEmpty else { throw .malformedProof("a proof between equal sizes is empty") }
            guard oldRoot == newRoot else { throw .rootMismatch }
            return
        }
        guard !proof.isEmpty else { throw .malformedProof("the proof is empty") }
        var path = proof[...]
        if oldSize & (oldSize - 1) == 0 { path = ([oldRoot] + proof)[...] }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path.first!
        var sr = path.first!
        for c in path.dropFirst() {
            guard sn != 0 else { throw .malformedProof("the proof is longer than these sizes allow") }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .malformedProof("the proof is shorter than these sizes need") }
        guard fr == oldRoot, sr == newRoot else { throw .rootMismatch }
    }

    private static func checkHashes(_ hashes: [[UInt8]]) throws(MerkleProofError) {
        for hash in hashes where hash.count != hashSize {
            throw .malformedProof("a hash of \(hash.count) bytes (SHA-256 has \(hashSize))")
        }
    }
}

/// Why a Merkle proof was not accepted. Every case means "do not trust this answer"; the
/// distinction is for the log.
public enum MerkleProofError: Error, Equatable, Sendable, CustomStringConvertible {
    case indexOutOfRange(index: Int, size: Int)
    case sizesOutOfOrder(old: Int, new: Int)
    case malformedProof(String)
    /// The proof is well formed but leads to another root: the entry is not in that tree, or
    /// the trees are not one history (a fork or a rollback).
    case rootMismatch

    public var description: String {
        switch self {
        case .indexOutOfRange(let index, let size): "leaf index \(index) is outside a tree of \(size) leaves"
        case .sizesOutOfOrder(let old, let new): "tree size \(old) cannot be a prefix of tree size \(new)"
        case .malformedProof(let why): "malformed Merkle proof: \(why)"
        case .rootMismatch: "the Merkle proof does not lead to the given root"
        }
    }
}
