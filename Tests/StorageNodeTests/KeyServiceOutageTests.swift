import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// The node when its KeyService is down, silent or back: fail fast with 503, serve what the
/// key holder allowed it to cache, and recover by itself.
@Suite(.serialized)
struct KeyServiceOutageTests {
    @Test(arguments: RegionBackend.allCases)
    func downKeyServiceGives503FastCachedKeysLastUntilTheirTTLThenRecovery(_ backend: RegionBackend) async throws {
        // A 20 s KeyService deadline, so "answered at once" and "waited out the deadline" stay
        // far apart however loaded the machine is.
        try await withStorageNode(
            backend: backend,
            // A TTL long enough that stopping the KeyService on a loaded machine (seconds) does not
            // outlast it before the cached read below.
            editKeyServiceConfig: { $0.replacingOccurrences(of: "cacheTTL: 300", with: "cacheTTL: 12") },
            nodeEnvironment: ["SPLITKEY_KEY_SERVICE_TIMEOUT": "20"]
        ) { env in
            let alice = try env.ks.client("user-alice")
            let bob = try env.ks.client("user-bob")
            let a = RandomBytes.bytes(10_000)
            let b = RandomBytes.bytes(10_000)
            #expect(try await alice.send(.PUT, env.objectURL("a"), body: a).status == .created)
            #expect(try await bob.send(.PUT, env.objectURL("b"), body: b).status == .created)
            // A fresh node process has no cached keys; reading alice's object caches hers only.
            try await env.restartNode()
            #expect(try await alice.send(.GET, env.objectURL("a")).body == Data(a))
            let cachedAt = ContinuousClock.now

            #expect(await env.ks.stop() == 0)
            // Cached: still served.
            #expect(try await alice.send(.GET, env.objectURL("a")).body == Data(a))
            // Not cached: 503 with Retry-After. A refused connection fails at once, so the answer
            // comes long before the node's 20 s KeyService deadline (retries take ~300 ms).
            let started = ContinuousClock.now
            let refused = try await bob.send(.GET, env.objectURL("b"))
            let elapsed = ContinuousClock.now - started
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.error?.error.code == .keyServiceUnavailable)
            #expect(refused.headers.first(name: "Retry-After") == "5")
            print("refused GET while the KeyService is down: 503 after \(elapsed)")
            #expect(elapsed < .seconds(10), "503 took \(elapsed): the node waited out its deadline")
            // New writes need the KeyService too (bob has no cached key after the restart).
            #expect(try await bob.send(.PUT, env.objectURL("b2"), body: [1]).status == .serviceUnavailable)
            let health = try await alice.send(.GET, env.baseURL + "/v1/health").decode(KeyServiceAPI.Health.self)
            #expect(health.status == .degraded)

            // Past the cacheTTL the key holder gave, the cached key is gone too.
            let ttlEnd = cachedAt + .seconds(12) + .milliseconds(300)
            if ContinuousClock.now < ttlEnd { try await Task.sleep(until: ttlEnd) }
            #expect(try await alice.send(.GET, env.objectURL("a")).status == .serviceUnavailable)

            // The KeyService returns: everything works again without touching the node.
            try await env.ks.start()
            #expect(try await alice.send(.GET, env.objectURL("a")).body == Data(a))
            #expect(try await bob.send(.GET, env.objectURL("b")).body == Data(b))
            #expect(try await bob.send(.PUT, env.objectURL("b2"), body: [1]).status == .created)
        }
    }

    /// A KeyService that accepts connections and never answers: the node gives up at its
    /// deadline with 503 instead of hanging.
    @Test(arguments: RegionBackend.allCases) func silentKeyServiceGives503WithinTheDeadline(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend) { env in
            let bob = try env.ks.client("user-bob")
            #expect(try await bob.send(.PUT, env.objectURL("b"), body: [1, 2, 3]).status == .created)
            let port = try freeLoopbackPort()
            // scripts/delay-proxy --blackhole: accepts every connection and never answers.
            let silent = try ChildProcess(
                executable: try tool("python3"),
                arguments: [try TestPaths.script("delay-proxy").path, String(port), "--blackhole"],
                logURL: env.ks.dir.appendingPathComponent("silent.log")
            )
            try await silent.waitForLog("delay-proxy:")
            await env.stopNode()
            try await env.startNode(keyServiceURL: "https://localhost:\(port)")
            let started = ContinuousClock.now
            let response = try await bob.send(.GET, env.objectURL("b"))
            let elapsed = ContinuousClock.now - started
            #expect(response.status == .serviceUnavailable)
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(4), "answered after \(elapsed); the deadline is 2 s")
            silent.signal(SIGKILL)
            await silent.waitForExit()
        }
    }
}
