import Crypto
import Foundation
import GRDB
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

@testable import KeyService

/// The key holder's controls, each through the `keyservice admin` CLI against running daemons,
/// and seen from a real client of the StorageNode.
@Suite(.serialized)
struct LifecycleTests {
    typealias API = KeyServiceAPI

    func admin(_ env: StorageNodeFixture, _ args: [String]) async throws -> (status: Int32, output: String) {
        let ks = env.ks
        // Options go after the leaf subcommand: `admin user rotate --url ... alice`.
        let split = args.firstIndex { !["user", "node"].contains($0) } ?? 0
        let command = Array(args[..<(split + 1)])
        let rest = Array(args[(split + 1)...])
        return try await ChildProcess.run(
            try TestPaths.binary("keyservice"),
            ["admin"] + command + [
                "--url", ks.baseURL, "--cert", ks.path("admin.pem"), "--key", ks.path("admin-key.pem"), "--ca", ks.path("ca.pem"),
            ]
                + rest,
            in: ks.dir
        )
    }

    func adminJSON<T: Decodable>(_ env: StorageNodeFixture, _ args: [String], as type: T.Type) async throws -> T {
        let result = try await admin(env, args)
        guard result.status == 0 else { throw TestFailure("admin \(args) failed: \(result.output)") }
        return try JSONDecoder().decode(T.self, from: Data(result.output.utf8))
    }

    func nodeDB(_ env: StorageNodeFixture) -> String { env.stateDirectory.appendingPathComponent("metadata.sqlite").path }

    @Test func rotationRewrapAndMinimumVersionKeepObjectsReadable() async throws {
        try await withStorageNode { env in
            let alice = try env.ks.client("user-alice")
            let body = RandomBytes.bytes(70_000)
            #expect(try await alice.send(.PUT, env.objectURL("doc"), body: body).status == .created)
            let v1Wrapped: Data = try await DatabaseQueue(path: nodeDB(env)).read { db in
                try Data.fetchOne(db, sql: "SELECT wrapped FROM data_keys")!
            }

            let rotated = try await adminJSON(env, ["user", "rotate", "alice"], as: API.User.self)
            #expect(rotated.currentKEKVersion == 2)
            // Older versions still unwrap: a fresh node process (no cached key) reads the object.
            try await env.restartNode()
            #expect(try await alice.send(.GET, env.objectURL("doc")).body == Data(body))

            // Rewrap every stored data key to v2, through the node's own identity.
            let rewrap = try await ChildProcess.run(
                try TestPaths.binary("storagenode"),
                ["rewrap", "--config", env.ks.path("storagenode-eu-west.yaml")],
                environment: ["SPLITKEY_KEY_SERVICE_URL": env.ks.baseURL],
                in: env.ks.dir
            )
            #expect(rewrap.status == 0, "\(rewrap.output)")
            #expect(rewrap.output.contains("1 rewrapped"))
            let versions: [Int64] = try await DatabaseQueue(path: nodeDB(env)).read { db in
                try Int64.fetchAll(db, sql: "SELECT kek_version FROM data_keys")
            }
            #expect(versions == [2])
            // Running it again finds nothing to do (resumable, idempotent).
            let again = try await ChildProcess.run(
                try TestPaths.binary("storagenode"),
                ["rewrap", "--config", env.ks.path("storagenode-eu-west.yaml"), "--user", "alice"],
                environment: ["SPLITKEY_KEY_SERVICE_URL": env.ks.baseURL],
                in: env.ks.dir
            )
            #expect(again.output.contains("0 rewrapped"))

            // Raise the minimum: v1 wraps are refused from now on, the rewrapped key still opens.
            let raised = try await adminJSON(env, ["user", "min-version", "alice", "2"], as: API.User.self)
            #expect(raised.minKEKVersion == 2)
            let stale = try await env.ks.client("node-eu-west").call(
                .POST,
                env.ks.baseURL + API.Path.unwrap,
                json: API.UnwrapRequest(
                    user: "alice", wrapped: v1Wrapped.base64EncodedString(), context: "splitkey/storagenode/dek/v1", reason: .userRequest)
            )
            #expect(stale.status == .forbidden)
            #expect(stale.error?.error.code == .kekVersionRetired)
            try await env.restartNode()
            #expect(try await alice.send(.GET, env.objectURL("doc")).body == Data(body))
            // Lowering the minimum again is refused.
            #expect(try await admin(env, ["user", "min-version", "alice", "1"]).status == 1)
        }
    }

    @Test func disableRefusesUntilEnabled() async throws {
        try await withStorageNode { env in
            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.PUT, env.objectURL("doc"), body: [1, 2, 3]).status == .created)
            #expect(try await adminJSON(env, ["user", "disable", "alice"], as: API.User.self).state == "suspended")
            try await env.restartNode()
            let refused = try await alice.send(.GET, env.objectURL("doc"))
            #expect(refused.status == .forbidden)
            #expect(refused.error?.error.code == .keyRefused)
            #expect(try await alice.send(.PUT, env.objectURL("new"), body: [1]).status == .forbidden)
            #expect(try await adminJSON(env, ["user", "enable", "alice"], as: API.User.self).state == "active")
            #expect(try await alice.send(.GET, env.objectURL("doc")).body == Data([1, 2, 3]))
        }
    }

    static let shortDestroyDelays = ["SPLITKEY_LIFECYCLE_MIN_DESTROY_DELAY": "0"]

    /// The waiting period is bounded by the operator's config, below (7 days unless changed) and
    /// above; no request can shorten it.
    @Test func destructionDelayIsBoundedByTheConfig() async throws {
        try await withStorageNode { env in
            for delay in ["0", "3600", "\(400 * 86_400)"] {
                let refused = try await admin(env, ["user", "schedule-destroy", "alice", "--delay", delay])
                #expect(refused.status != 0)
                #expect(refused.output.contains("invalid_delay"), "\(refused.output)")
            }
            let user = try await adminJSON(env, ["user", "schedule-destroy", "alice"], as: API.User.self)
            let after = try #require(user.destroyAfter.flatMap { Timestamps.date($0) })
            #expect(after.timeIntervalSinceNow > 7 * 86_400 - 60)
        }
    }

    /// A destroy whose WAL checkpoint cannot finish (a reader holds the old pages) fails
    /// visibly, and a second destroy finishes the erasure once it can.
    @Test func destroyFailsVisiblyWhenTheErasureCannotFinish() async throws {
        try await withStorageNode(keyServiceEnvironment: Self.shortDestroyDelays) { env in
            _ = try await adminJSON(env, ["user", "schedule-destroy", "alice", "--delay", "0"], as: API.User.self)
            let dbPath = env.ks.dir.appendingPathComponent("state/keyservice").appendingPathComponent(SQLiteKeyStore.fileName).path
            // A transaction held open across accesses, as another process's reader would.
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            let reader = try DatabaseQueue(path: dbPath, configuration: configuration)
            try await reader.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN DEFERRED")
                _ = try Row.fetchAll(db, sql: "SELECT * FROM kek_versions")
            }
            let first = try await admin(env, ["user", "destroy", "alice"])
            #expect(first.status != 0)
            #expect(first.output.contains("destroy_incomplete"), "\(first.output)")
            try await reader.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
            try reader.close()
            let second = try await adminJSON(env, ["user", "destroy", "alice"], as: API.User.self)
            #expect(second.state == "destroyed")
            let wal = dbPath + "-wal"
            let walSize = ((try? FileManager.default.attributesOfItem(atPath: wal)[.size]) as? Int) ?? 0
            #expect(walSize == 0, "the WAL still holds \(walSize) bytes after the destroy")
        }
    }

    @Test func scheduledDestructionWaitsAndCanBeCancelled() async throws {
        try await withStorageNode(keyServiceEnvironment: Self.shortDestroyDelays) { env in
            let scheduled = try await adminJSON(env, ["user", "schedule-destroy", "alice", "--delay", "3600"], as: API.User.self)
            #expect(scheduled.state == "deactivated")
            #expect(scheduled.destroyAfter != nil)
            let early = try await admin(env, ["user", "destroy", "alice"])
            #expect(early.status == 1)
            #expect(early.output.contains("invalid_state"))
            // Deactivated: no new wraps.
            #expect(try await env.ks.client("user-alice").send(.PUT, env.objectURL("x"), body: [1]).status == .forbidden)
            let cancelled = try await adminJSON(env, ["user", "cancel-destroy", "alice"], as: API.User.self)
            #expect(cancelled.state == "active")
            #expect(cancelled.destroyAfter == nil)
            #expect(try await env.ks.client("user-alice").send(.PUT, env.objectURL("x"), body: [1]).status == .created)
        }
    }

    /// Crypto-shredding end to end: after destroy the user's objects cannot be read, and neither
    /// the KeyService's database nor its WAL holds any of the user's KEK bytes, sealed or clear.
    @Test func destroyShredsTheUsersKeys() async throws {
        try await withStorageNode(keyServiceEnvironment: Self.shortDestroyDelays) { env in
            let alice = try env.ks.client("user-alice")
            let body = RandomBytes.bytes(5000)
            #expect(try await alice.send(.PUT, env.objectURL("doc"), body: body).status == .created)
            _ = try await adminJSON(env, ["user", "rotate", "alice"], as: API.User.self)
            let ksDir = env.ks.dir.appendingPathComponent("state/keyservice")
            let dbPath = ksDir.appendingPathComponent(SQLiteKeyStore.fileName).path
            let rows = try await DatabaseQueue(
                path: dbPath,
                configuration: {
                    var c = Configuration(); c.readonly = true; return c
                }()
            ).read { db in
                try Row.fetchAll(db, sql: "SELECT user_id, version, sealed FROM kek_versions WHERE user_id = 'alice'")
            }
            #expect(rows.count == 2)
            let sealer = KEKSealer(rootKey: try RootKey.load(credentialsDirectory: nil, configuredFile: env.ks.path("root-key")))
            var secrets: [Data] = []
            for row in rows {
                let sealed = row["sealed"] as Data
                secrets.append(sealed)
                secrets.append(Data(try sealer.open(Array(sealed), userID: "alice", version: UInt32(row["version"] as Int64)).rawBytes))
            }

            _ = try await adminJSON(env, ["user", "schedule-destroy", "alice", "--delay", "0"], as: API.User.self)
            let destroyed = try await adminJSON(env, ["user", "destroy", "alice"], as: API.User.self)
            #expect(destroyed.state == "destroyed")
            try await env.restartNode()
            let refused = try await alice.send(.GET, env.objectURL("doc"))
            #expect(refused.status == .forbidden)
            #expect(!refused.body.isEmpty && refused.body.range(of: Data(body.prefix(16))) == nil)
            #expect(try await adminJSON(env, ["user", "show", "alice"], as: API.User.self).state == "destroyed")

            let files = try FileManager.default.contentsOfDirectory(atPath: ksDir.path).filter { $0.hasPrefix(SQLiteKeyStore.fileName) }
            #expect(files.contains(SQLiteKeyStore.fileName))
            for name in files {
                let data = try Data(contentsOf: ksDir.appendingPathComponent(name))
                for secret in secrets {
                    #expect(data.range(of: secret) == nil, "KEK bytes of alice remain in \(name)")
                    #expect(data.range(of: secret.prefix(16)) == nil, "part of a KEK of alice remains in \(name)")
                }
            }
            // bob's keys are untouched.
            #expect(try await env.ks.client("user-bob").send(.PUT, env.objectURL("b"), body: [1]).status == .created)
        }
    }

    @Test func reasonsAndRegionsArePolicy() async throws {
        try await withStorageNode(editKeyServiceConfig: {
            $0.replacingOccurrences(
                of: "  nodesMayCreateUsers: false", with: "  nodesMayCreateUsers: false\n  deniedReasonsByRegion: [\"scrub@eu-west\"]")
        }) { env in
            let node = try env.ks.client("node-eu-west")
            let key = try await node.call(.POST, env.ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
                .decode(API.GenerateResponse.self)
            func unwrap(_ reason: API.UnwrapReason) async throws -> APIResponse {
                try await node.call(
                    .POST, env.ks.baseURL + API.Path.unwrap,
                    json: API.UnwrapRequest(user: "alice", wrapped: key.wrapped, context: "c", reason: reason))
            }
            #expect(try await unwrap(.legalProcess).error?.error.code == .reasonDenied)
            #expect(try await unwrap(.scrub).error?.error.code == .reasonDenied)
            #expect(try await unwrap(.userRequest).status == .ok)
            #expect(try await unwrap(.migration).status == .ok)
            // scrub is refused for eu-west only: the us-east node may scrub its own users' keys.
            let us = try env.ks.client("node-us-east")
            let carol = try await us.call(.POST, env.ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "carol", context: "c"))
                .decode(API.GenerateResponse.self)
            let scrub = try await us.call(
                .POST,
                env.ks.baseURL + API.Path.unwrap,
                json: API.UnwrapRequest(user: "carol", wrapped: carol.wrapped, context: "c", reason: .scrub)
            )
            #expect(scrub.status == .ok)
        }
    }

    @Test func rateLimitsAndTheUnwrapBudget() async throws {
        try await withStorageNode(editKeyServiceConfig: {
            $0 + "limits:\n  userUnwrapsPerSecond: 1\n  userUnwrapBurst: 3\n  userUnwrapBudget: 5\n  userUnwrapBudgetWindow: 3600\n"
        }) { env in
            let node = try env.ks.client("node-eu-west")
            let key = try await node.call(.POST, env.ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
                .decode(API.GenerateResponse.self)
            let request = API.UnwrapRequest(user: "alice", wrapped: key.wrapped, context: "c", reason: .userRequest)
            var statuses: [UInt] = []
            for _ in 0..<5 {
                statuses.append(try await node.call(.POST, env.ks.baseURL + API.Path.unwrap, json: request).status.code)
            }
            #expect(statuses.prefix(3) == [200, 200, 200])
            let limited = try await node.call(.POST, env.ks.baseURL + API.Path.unwrap, json: request)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers.first(name: "Retry-After") != nil)
            // Spend the rest of the budget slowly enough for the bucket, then trip the lock.
            var outcome: ErrorCode?
            for _ in 0..<8 {
                try await Task.sleep(for: .milliseconds(1100))
                let response = try await node.call(.POST, env.ks.baseURL + API.Path.unwrap, json: request)
                if let code = response.error?.error.code, code != .rateLimited {
                    outcome = code
                    break
                }
            }
            #expect(outcome == .unwrapBudgetExceeded)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await node.call(.POST, env.ks.baseURL + API.Path.unwrap, json: request).error?.error.code == .unwrapLocked)
            // The lock is persistent: it survives a restart, and only an admin clears it.
            #expect(try await env.ks.restart() == 0)
            let fresh = try env.ks.client("node-eu-west", http1Only: true)
            #expect(try await fresh.call(.POST, env.ks.baseURL + API.Path.unwrap, json: request).error?.error.code == .unwrapLocked)
            #expect(try await adminJSON(env, ["user", "clear-lockout", "alice"], as: API.User.self).unwrapLocked == false)
            #expect(try await fresh.call(.POST, env.ks.baseURL + API.Path.unwrap, json: request).status == .ok)
            let trail = try String(contentsOfFile: env.ks.path("state/keyservice/audit.log"), encoding: .utf8)
            #expect(trail.contains(#""detail":"unwrap_budget_exceeded""#))
            #expect(trail.contains(#""op":"clear-lockout""#))
        }
    }

    /// The kill switch: revoking the node closes its open connections at once, and the node's
    /// cached keys stop working within the cacheTTL the KeyService advertised.
    @Test func revokingANodeCutsItOffWithinTheCacheTTL() async throws {
        try await withStorageNode(editKeyServiceConfig: { $0.replacingOccurrences(of: "cacheTTL: 300", with: "cacheTTL: 3") }) { env in
            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.PUT, env.objectURL("doc"), body: [7, 7, 7]).status == .created)
            #expect(try await alice.send(.GET, env.objectURL("doc")).status == .ok)
            // A client with the node's identity holding an open keep-alive connection.
            let node = try env.ks.client("node-eu-west", http1Only: true)
            #expect(try await node.call(.GET, env.ks.baseURL + API.Path.whoami).status == .ok)

            let revoked = ContinuousClock.now
            let result = try await admin(env, ["node", "revoke", "spiffe://splitkey.local/node/eu-west"])
            #expect(result.status == 0, "\(result.output)")
            try await env.ks.daemon.waitForLog("identity revoked")
            #expect(env.ks.daemon.log.contains("connectionsClosed=") && !env.ks.daemon.log.contains("connectionsClosed=0"))
            let after = try await node.call(.GET, env.ks.baseURL + API.Path.unwrap)
            #expect(after.status == .forbidden || after.status == .notFound)
            #expect(
                try await node.call(.POST, env.ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
                    .error?.error.code == .identityDenied)

            // The StorageNode keeps serving from its cache until the TTL runs out, then refuses.
            var firstRefusal: Duration?
            for _ in 0..<60 {
                let response = try await alice.send(.GET, env.objectURL("doc"))
                if response.status != .ok {
                    firstRefusal = ContinuousClock.now - revoked
                    #expect(response.error?.error.code == .keyRefused)
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let elapsed = try #require(firstRefusal, "the node never refused after the revoke")
            print("revoke -> first refused GET at the StorageNode: \(elapsed) (cacheTTL 3 s)")
            #expect(elapsed <= .seconds(4))
            let list = try await adminJSON(env, ["node", "revoked"], as: API.RevokedList.self)
            #expect(list.identities == ["spiffe://splitkey.local/node/eu-west"])
            #expect(try await admin(env, ["node", "unrevoke", "spiffe://splitkey.local/node/eu-west"]).status == 0)
            #expect(try await alice.send(.GET, env.objectURL("doc")).status == .ok)
        }
    }
}

/// A KEK version refuses new wraps past its wrap count until an admin rotates; the identity
/// rate limit answers 429 with Retry-After.
@Test func kekWrapLimitAndIdentityRateLimit() async throws {
    try await withKeyService(editConfig: {
        $0 + "lifecycle:\n  kekMaxWraps: 2\nlimits:\n  identityRequestsPerSecond: 1\n  identityBurst: 6\n"
    }) { ks in
        try await ks.createUser("alice", region: "eu-west")
        let node = try ks.client("node-eu-west")
        func generate() async throws -> APIResponse {
            try await node.call(
                .POST, ks.baseURL + KeyServiceAPI.Path.generate, json: KeyServiceAPI.GenerateRequest(user: "alice", context: "c"))
        }
        #expect(try await generate().status == .ok)
        #expect(try await generate().status == .ok)
        let third = try await generate()
        #expect(third.status == .conflict)
        #expect(third.error?.error.code == .kekRotationRequired)
        let rotated = try await ks.client("admin").call(.POST, ks.baseURL + KeyServiceAPI.Path.user("alice", .rotate))
        #expect(try rotated.decode(KeyServiceAPI.User.self).currentKEKVersion == 2)
        #expect(try await generate().status == .ok)
        // The node has used 4 of its 6-request burst at 1 request/s refill: ten more at once, and
        // some are limited however slow the machine is.
        let responses = try await withThrowingTaskGroup(of: APIResponse.self) { group in
            for _ in 0..<10 { group.addTask { try await generate() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let refused = try #require(responses.first { $0.status == .tooManyRequests }, "no 429 among 10 requests past a burst of 6")
        #expect(refused.error?.error.code == .rateLimited)
        #expect(refused.headers.first(name: "Retry-After") != nil)
        // Another identity has its own bucket.
        #expect(try await ks.client("admin").call(.GET, ks.baseURL + KeyServiceAPI.Path.users).status == .ok)
    }
}

/// A batch costs the identity's rate limit one token per item, not one per request: with a
/// burst of 60 at one token a second, a batch of 61 is refused outright and two batches of 40
/// cannot both pass unless 20 seconds go by between them (a wide margin for a loaded machine).
@Test func batchUnwrapCostsOneTokenPerItem() async throws {
    try await withKeyService(editConfig: {
        $0 + "limits:\n  identityRequestsPerSecond: 1\n  identityBurst: 60\n"
    }) { ks in
        try await ks.createUser("alice", region: "eu-west")
        let node = try ks.client("node-eu-west")
        let item = try await ks.unwrapRequest(user: "alice")
        func batch(_ count: Int) async throws -> APIResponse {
            try await node.call(
                .POST, ks.baseURL + KeyServiceAPI.Path.unwrapBatch,
                json: KeyServiceAPI.BatchUnwrapRequest(items: Array(repeating: item, count: count)))
        }
        let tooBig = try await batch(61)
        #expect(tooBig.status == .tooManyRequests)
        #expect(tooBig.error?.error.code == .rateLimited)
        let started = ContinuousClock.now
        #expect(try await batch(40).status == .ok)
        let second = try await batch(40)
        let gap = ContinuousClock.now - started
        print("batch unwrap: two batches of 40 within \(gap)")
        if gap < .seconds(20) {
            #expect(second.status == .tooManyRequests, "two batches of 40 passed a burst of 60 (\(second.status)) in \(gap)")
        }
    }
}

/// The bucket table is swept at most once a second, not on every request past the threshold.
@Test func tokenBucketTableIsSweptNotScannedPerRequest() {
    let buckets = TokenBuckets(rate: 1_000_000, burst: 1, sweepThreshold: 100)
    for i in 0..<1000 { _ = buckets.take("k\(i)") }
    // Every bucket refills within a microsecond, but the sweep ran at most once so far.
    #expect(buckets.count > 100)
    #expect(buckets.take("k0") == nil)
}

/// A lockout that cannot be stored still holds: the unwrap that trips it is refused (503), the
/// user stays locked in the process, and the lock is stored by the next attempt once the store
/// works again, so it survives a restart.
@Test func aLockoutThatCannotBeStoredStillHolds() async throws {
    try await withKeyService(editConfig: {
        $0 + "limits:\n  userUnwrapBudget: 2\n  userUnwrapBudgetWindow: 3600\n"
    }) { ks in
        try await ks.createUser("alice", region: "eu-west")
        let node = try ks.client("node-eu-west")
        let unwrap = try await ks.unwrapRequest(user: "alice")
        func call() async throws -> APIResponse { try await node.call(.POST, ks.baseURL + KeyServiceAPI.Path.unwrap, json: unwrap) }
        #expect(try await call().status == .ok)
        #expect(try await call().status == .ok)
        // No file of the daemon may grow now (RLIMIT_FSIZE): the lockout's database write fails.
        let pid = String(ks.daemon.process.processIdentifier)
        let prlimit = try AuditTrailTests.tool("prlimit")
        #expect(try await ChildProcess.run(prlimit, ["--pid", pid, "--fsize=1:unlimited"], in: ks.dir).status == 0)
        let tripped = try await call()
        #expect(tripped.status == .serviceUnavailable, "the lockout was stored after all (\(tripped.status))")
        #expect(tripped.error?.error.code == .storeUnavailable)
        #expect(!String(decoding: tripped.body, as: UTF8.self).contains("plaintext"))
        #expect(try await ChildProcess.run(prlimit, ["--pid", pid, "--fsize=unlimited:unlimited"], in: ks.dir).status == 0)
        // Locked, and now stored: a restart does not lift it.
        let next = try await call()
        #expect(next.error?.error.code == .unwrapLocked)
        #expect(try await ks.restart() == 0)
        let fresh = try ks.freshClient("node-eu-west")
        let admin = try ks.freshClient("admin")
        let afterRestart = try await fresh.call(.POST, ks.baseURL + KeyServiceAPI.Path.unwrap, json: unwrap)
        #expect(afterRestart.error?.error.code == .unwrapLocked)
        #expect(try await admin.call(.POST, ks.baseURL + KeyServiceAPI.Path.user("alice", .clearLockout)).status == .ok)
        #expect(try await fresh.call(.POST, ks.baseURL + KeyServiceAPI.Path.unwrap, json: unwrap).status == .ok)
        try await fresh.shutdown()
        try await admin.shutdown()
    }
}
