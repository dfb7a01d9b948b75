import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// Single-bit tampering with everything the node keeps for an object, at every bit position of
/// the small items: the blob (header, ciphertext, tag), the wrapped data key, and each field of
/// the object's metadata row. Every read must fail with `integrity_error` (or, where the flip
/// moves the row to another name, find nothing), and none may return a byte of altered data.
///
/// The node keeps running while the test edits its blobs and its metadata database underneath it,
/// as an attacker with the disk would; the KeyService gives `cacheTTL: 0` so that every read
/// unwraps the stored data key again instead of using a cached one.
@Suite(.serialized)
struct TamperSweepTests {
    static let body =
        Array("tamper sweep: 100 bytes of a small object, every bit of which is flipped once...".utf8)
        + [UInt8](repeating: 0x5a, count: 20)

    /// The bit positions a sweep over `count` bytes flips on `backend`: every bit on the
    /// embedded store; on the scale-out one, where each flip is a PUT to the object store or a
    /// statement in PostgreSQL, one bit of every byte (rotating through the bit positions).
    static func bits(_ count: Int, on backend: RegionBackend) -> [Int] {
        backend == .embedded ? Array(0..<(count * 8)) : (0..<count).map { $0 * 8 + $0 % 8 }
    }

    /// Runs `body` with a node whose data keys are never cached and one stored object "t".
    func withTamperTarget(
        _ backend: RegionBackend = .embedded, _ body: (StorageNodeFixture, HTTPClient) async throws -> Void
    ) async throws {
        try await withStorageNode(
            backend: backend, editKeyServiceConfig: { $0.replacingOccurrences(of: "cacheTTL: 300", with: "cacheTTL: 0") }
        ) { env in
            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.PUT, env.objectURL("t"), body: Self.body).status == .created)
            #expect(try await alice.send(.GET, env.objectURL("t")).body == Data(Self.body))
            try await body(env, alice)
            // Everything was put back: the object reads as stored.
            #expect(try await alice.send(.GET, env.objectURL("t")).body == Data(Self.body))
        }
    }

    /// The read must fail as an integrity failure and carry none of the object's bytes.
    func expectIntegrityFailure(_ response: APIResponse, _ what: String) {
        #expect(
            response.status == .internalServerError,
            "\(what): \(response.status) \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        #expect(response.error?.error.code == .integrityError, "\(what)")
        #expect(response.body.range(of: Data(Self.body.prefix(16))) == nil, "\(what): object bytes were returned")
    }

    @Test(arguments: RegionBackend.allCases) func everyBitOfTheBlob(_ backend: RegionBackend) async throws {
        try await withTamperTarget(backend) { env, alice in
            let names = try await env.storage.blobNames()
            let blob = try #require(names.first)
            let original = try await env.storage.blob(blob)
            #expect(original.count == ObjectHeader.encodedSize + Self.body.count + 16)
            for bit in Self.bits(original.count, on: backend) {
                var tampered = original
                tampered[bit / 8] ^= UInt8(1 << (bit % 8))
                try await env.storage.replaceBlob(blob, with: tampered)
                expectIntegrityFailure(try await alice.send(.GET, env.objectURL("t")), "blob bit \(bit)")
            }
            // A blob cut short or grown by a byte is refused too.
            try await env.storage.replaceBlob(blob, with: Array(original.dropLast()))
            expectIntegrityFailure(try await alice.send(.GET, env.objectURL("t")), "blob cut by one byte")
            try await env.storage.replaceBlob(blob, with: original + [0])
            expectIntegrityFailure(try await alice.send(.GET, env.objectURL("t")), "blob grown by one byte")
            // Deleted behind the node's back: the row names a blob that is gone, an altered object.
            try await env.storage.deleteBlob(blob)
            expectIntegrityFailure(try await alice.send(.GET, env.objectURL("t")), "blob deleted")
            try await env.storage.replaceBlob(blob, with: original)
        }
    }

    @Test(arguments: RegionBackend.allCases) func everyBitOfTheWrappedDataKey(_ backend: RegionBackend) async throws {
        try await withTamperTarget(backend) { env, alice in
            let original = try #require(try await env.storage.wrappedDataKeys().first).wrapped
            for bit in Self.bits(original.count, on: backend) {
                var tampered = original
                tampered[bit / 8] ^= UInt8(1 << (bit % 8))
                try await env.storage.replaceWrappedDataKeys(with: tampered)
                expectIntegrityFailure(try await alice.send(.GET, env.objectURL("t")), "wrapped key bit \(bit)")
            }
            try await env.storage.replaceWrappedDataKeys(with: original)
        }
    }

    /// Every field of the object's row. On PostgreSQL, where each flip is a statement, one bit
    /// of every byte (every 9th bit of the integers) and only flips that leave valid text.
    @Test(arguments: RegionBackend.allCases) func everyBitOfEachMetadataField(_ backend: RegionBackend) async throws {
        try await withTamperTarget(backend) { env, alice in
            let row = try ObjectRowTamper.open(env.storage)

            // Bytes and integers.
            let writeID = try await row.bytes("write_id")
            #expect(writeID.count == 16)
            for bit in Self.bits(writeID.count, on: backend) {
                var tampered = writeID
                tampered[bit / 8] ^= UInt8(1 << (bit % 8))
                try await row.setBytes("write_id", tampered)
                expectIntegrityFailure(try await alice.send(.GET, env.objectURL("t")), "write_id bit \(bit)")
            }
            try await row.setBytes("write_id", writeID)

            for column in ["data_key_id", "size"] {
                let value = try await row.integer(column)
                for bit in Self.bits(8, on: backend) {
                    try await row.setInteger(column, value ^ (Int64(1) << Int64(bit)))
                    expectIntegrityFailure(try await alice.send(.GET, env.objectURL("t")), "\(column) bit \(bit)")
                }
                try await row.setInteger(column, value)
            }

            // The blob's name: every bit of every character (on SQLite stored as raw bytes, so a
            // flip may make the name invalid UTF-8, as a damaged page would).
            let blobName = try await row.bytes("blob_name")
            var flipped = 0
            for bit in Self.bits(blobName.count, on: backend) {
                var bytes = blobName
                bytes[bit / 8] ^= UInt8(1 << (bit % 8))
                guard try await row.setText("blob_name", bytes) else { continue }
                flipped += 1
                expectIntegrityFailure(try await alice.send(.GET, env.objectURL("t")), "blob_name bit \(bit)")
            }
            #expect(flipped > blobName.count / 2)
            _ = try await row.setText("blob_name", blobName)

            // The object's key and owner: a flip moves the row to another name. The old name then
            // holds nothing, and the new name (where alice can ask for it) fails the header's
            // binding of user and key instead of serving the object under a name it was not
            // stored under.
            for column in ["key", "user_id"] {
                let text = try await row.bytes(column)
                for bit in Self.bits(text.count, on: backend) {
                    var bytes = text
                    bytes[bit / 8] ^= UInt8(1 << (bit % 8))
                    guard try await row.setText(column, bytes) else { continue }
                    let original = try await alice.send(.GET, env.objectURL("t"))
                    #expect(original.status == .notFound, "\(column) bit \(bit): the old name still answers \(original.status)")
                    if column == "key", let moved = String(validating: bytes, as: UTF8.self),
                        moved.unicodeScalars.allSatisfy({
                            $0.value > 0x20 && $0.value < 0x7f && $0 != "/" && $0 != "?" && $0 != "#" && $0 != "%"
                        })
                    {
                        expectIntegrityFailure(try await alice.send(.GET, env.objectURL(moved)), "key bit \(bit) -> '\(moved)'")
                    }
                }
                _ = try await row.setText(column, text)
            }
        }
    }
}
