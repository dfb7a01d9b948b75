import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

@testable import KeyService

/// The audit file of a real run: complete, verifiable, tamper-evident, and a hard dependency of
/// every key operation.
@Suite(.serialized)
struct AuditTrailTests {
    typealias API = KeyServiceAPI

    /// A real run: users, generates, granted and refused unwraps, concurrently.
    func makeTrail(_ ks: KeyServiceFixture) async throws -> Int {
        try await ks.createUser("alice", region: "eu-west")
        let node = try ks.client("node-eu-west")
        let other = try ks.client("node-us-east")
        let key = try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
            .decode(API.GenerateResponse.self)
        let unwrap = API.UnwrapRequest(user: "alice", wrapped: key.wrapped, context: "c", reason: .userRequest)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    let client = i % 4 == 0 ? other : node
                    _ = try await client.call(.POST, ks.baseURL + API.Path.unwrap, json: unwrap)
                }
            }
            try await group.waitForAll()
        }
        return 1 + 1 + 20
    }

    func verify(_ ks: KeyServiceFixture, _ file: String) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(
            try TestPaths.binary("keyservice"),
            ["audit", "verify", file, "--key-file", ks.path("audit-key")],
            in: ks.dir
        )
    }

    @Test func verifierPassesARealTrailAndCatchesEachKindOfTampering() async throws {
        try await withKeyService { ks in
            let operations = try await makeTrail(ks)
            _ = await ks.stop()
            let file = ks.path("state/keyservice/audit.log")
            let text = try String(contentsOfFile: file, encoding: .utf8)
            var lines = text.split(separator: "\n").map(String.init)
            #expect(lines.count == operations)
            #expect(lines.filter { $0.contains(#""outcome":"refused""#) }.count == 5)
            #expect(lines.allSatisfy { $0.contains(#""requestId":""#) && $0.contains(#""peer":"spiffe://"#) })

            let good = try await verify(ks, file)
            #expect(good.status == 0, "\(good.output)")
            #expect(good.output.contains("OK: \(operations) records"))

            func tampered(_ name: String, _ content: String, copyHead: Bool = true) throws -> String {
                let path = ks.path(name)
                try content.write(toFile: path, atomically: true, encoding: .utf8)
                if copyHead { try? FileManager.default.copyItem(atPath: file + ".head", toPath: path + ".head") }
                return path
            }
            // An edit: one refused unwrap rewritten as granted.
            let refusedIndex = try #require(lines.firstIndex { $0.contains(#""outcome":"refused""#) })
            var edited = lines
            edited[refusedIndex] = edited[refusedIndex].replacingOccurrences(of: #""outcome":"refused""#, with: #""outcome":"granted""#)
            let e = try await verify(ks, try tampered("edit.log", edited.joined(separator: "\n") + "\n"))
            #expect(e.status == 1)
            #expect(e.output.contains("line \(refusedIndex + 1)") && e.output.contains("edited"), "\(e.output)")
            // A reordering.
            var reordered = lines
            reordered.swapAt(3, 4)
            let r = try await verify(ks, try tampered("reorder.log", reordered.joined(separator: "\n") + "\n"))
            #expect(r.status == 1)
            #expect(r.output.contains("line 4"), "\(r.output)")
            // A deletion in the middle.
            var deleted = lines
            deleted.remove(at: 5)
            let d = try await verify(ks, try tampered("delete.log", deleted.joined(separator: "\n") + "\n"))
            #expect(d.status == 1)
            #expect(d.output.contains("line 6") && d.output.contains("deleted"), "\(d.output)")
            // Truncation: the last records cut off, and a record cut in half.
            let t = try await verify(ks, try tampered("truncate.log", lines.dropLast(2).joined(separator: "\n") + "\n"))
            #expect(t.status == 1)
            #expect(t.output.contains("truncated"), "\(t.output)")
            let half = try await verify(ks, try tampered("half.log", text.dropLast(40).description))
            #expect(half.status == 1)
            #expect(half.output.contains("cut off"), "\(half.output)")
            // The untouched file still passes; a wrong key does not.
            #expect(try await verify(ks, file).status == 0)
            lines = []
            try RootKey.create(at: ks.path("other-key"))
            let wrongKey = try await ChildProcess.run(
                try TestPaths.binary("keyservice"),
                ["audit", "verify", file, "--key-file", ks.path("other-key")],
                in: ks.dir
            )
            #expect(wrongKey.status == 1)
        }
    }

    @Test func theChainContinuesAcrossRestarts() async throws {
        try await withKeyService { ks in
            let first = try await makeTrail(ks)
            #expect(try await ks.restart() == 0)
            let node = try ks.client("node-eu-west", http1Only: true)
            _ = try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
            _ = await ks.stop()
            let result = try await verify(ks, ks.path("state/keyservice/audit.log"))
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("OK: \(first + 1) records"))
        }
    }

    static func tool(_ name: String) throws -> URL {
        for dir in ["/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return URL(fileURLWithPath: "\(dir)/\(name)")
        }
        throw TestFailure("\(name) not found")
    }

    @Test func unwritableAuditFileRefusesKeyOperations() async throws {
        try await withKeyService { ks in
            let operations = try await makeTrail(ks)
            let node = try ks.client("node-eu-west")
            let key = try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
                .decode(API.GenerateResponse.self)
            // The daemon keeps its audit file open, so cap the size of files it may write
            // (RLIMIT_FSIZE; it ignores SIGXFSZ, so the write fails with EFBIG).
            let file = ks.path("state/keyservice/audit.log")
            let pid = String(ks.daemon.process.processIdentifier)
            let size = ((try FileManager.default.attributesOfItem(atPath: file)[.size]) as? Int) ?? 0
            let cap = try await ChildProcess.run(try Self.tool("prlimit"), ["--pid", pid, "--fsize=\(size + 10):unlimited"], in: ks.dir)
            #expect(cap.status == 0, "\(cap.output)")

            let refused = try await node.call(
                .POST,
                ks.baseURL + API.Path.unwrap,
                json: API.UnwrapRequest(user: "alice", wrapped: key.wrapped, context: "c", reason: .userRequest)
            )
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.error?.error.code == .auditUnavailable)
            #expect(!String(decoding: refused.body, as: UTF8.self).contains(key.plaintext!))
            let health = try await node.call(.GET, ks.baseURL + API.Path.health).decode(API.Health.self)
            #expect(health.status == .degraded)

            // A state change whose record cannot be written does not happen.
            let disable = try await ks.client("admin").call(.POST, ks.baseURL + API.Path.user("alice", .disable))
            #expect(disable.status == .serviceUnavailable)
            #expect(((try FileManager.default.attributesOfItem(atPath: file)[.size]) as? Int) == size, "the failed batch was not cut back")

            // Writable again: operations resume, health recovers, the chain is intact.
            let uncap = try await ChildProcess.run(try Self.tool("prlimit"), ["--pid", pid, "--fsize=unlimited:unlimited"], in: ks.dir)
            #expect(uncap.status == 0, "\(uncap.output)")
            let again = try await node.call(
                .POST,
                ks.baseURL + API.Path.unwrap,
                json: API.UnwrapRequest(user: "alice", wrapped: key.wrapped, context: "c", reason: .userRequest)
            )
            #expect(again.status == .ok)
            let alice = try await ks.client("admin").call(.GET, ks.baseURL + API.Path.users + "/alice").decode(API.User.self)
            #expect(alice.state == "active", "disable took effect without its record")
            #expect(try await node.call(.GET, ks.baseURL + API.Path.health).decode(API.Health.self).status == .active)
            _ = await ks.stop()
            let result = try await verify(ks, file)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("OK: \(operations + 3) records"), "\(result.output)")
        }
    }
}
