import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

@testable import StorageNode

/// The node with several KeyService replicas (`keyService.urls`): real `keyservice serve`
/// processes sharing one SQLite state directory, each with its own port and audit trail. A
/// replica that dies costs no acknowledged object and no hang; one that comes back gets traffic
/// again; a dead one is reported unhealthy; and generate is never sent twice.
@Suite(.serialized)
struct KeyServiceFailoverTests {
    /// The fixture's node deadline (SPLITKEY_KEY_SERVICE_TIMEOUT=2) plus slack for a loaded machine.
    static let latest = Duration.seconds(4)

    /// Every answer a KeyService process has given on `path` with status 200, from its request log.
    static func answered(_ path: String, _ daemon: ChildProcess?) -> Int {
        (daemon?.log ?? "").components(separatedBy: "http.path=\(path) http.status=200").count - 1
    }

    /// Keys are not cached (cacheTTL 0), so every GET and PUT needs the KeyService; a user's data
    /// key is replaced every 5 objects, so PUTs generate too.
    static func noCache(_ config: String) -> String { config.replacingOccurrences(of: "cacheTTL: 300", with: "cacheTTL: 0") }
    static func smallDataKeys(_ config: String) -> String { config + "dataKeys:\n  maxObjects: 5\n" }

    static func health(_ env: StorageNodeFixture, _ client: HTTPClient) async throws -> KeyServiceAPI.Health {
        try await client.send(.GET, env.baseURL + StorageNodeAPI.Path.health).decode(KeyServiceAPI.Health.self)
    }

    struct Outcome: Sendable {
        var method: HTTPMethod
        var key: String
        var status: UInt
        var elapsed: Duration
        var afterKill: Bool
        var bodyMatches: Bool
        var failure: String?
        /// What a PUT sent.
        var written: [UInt8] = []
    }

    @Test func killingAReplicaUnderLoadLosesNothingAcknowledgedAndItGetsTrafficBackOnRestart() async throws {
        try await withStorageNode(editKeyServiceConfig: Self.noCache, editNodeConfig: Self.smallDataKeys) { env in
            let b = try await env.ks.startReplica("b")
            await env.stopNode()
            try await env.startNode(keyServiceURLs: [env.ks.baseURL, b.baseURL])
            let alice = try env.ks.client("user-alice")
            let bob = try env.ks.client("user-bob")
            let users = [alice, bob]

            // Objects written while both replicas serve; round robin sends keys to both.
            var stored: [(user: Int, key: String, body: [UInt8])] = []
            for n in 0..<12 {
                let body = RandomBytes.bytes(2_000 + n)
                let put = try await users[n % 2].send(.PUT, env.objectURL("before/\(n)"), body: body)
                #expect(put.status == .created, "\(String(decoding: put.body, as: UTF8.self))")
                stored.append((n % 2, "before/\(n)", body))
            }
            #expect(Self.answered(KeyServiceAPI.Path.unwrap, env.ks.daemon) > 0, "replica A got no unwrap")
            #expect(Self.answered(KeyServiceAPI.Path.unwrap, b.daemon) > 0, "replica B got no unwrap")
            #expect(try await Self.health(env, alice).status == .active)

            // A steady load of GETs (each one an unwrap) and PUTs; replica A is killed -9 in the
            // middle of it. Bounded: 3 s of load, the kill after 0.8 s.
            let killed = NIOLockedValueBox(false)
            let snapshot = stored
            let loadStart = ContinuousClock.now
            let outcomes = try await withThrowingTaskGroup(of: [Outcome].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var mine: [Outcome] = []
                        var n = 0
                        // 3 s of load, and at least 8 requests of each worker after the kill
                        // (a loaded CI machine may need longer to deliver the kill), at most 30 s.
                        var sinceKill = 0
                        while (ContinuousClock.now - loadStart < .seconds(3) || sinceKill < 8)
                            && ContinuousClock.now - loadStart < .seconds(30)
                        {
                            let writer = worker == 3
                            let object = snapshot[(worker * 5 + n) % snapshot.count]
                            let user = writer ? (n % 2) : object.user
                            let key = writer ? "during/\(n)" : object.key
                            let body = writer ? RandomBytes.bytes(1_000 + n) : object.body
                            let afterKill = killed.withLockedValue { $0 }
                            if afterKill { sinceKill += 1 }
                            let started = ContinuousClock.now
                            var outcome = Outcome(
                                method: writer ? .PUT : .GET, key: key, status: 0, elapsed: .zero, afterKill: afterKill,
                                bodyMatches: false, written: writer ? body : [])
                            do {
                                let response = try await users[user].send(
                                    writer ? .PUT : .GET, env.objectURL(key), body: writer ? body : nil)
                                outcome.status = response.status.code
                                outcome.bodyMatches = writer ? response.status == .created : response.body == Data(body)
                                if response.status == .serviceUnavailable {
                                    outcome.bodyMatches = response.error?.error.code == .keyServiceUnavailable
                                }
                            } catch {
                                outcome.failure = "\(error)"
                            }
                            outcome.elapsed = ContinuousClock.now - started
                            mine.append(outcome)
                            n += 1
                        }
                        return mine
                    }
                }
                try await Task.sleep(until: loadStart + .milliseconds(800))
                await env.ks.kill()
                killed.withLockedValue { $0 = true }
                var all: [Outcome] = []
                for try await part in group { all += part }
                return all
            }

            let after = outcomes.filter(\.afterKill)
            let refused = outcomes.filter { $0.status == 503 }
            let failedCalls = (env.node?.log ?? "").components(separatedBy: "KeyService call failed").count - 1
            print(
                "failover load: \(outcomes.count) requests, \(after.count) after the kill, \(refused.count) answered 503, "
                    + "slowest \(outcomes.map(\.elapsed).max() ?? .zero); \(failedCalls) KeyService attempts failed (then retried or 503)")
            for outcome in outcomes {
                #expect(outcome.failure == nil, "\(outcome.method) \(outcome.key): \(outcome.failure ?? "")")
                #expect(
                    [200, 201, 503].contains(outcome.status) && outcome.bodyMatches,
                    "\(outcome.method) \(outcome.key) after kill \(outcome.afterKill): \(outcome.status)")
                #expect(outcome.elapsed < Self.latest, "\(outcome.method) \(outcome.key) took \(outcome.elapsed)")
            }
            // Replica B serves what A no longer can: reads are retried on it, so at most the
            // requests in flight at the kill could fail (a generate already sent to A is not resent).
            #expect(after.filter { $0.status == 200 }.count >= 5, "too few reads after the kill")
            #expect(refused.count <= 4, "\(refused.map { "\($0.method) \($0.key)" })")

            // Every acknowledged object reads back, through B alone.
            let acknowledged = outcomes.filter { $0.method == .PUT && $0.status == 201 }
            #expect(!acknowledged.isEmpty)
            for outcome in acknowledged {
                let n = try #require(Int(outcome.key.dropFirst("during/".count)))
                let response = try await users[n % 2].send(.GET, env.objectURL(outcome.key))
                #expect(response.status == .ok, "\(outcome.key): \(response.status)")
                #expect(response.body == Data(outcome.written), "\(outcome.key) read back other bytes")
            }
            for object in stored {
                #expect(try await users[object.user].send(.GET, env.objectURL(object.key)).body == Data(object.body))
            }
            let degraded = try await Self.health(env, alice)
            #expect(degraded.status == .degraded)
            #expect(degraded.reasons.contains { $0.hasPrefix("1 of 2 KeyService replicas") }, "\(degraded.reasons)")
            #expect(env.node?.log.contains("KeyService endpoint unhealthy") == true)

            // A comes back (same port, same state): the node notices by itself and sends it traffic.
            try await env.ks.start()
            let back = ContinuousClock.now
            while try await Self.health(env, alice).status != .active {
                #expect(ContinuousClock.now - back < .seconds(10), "the node did not see replica A return")
                if ContinuousClock.now - back >= .seconds(10) { return }
                try await Task.sleep(for: .milliseconds(200))
            }
            let bBefore = Self.answered(KeyServiceAPI.Path.unwrap, b.daemon)
            for object in stored {
                #expect(try await users[object.user].send(.GET, env.objectURL(object.key)).body == Data(object.body))
            }
            let toA = Self.answered(KeyServiceAPI.Path.unwrap, env.ks.daemon)
            let toB = Self.answered(KeyServiceAPI.Path.unwrap, b.daemon) - bBefore
            print("after replica A's restart: \(toA) unwraps to A, \(toB) to B")
            #expect(toA >= 3, "replica A got \(toA) of \(stored.count) unwraps after its restart")
            #expect(toB >= 3, "replica B got \(toB) of \(stored.count) unwraps after A's restart")
            #expect(env.node?.log.contains("KeyService endpoint healthy again") == true)
        }
    }

    @Test func aReplicaOnAClosedPortIsReportedUnhealthyAndTheLiveOneServes() async throws {
        let metricsPort = try freeLoopbackPort()
        try await withStorageNode(
            editKeyServiceConfig: Self.noCache, editNodeConfig: Self.smallDataKeys,
            nodeEnvironment: ["SPLITKEY_METRICS_PORT": String(metricsPort), "SPLITKEY_KEY_SERVICE_TIMEOUT": "20"]
        ) { env in
            let dead = "https://localhost:\(try freeLoopbackPort())"
            await env.stopNode()
            try await env.startNode(keyServiceURLs: [dead, env.ks.baseURL])
            let alice = try env.ks.client("user-alice")
            let bob = try env.ks.client("user-bob")
            for n in 0..<12 {
                let user = n % 2 == 0 ? alice : bob
                let body = RandomBytes.bytes(500 + n)
                let started = ContinuousClock.now
                let put = try await user.send(.PUT, env.objectURL("o\(n)"), body: body)
                #expect(put.status == .created, "\(String(decoding: put.body, as: UTF8.self))")
                let get = try await user.send(.GET, env.objectURL("o\(n)"))
                #expect(get.body == Data(body))
                // A refused connection costs nothing like the 20 s deadline.
                #expect(ContinuousClock.now - started < .seconds(10), "PUT+GET \(n) took \(ContinuousClock.now - started)")
            }

            let health = try await Self.health(env, alice)
            #expect(health.status == .degraded)
            #expect(health.reasons == ["1 of 2 KeyService replicas are unreachable or unhealthy; key requests go to the others"])
            let log = env.node?.log ?? ""
            #expect(log.contains("KeyService endpoint unhealthy") && log.contains("keyService=\(dead)"), "\(log.suffix(3000))")
            #expect(log.contains("\(dead) unhealthy ("), "\(log.suffix(3000))")

            let scrape = try await ChildProcess.run(
                try tool("curl"), ["--silent", "--show-error", "http://127.0.0.1:\(metricsPort)/metrics"], in: env.ks.dir)
            let metrics = scrape.output
            #expect(metrics.contains(#"splitkey_keyservice_endpoint_healthy{endpoint="\#(dead)"} 0"#), "\(metrics)")
            #expect(metrics.contains(#"splitkey_keyservice_endpoint_healthy{endpoint="\#(env.ks.baseURL)"} 1"#), "\(metrics)")
        }
    }

    /// The node's client itself, without its health monitor, so which replica an attempt goes to
    /// is known: the first call of a fresh client goes to the first URL.
    func client(_ env: StorageNodeFixture, urls: [String]) throws -> KeyServiceClient {
        let tls = try TLSFiles(
            certificate: env.ks.path("node-eu-west.pem"), privateKey: env.ks.path("node-eu-west-key.pem"), ca: env.ks.path("ca.pem")
        ).load()
        let identity = ServerIdentityCheck(expected: try #require(SPIFFEIDPattern("spiffe://splitkey.local/keyservice")), roots: tls.roots)
        return KeyServiceClient(urls: urls, tls: tls, identity: identity, timeout: .seconds(2), logger: Logger(label: "failover-test"))
    }

    @Test func generateMovesOnOnlyWhenNothingWasSentAndUnwrapFailsOverMidRequest() async throws {
        try await withStorageNode { env in
            let generated = { Self.answered(KeyServiceAPI.Path.generate, env.ks.daemon) }
            let unwrapped = { Self.answered(KeyServiceAPI.Path.unwrap, env.ks.daemon) }

            // Nothing listens on the first URL: the connection fails, nothing was sent, so the
            // generate goes to the second replica and the KeyService wraps once.
            let closed = try client(env, urls: ["https://localhost:\(try freeLoopbackPort())", env.ks.baseURL])
            let before = generated()
            let key = try await closed.generate(user: "alice")
            #expect(generated() == before + 1)
            #expect(closed.endpointStates.endpoints.map(\.healthy) == [false, true])
            await closed.shutdown()

            try await withFaultProxy(env) { proxy in
                // The first URL passes the request and cuts the KeyService's answer: the generate
                // was done there, so it is not sent again and the call fails as unavailable.
                try await proxy.set(.reset(in: .headers))
                let cut = try client(env, urls: ["https://localhost:\(proxy.port)", env.ks.baseURL])
                let generatedBefore = generated()
                let started = ContinuousClock.now
                await #expect(throws: KeyAccessError.self) { _ = try await cut.generate(user: "alice") }
                #expect(ContinuousClock.now - started < Self.latest)
                #expect(generated() == generatedBefore + 1, "the KeyService should have wrapped exactly once")
                await cut.shutdown()

                // An unwrap is idempotent: the cut answer is retried on the other replica at once.
                let retried = try client(env, urls: ["https://localhost:\(proxy.port)", env.ks.baseURL])
                let unwrappedBefore = unwrapped()
                let (plain, _) = try await retried.unwrap(user: "alice", wrapped: key.wrapped, reason: .userRequest)
                #expect(plain == key.key)
                #expect(unwrapped() == unwrappedBefore + 2, "one answer cut by the proxy, one delivered")
                #expect(retried.endpointStates.endpoints.map(\.healthy) == [false, true])
                #expect(proxy.process.log.contains("reset after"))
                await retried.shutdown()
            }
        }
    }
}
