import AsyncHTTPClient
import Foundation
import GRDB
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// What the node's disk may never hold, and what a flipped byte must never get past.
@Suite(.serialized)
struct SecurityPropertyTests {
    /// After a mixed workload, no 16-byte window of any plaintext (its start and middle) and no
    /// data key (whole or half) is anywhere the region keeps data: the node's state folder and,
    /// on the scale-out backend, SeaweedFS's data folder and PostgreSQL's files (heap and WAL).
    /// The scan must find what is meant to be there (the wrapped keys), so it can fail.
    @Test(arguments: RegionBackend.allCases)
    func noPlaintextAndNoDataKeyEverReachesTheRegionsDisks(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend, privateEngines: true) { env in
            let alice = try env.ks.client("user-alice")
            let bob = try env.ks.client("user-bob")
            // A mixed workload: sizes around segment boundaries, overwrites, deletes, two users.
            var written: [[UInt8]] = []
            for (i, size) in [0, 17, 4096, 65_535, 65_536, 65_537, 200_000].enumerated() {
                let body = Array("plaintext-marker-\(i)-".utf8) + RandomBytes.bytes(size)
                written.append(body)
                #expect(try await alice.send(.PUT, env.objectURL("obj/\(i)"), body: body).status == .created)
                #expect(try await bob.send(.PUT, env.objectURL("obj/\(i)"), body: body.reversed()).status == .created)
                written.append(body.reversed())
            }
            for i in 0..<3 {
                let body = Array("overwritten-\(i)-".utf8) + RandomBytes.bytes(30_000)
                written.append(body)
                #expect(try await alice.send(.PUT, env.objectURL("obj/\(i)"), body: body).status == .ok)
            }
            #expect(try await alice.send(.DELETE, env.objectURL("obj/6")).status == .noContent)
            for i in 0..<6 {
                #expect(try await alice.send(.GET, env.objectURL("obj/\(i)")).status == .ok)
            }

            // The DEKs in clear, obtained the way only a node can: unwrapping its stored wrapped
            // keys at the KeyService with the node's certificate.
            let rows = try await env.storage.wrappedDataKeys()
            #expect(rows.count >= 2)
            let node = try env.ks.client("node-eu-west")
            var needles: [String: Data] = [:]
            for (n, row) in rows.enumerated() {
                let response = try await node.call(
                    .POST,
                    env.ks.baseURL + KeyServiceAPI.Path.unwrap,
                    json: KeyServiceAPI.UnwrapRequest(
                        user: row.user, wrapped: row.wrapped.base64EncodedString(), context: "splitkey/storagenode/dek/v1",
                        reason: .scrub)
                )
                let dek = Data(base64Encoded: try response.decode(KeyServiceAPI.UnwrapResponse.self).plaintext)!
                needles["DEK \(n)"] = dek
                needles["DEK \(n) half"] = dek.prefix(16)
            }
            await env.stopNode()  // flush nothing further; the store stays as a crash would leave it
            if let postgres = env.storage.postgres { _ = try await postgres.psql("CHECKPOINT") }

            needles["marker"] = Data("plaintext-marker".utf8)
            for (i, plaintext) in written.enumerated() where plaintext.count >= 32 {
                // Any 16-byte window of a plaintext would do to leak it; check its start and middle.
                needles["plaintext \(i) start"] = Data(plaintext.prefix(16))
                let mid = plaintext.count / 2
                needles["plaintext \(i) middle"] = Data(plaintext[mid..<(mid + 16)])
            }
            let control = "wrapped key (meant to be stored)"
            needles[control] = rows[0].wrapped
            let scan = try await env.storage.scanAtRest(needles)
            print("at-rest scan on \(backend): \(scan.files) files, \(scan.bytes) bytes, \(needles.count) needles")
            #expect(!(scan.found[control] ?? []).isEmpty, "the scan did not find the stored wrapped key: it cannot see the store")
            for (label, paths) in scan.found.sorted(by: { $0.key < $1.key }) where label != control {
                #expect(paths.isEmpty, "\(label) at rest in \(paths)")
            }
        }
    }

    /// Flip one byte of a stored blob (header, first, middle and last segment, a tag): the read
    /// fails and never returns altered data.
    @Test(arguments: RegionBackend.allCases) func flippedBlobBytesAreDetected(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend) { env in
            let alice = try env.ks.client("user-alice")
            let small = RandomBytes.bytes(1000)
            let large = RandomBytes.bytes(3 * 65_536 + 100)
            #expect(try await alice.send(.PUT, env.objectURL("small"), body: small).status == .created)
            #expect(try await alice.send(.PUT, env.objectURL("large"), body: large).status == .created)
            let storage = env.storage
            var blobFiles: [(String, [UInt8])] = []
            for name in try await storage.blobNames() { blobFiles.append((name, try await storage.blob(name))) }
            #expect(blobFiles.count == 2)
            let smallBlob = try #require(blobFiles.first { $0.1.count == 72 + 1000 + 16 })
            let largeBlob = try #require(blobFiles.first { $0.1.count != smallBlob.1.count })

            func flip(_ file: (String, [UInt8]), at offset: Int) async throws -> [UInt8] {
                var bytes = file.1
                bytes[offset] ^= 0x40
                try await storage.replaceBlob(file.0, with: bytes)
                return file.1
            }

            // Small object: every position class gives a clean 500 integrity_error.
            for offset in [0, 4, 10, 50, 71, 72, 500, 72 + 999, smallBlob.1.count - 1] {
                let original = try await flip(smallBlob, at: offset)
                let response = try await alice.send(.GET, env.objectURL("small"))
                #expect(response.status == .internalServerError, "offset \(offset)")
                #expect(response.error?.error.code == .integrityError, "offset \(offset)")
                #expect(response.body.range(of: Data(small.prefix(32))) == nil)
                try await storage.replaceBlob(smallBlob.0, with: original)
            }
            #expect(try await alice.send(.GET, env.objectURL("small")).body == Data(small))

            // Large object: damage in a later segment aborts the transfer before that segment;
            // what did arrive is an unaltered prefix, never the damaged bytes.
            let sealedSegment = 65_536 + 16
            for offset in [72 + sealedSegment + 5, 72 + 2 * sealedSegment + 65_540, largeBlob.1.count - 1] {
                let original = try await flip(largeBlob, at: offset)
                var received = Data()
                var failed = false
                do {
                    var request = HTTPClientRequest(url: env.objectURL("large"))
                    request.method = .GET
                    let response = try await alice.execute(request, timeout: .seconds(30))
                    if response.status != .ok { failed = true }
                    for try await chunk in response.body { received.append(Data(buffer: chunk)) }
                } catch {
                    failed = true
                }
                #expect(failed || received.count < large.count, "offset \(offset) was not detected")
                #expect(received == Data(large.prefix(received.count)), "altered bytes were returned")
                let segment = (offset - 72) / sealedSegment
                #expect(received.count <= segment * 65_536, "bytes of the damaged segment \(segment) were released")
                try await storage.replaceBlob(largeBlob.0, with: original)
            }
            #expect(try await alice.send(.GET, env.objectURL("large")).body == Data(large))
        }
    }

    /// Flip one byte of the stored wrapped data key: once the plaintext key is no longer cached
    /// (after a restart), reads fail with an integrity error.
    @Test func flippedWrappedDataKeyIsDetected() async throws {
        try await withStorageNode { env in
            let alice = try env.ks.client("user-alice")
            let body = RandomBytes.bytes(5000)
            #expect(try await alice.send(.PUT, env.objectURL("k"), body: body).status == .created)
            await env.stopNode()
            let dbPath = env.stateDirectory.appendingPathComponent("metadata.sqlite").path
            let original: Data = try await DatabaseQueue(path: dbPath).read { db in
                try Data.fetchOne(db, sql: "SELECT wrapped FROM data_keys")!
            }
            for offset in [0, 4, 6, 9, 13, 20, original.count - 30, original.count - 1] {
                var tampered = original
                tampered[offset] ^= 0x01
                let value = tampered
                try await DatabaseQueue(path: dbPath).write { db in
                    try db.execute(sql: "UPDATE data_keys SET wrapped = ?", arguments: [value])
                }
                try await env.startNode()
                let response = try await alice.send(.GET, env.objectURL("k"))
                #expect(response.status == .internalServerError, "offset \(offset): \(String(decoding: response.body, as: UTF8.self))")
                #expect(response.error?.error.code == .integrityError, "offset \(offset)")
                await env.stopNode()
            }
            try await DatabaseQueue(path: dbPath).write { db in
                try db.execute(sql: "UPDATE data_keys SET wrapped = ?", arguments: [original])
            }
            try await env.startNode()
            #expect(try await alice.send(.GET, env.objectURL("k")).body == Data(body))
        }
    }
}
