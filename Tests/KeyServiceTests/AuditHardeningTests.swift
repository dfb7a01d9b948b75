import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

@testable import KeyService

#if canImport(Glibc)
    import Glibc
#endif

/// The audit trail under attack: requests that try to fill it, tails cut with or without the
/// head, torn and padded lines, a full audit volume mid-batch, segments.
@Suite(.serialized)
struct AuditHardeningTests {
    typealias API = KeyServiceAPI

    static func audit(_ ks: KeyServiceFixture) -> String { ks.path("state/keyservice/audit.log") }

    static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0
    }

    func run(_ ks: KeyServiceFixture, _ args: [String]) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(try TestPaths.binary("keyservice"), args, in: ks.dir)
    }

    func verify(_ ks: KeyServiceFixture, _ extra: [String] = []) async throws -> (status: Int32, output: String) {
        try await run(ks, ["audit", "verify", Self.audit(ks), "--key-file", ks.path("audit-key")] + extra)
    }

    /// Starts the daemon on the fixture's state and returns its exit status if it refuses.
    func refusedStart(_ ks: KeyServiceFixture) async throws -> (status: Int32, log: String) {
        let daemon = try KeyServiceFixture.spawn(dir: ks.dir, port: ks.port, environment: ks.environment)
        let status = await daemon.waitForExit(timeout: .seconds(20))
        return (status, daemon.log)
    }

    func someOperations(_ ks: KeyServiceFixture, count: Int) async throws {
        let node = try ks.client("node-eu-west")
        for i in 0..<count {
            #expect(
                try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c\(i)"))
                    .status == .ok)
        }
    }

    @Test func refusedRequestsCostTheTrailABoundedRecord() async throws {
        try await withKeyService { ks in
            try await ks.createUser("alice", region: "eu-west")
            let trail = Self.audit(ks)
            let huge = String(repeating: "u", count: 1_000_000)
            let roleless = try ks.client("user-alice")
            let node = try ks.client("node-eu-west")
            var before = Self.size(trail)
            var logBefore = ks.daemon.log.utf8.count
            // A certificate with no role, a megabyte user id: refused, for a few hundred bytes.
            for _ in 0..<5 {
                let response = try await roleless.call(
                    .POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: huge, context: "c"))
                #expect(response.status == .badRequest || response.status == .forbidden)
                let after = Self.size(trail)
                #expect(after > before && after - before < 1024, "one refusal cost the trail \(after - before) bytes")
                before = after
            }
            // And a valid id with a huge context from a role-less certificate.
            let big = try await roleless.call(
                .POST, ks.baseURL + API.Path.generate,
                json: API.GenerateRequest(user: "alice", context: String(repeating: "c", count: 900_000)))
            #expect(big.status == .badRequest)
            #expect(Self.size(trail) - before < 1024)
            // A 4 MiB batch of refused items costs at most 1 KiB an item.
            before = Self.size(trail)
            let item = API.UnwrapRequest(user: String(repeating: "b", count: 15_000), wrapped: "AA==", context: "c", reason: .userRequest)
            let batch = try await node.call(
                .POST, ks.baseURL + API.Path.unwrapBatch, json: API.BatchUnwrapRequest(items: Array(repeating: item, count: 256)))
            #expect(batch.status == .ok)
            #expect(Self.size(trail) - before < 256 * 1024, "256 refused items cost \(Self.size(trail) - before) bytes")
            // The log lines (journald in production) are bounded the same way.
            #expect(ks.daemon.log.utf8.count - logBefore < 400 * 1024)
            logBefore = ks.daemon.log.utf8.count
            #expect(!ks.daemon.log.contains(String(repeating: "u", count: 1000)))
            _ = await ks.stop()
            let verified = try await verify(ks)
            #expect(verified.status == 0, "\(verified.output)")
        }
    }

    @Test func aCutTailIsRefusedWithOrWithoutItsHead() async throws {
        try await withKeyService { ks in
            try await ks.createUser("alice", region: "eu-west")
            try await someOperations(ks, count: 6)
            #expect(await ks.stop() == 0)
            let trail = Self.audit(ks)
            let original = try Data(contentsOf: URL(fileURLWithPath: trail))
            let headData = try Data(contentsOf: URL(fileURLWithPath: trail + ".head"))
            var lines = original.split(separator: UInt8(ascii: "\n"))
            lines.removeLast(2)
            let cut = Data(lines.joined(separator: [UInt8(ascii: "\n")])) + Data("\n".utf8)
            try cut.write(to: URL(fileURLWithPath: trail))

            // The head names a record the trail no longer has: the daemon will not append.
            let withHead = try await refusedStart(ks)
            #expect(withHead.status == 65, "\(withHead.log)")
            #expect(withHead.log.contains("does not match its head"), "\(withHead.log)")
            let verifyCut = try await verify(ks)
            #expect(verifyCut.status == 1)
            #expect(verifyCut.output.contains("missing"), "\(verifyCut.output)")

            // Without the head: refused too, and verify needs the operator's explicit flag.
            try FileManager.default.removeItem(atPath: trail + ".head")
            let headless = try await refusedStart(ks)
            #expect(headless.status == 65, "\(headless.log)")
            #expect(headless.log.contains("head file"), "\(headless.log)")
            let verifyHeadless = try await verify(ks)
            #expect(verifyHeadless.status == 1)
            #expect(verifyHeadless.output.contains("head file is missing"), "\(verifyHeadless.output)")
            #expect(try await verify(ks, ["--allow-missing-head"]).status == 0)

            // A forged head (the old one edited to match) does not verify under the audit key.
            var forged = String(decoding: headData, as: UTF8.self)
            forged = forged.replacingOccurrences(of: #""seq":"#, with: #""seq":1"#)
            try Data(forged.utf8).write(to: URL(fileURLWithPath: trail + ".head"))
            let forgedStart = try await refusedStart(ks)
            #expect(forgedStart.status == 65, "\(forgedStart.log)")
            #expect(forgedStart.log.contains("not sealed under this audit key"), "\(forgedStart.log)")

            // Put back as it was, the trail resumes and verifies.
            try original.write(to: URL(fileURLWithPath: trail))
            try headData.write(to: URL(fileURLWithPath: trail + ".head"))
            try await ks.start()
            try await someOperations(ks, count: 1)
            _ = await ks.stop()
            let good = try await verify(ks)
            #expect(good.status == 0, "\(good.output)")
        }
    }

    /// A trail from before the sealed head (its head has no tag): refused at start, checked with
    /// the explicit flag, resealed once by `audit repair`, then resumed.
    @Test func anOldHeadIsResealedByRepair() async throws {
        try await withKeyService { ks in
            try await ks.createUser("alice", region: "eu-west")
            try await someOperations(ks, count: 2)
            _ = await ks.stop()
            let trail = Self.audit(ks)
            let head = try #require(
                try AuditHead.load(
                    path: trail + ".head", key: try RootKey.load(credentialsDirectory: nil, configuredFile: ks.path("audit-key")).key))
            try Data(#"{"mac":"\#(head.mac)","seq":\#(head.seq)}"#.utf8).write(to: URL(fileURLWithPath: trail + ".head"))
            let refused = try await refusedStart(ks)
            #expect(refused.status == 65, "\(refused.log)")
            #expect(try await verify(ks).status == 1)
            #expect(try await verify(ks, ["--allow-missing-head"]).status == 0)
            let repaired = try await run(ks, ["audit", "repair", trail, "--key-file", ks.path("audit-key")])
            #expect(repaired.status == 0, "\(repaired.output)")
            try await ks.start()
            try await someOperations(ks, count: 1)
            _ = await ks.stop()
            let verified = try await verify(ks)
            #expect(verified.status == 0 && verified.output.contains("OK: 4 records"), "\(verified.output)")
        }
    }

    @Test func aTornLastLineIsAnOperatorErrorNotANewChain() async throws {
        try await withKeyService { ks in
            try await ks.createUser("alice", region: "eu-west")
            try await someOperations(ks, count: 3)
            _ = await ks.stop()
            let trail = Self.audit(ks)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: trail))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(#"{"detail":null,"mac":"ab"#.utf8))
            try handle.close()
            let refused = try await refusedStart(ks)
            #expect(refused.status == 65, "\(refused.log)")
            #expect(refused.log.contains("incomplete record"), "\(refused.log)")
            // The operator's repair cuts it only when asked, and only from a trail that verifies.
            #expect(try await run(ks, ["audit", "repair", trail, "--key-file", ks.path("audit-key")]).status == 1)
            let repaired = try await run(ks, ["audit", "repair", trail, "--key-file", ks.path("audit-key"), "--cut-torn-tail"])
            #expect(repaired.status == 0, "\(repaired.output)")
            try await ks.start()
            try await someOperations(ks, count: 2)
            _ = await ks.stop()
            let verified = try await verify(ks)
            #expect(verified.status == 0, "\(verified.output)")
            #expect(verified.output.contains("OK: 6 records"), "\(verified.output)")
        }
    }

    @Test func verifyChecksTheLineBytesNotAReEncoding() async throws {
        try await withKeyService { ks in
            try await ks.createUser("alice", region: "eu-west")
            try await someOperations(ks, count: 3)
            _ = await ks.stop()
            let trail = Self.audit(ks)
            let original = try String(contentsOfFile: trail, encoding: .utf8)
            var lines = original.split(separator: "\n").map(String.init)
            for tamper in [
                { (line: String) in "{\"added\":\"x\"," + line.dropFirst() },
                { (line: String) in
                    line.replacingOccurrences(of: #""outcome":"granted""#, with: #""outcome":"granted","outcome":"granted""#)
                },
                { (line: String) in line.replacingOccurrences(of: ",", with: ", ") },
            ] {
                lines = original.split(separator: "\n").map(String.init)
                lines[2] = tamper(lines[2])
                try (lines.joined(separator: "\n") + "\n").write(toFile: trail, atomically: true, encoding: .utf8)
                let result = try await verify(ks)
                #expect(result.status == 1, "\(result.output)")
                #expect(result.output.contains("line 3") && result.output.contains("canonical"), "\(result.output)")
            }
        }
    }

    @Test func segmentsRotateAndVerifyAsOneTrail() async throws {
        let edit = { (config: String) in
            config.replacingOccurrences(
                of: "  file: state/keyservice/audit.log", with: "  file: state/keyservice/audit.log\n  segmentBytes: 4096")
        }
        try await withKeyService(editConfig: edit) { ks in
            try await ks.createUser("alice", region: "eu-west")
            try await someOperations(ks, count: 20)
            #expect(try await ks.restart() == 0)
            try await someOperations(ks, count: 20)
            _ = await ks.stop()
            let segments = AuditSegments(current: Self.audit(ks)).rotated()
            #expect(segments.count >= 2, "\(segments)")
            let verified = try await verify(ks)
            #expect(verified.status == 0, "\(verified.output)")
            #expect(verified.output.contains("OK: 41 records in \(segments.count + 1) segments"), "\(verified.output)")
            // A segment taken out of the middle breaks the trail.
            try FileManager.default.removeItem(atPath: segments[segments.count / 2].path)
            let broken = try await verify(ks)
            #expect(broken.status == 1, "\(broken.output)")
        }
    }

    /// A full audit volume mid-batch: the refused operations leave no record (their bytes are cut
    /// back), a state change whose record cannot be written does not happen, and once space
    /// returns the trail resumes and verifies.
    @Test(.enabled(if: getuid() == 0, "mounting a size-limited tmpfs needs root"))
    func fullAuditVolumeFailsClosedAndRecovers() async throws {
        let mount = try await SizedTmpfs(size: "1m")
        do {
            try await fullVolume(mount)
        } catch {
            await mount.remove()
            throw error
        }
        await mount.remove()
    }

    private func fullVolume(_ mount: SizedTmpfs) async throws {
        let trail = mount.dir.appendingPathComponent("audit.log").path
        let ks = try await KeyServiceFixture.start(environment: ["SPLITKEY_AUDIT_FILE": trail])
        do {
            try await ks.createUser("alice", region: "eu-west")
            let node = try ks.client("node-eu-west")
            let item = try await ks.unwrapRequest(user: "alice")
            let filler = mount.dir.appendingPathComponent("filler")
            try mount.fill(filler, leaving: 0)
            // tmpfs hands out whole pages, and a batch cut back leaves the rest of the trail's
            // last page usable: the volume is full for a batch long before it is for one record.
            var granted = 0
            var batchFailed = false
            for _ in 0..<20 where !batchFailed {
                let batch = try await node.call(
                    .POST, ks.baseURL + API.Path.unwrapBatch, json: API.BatchUnwrapRequest(items: Array(repeating: item, count: 64)))
                let results = try batch.decode(API.BatchUnwrapResponse.self).results
                granted += results.count(where: { $0.key != nil })
                let refused = results.filter { $0.error?.code == .auditUnavailable }
                #expect(refused.allSatisfy { $0.key == nil })
                batchFailed = !refused.isEmpty
            }
            #expect(batchFailed, "20 batches of 64 fit on a full 1 MiB volume")
            // Single operations use up the last page; the first that does not fit is refused,
            // gives no key, and the health says DEGRADED (without paths).
            var refusedID: String?
            for _ in 0..<200 where refusedID == nil {
                let single = try await node.call(.POST, ks.baseURL + API.Path.unwrap, json: item)
                if single.status == .ok {
                    granted += 1
                    continue
                }
                #expect(single.status == .serviceUnavailable)
                #expect(single.error?.error.code == .auditUnavailable)
                #expect(!String(decoding: single.body, as: UTF8.self).contains("plaintext"))
                refusedID = single.requestID
            }
            #expect(refusedID != nil, "200 single unwraps fit on a full volume")
            let health = try await node.call(.GET, ks.baseURL + API.Path.health).decode(API.Health.self)
            #expect(health.status == .degraded)
            #expect(!health.reasons.joined().contains(mount.dir.path), "health shows paths: \(health.reasons)")

            // Space returns: operations resume.
            try FileManager.default.removeItem(at: filler)
            #expect(try await node.call(.POST, ks.baseURL + API.Path.unwrap, json: item).status == .ok)
            granted += 1
            #expect(try await node.call(.GET, ks.baseURL + API.Path.health).decode(API.Health.self).status == .active)
            #expect(await ks.stop() == 0)
            let verified = try await run(ks, ["audit", "verify", trail, "--key-file", ks.path("audit-key")])
            #expect(verified.status == 0, "\(verified.output)")
            // The trail holds a record of every granted unwrap and of nothing that was refused
            // for want of its record.
            let text = try String(contentsOfFile: trail, encoding: .utf8)
            let records = text.split(separator: "\n").compactMap { AuditRecord.parse(line: Array($0.utf8)) }
            #expect(records.count(where: { $0.op == "unwrap" && $0.outcome == "granted" }) == granted)
            if let refusedID { #expect(!text.contains(refusedID), "a refused operation (request \(refusedID)) left a record") }
            #expect(!text.contains("audit_unavailable"))
            print("full audit volume: \(granted) unwraps granted before it filled")
        } catch {
            await ks.tearDown()
            throw error
        }
        await ks.tearDown()
    }
}

/// The daemon refuses core dumps and ptrace attach before it loads a key.
@Suite struct ProcessHardeningTests {
    @Test func daemonHasNoCoreDumps() async throws {
        try await withKeyService { ks in
            let limits = try String(contentsOfFile: "/proc/\(ks.daemon.process.processIdentifier)/limits", encoding: .utf8)
            let core = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") })
            #expect(core.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2) == ["0", "0"], "\(core)")
        }
    }

    @Test func applyMakesTheProcessUndumpable() {
        #expect(ProcessHardening.apply().isEmpty)
        #expect(!ProcessHardening.isDumpable)
    }
}
