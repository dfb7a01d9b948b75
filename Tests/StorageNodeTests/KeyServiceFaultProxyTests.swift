import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// The node behind a proxy that breaks its KeyService connection in the ways networks do:
/// refused, silent, slow, reset mid-answer. Whatever the fault, a request that needs a key the
/// cache cannot serve gets a 503 by the node's deadline (never a hang, never a 500), the node keeps
/// serving what it can, and it recovers by itself once the path is healthy again.
@Suite(.serialized)
struct KeyServiceFaultProxyTests {
    /// The fixture starts every node with a 2 s KeyService deadline (SPLITKEY_KEY_SERVICE_TIMEOUT).
    static let deadline = Duration.seconds(2)
    /// How late a 503 may come: the deadline plus slack for a loaded test machine.
    static let latest = deadline + .seconds(3)

    @Test(arguments: [ProxyMode.refuse, .silent, .slow(seconds: 5), .reset(in: .headers), .reset(in: .body)])
    func keyFaultGives503ByTheDeadlineAndRecoversWithoutRestart(fault: ProxyMode) async throws {
        try await withStorageNode { env in
            let alice = try env.ks.client("user-alice")
            let bob = try env.ks.client("user-bob")
            let a = RandomBytes.bytes(10_000)
            let b = RandomBytes.bytes(10_000)
            #expect(try await alice.send(.PUT, env.objectURL("a"), body: a).status == .created)
            #expect(try await bob.send(.PUT, env.objectURL("b"), body: b).status == .created)

            try await withFaultProxy(env) { proxy in
                // A fresh process has no cached data key; reading alice's object through the still
                // healthy proxy caches hers, so bob's is the cold one.
                await env.stopNode()
                try await env.startNode(keyServiceURL: "https://localhost:\(proxy.port)")
                #expect(try await alice.send(.GET, env.objectURL("a")).body == Data(a))

                let answeredBefore = answeredUnwraps(env)
                try await proxy.set(fault)
                let requests: [(HTTPMethod, String, [UInt8]?)] = [(.GET, "b", nil), (.PUT, "b2", [UInt8](repeating: 7, count: 5000))]
                for (method, key, body) in requests {
                    let started = ContinuousClock.now
                    let response = try await bob.send(method, env.objectURL(key), body: body)
                    let elapsed = ContinuousClock.now - started
                    print("\(fault) \(method) \(key): \(response.status.code) after \(elapsed)")
                    #expect(response.status == .serviceUnavailable, "\(fault) \(method): \(String(decoding: response.body, as: UTF8.self))")
                    #expect(response.error?.error.code == .keyServiceUnavailable)
                    #expect(response.headers.first(name: "Retry-After") == "5")
                    #expect(elapsed < Self.latest, "\(fault) \(method) answered after \(elapsed)")
                    if fault.waitsForTheDeadline {
                        // Only the deadline ends a silent or slow exchange; an earlier answer would
                        // mean the node failed for some other reason than the fault.
                        #expect(elapsed >= .seconds(1), "\(fault) \(method) answered after only \(elapsed)")
                    }
                }
                if case .reset = fault {
                    // The fault must really have struck after the KeyService began to answer:
                    // it granted the unwraps, and the proxy cut those answers.
                    #expect(answeredUnwraps(env) > answeredBefore, "no unwrap reached the KeyService")
                    #expect(proxy.process.log.contains("reset after"), "the proxy never cut an answer:\n\(proxy.process.log)")
                    print(proxy.process.log.split(separator: "\n").filter { $0.hasPrefix("reset after") }.joined(separator: "\n"))
                }

                // Still up, and serving what needs no KeyService round trip.
                #expect(env.node?.isRunning == true)
                #expect(try await alice.send(.GET, env.objectURL("a")).body == Data(a))
                #expect(try await alice.send(.PUT, env.objectURL("a2"), body: [1, 2, 3]).status == .created)
                #expect(try await bob.send(.HEAD, env.objectURL("b")).status == .ok)
                // LIST needs no key either, and shows that the refused PUT left no object.
                let list = try await bob.send(.GET, env.baseURL + StorageNodeAPI.Path.objects).decode(StorageNodeAPI.ObjectList.self)
                #expect(list.objects.map(\.key) == ["b"])
                #expect(try await bob.send(.HEAD, env.objectURL("b2")).status == .notFound)
                let health = try await alice.send(.GET, env.baseURL + StorageNodeAPI.Path.health)
                #expect(health.status == .ok)
                let status = try health.decode(KeyServiceAPI.Health.self).status
                // Also when the health answer is cut after its status line: only a whole answer is healthy.
                #expect(status == .degraded)

                // The path heals: the same requests succeed, the node untouched.
                try await proxy.set(.forward)
                let waited = try await waitUntilActive(env, alice)
                print("\(fault): health ACTIVE \(waited) after the proxy healed")
                #expect(try await bob.send(.GET, env.objectURL("b")).body == Data(b))
                let put = try await bob.send(.PUT, env.objectURL("b2"), body: [UInt8](repeating: 7, count: 5000))
                #expect(put.status == .created, "\(String(decoding: put.body, as: UTF8.self))")
                #expect(try await bob.send(.GET, env.objectURL("b2")).body == Data(repeating: 7, count: 5000))
            }
        }
    }

    /// Latency under the deadline is not a fault: the node waits for the answer.
    @Test func slowButInTimeKeyServiceStillServes() async throws {
        try await withStorageNode { env in
            let bob = try env.ks.client("user-bob")
            let b = RandomBytes.bytes(10_000)
            #expect(try await bob.send(.PUT, env.objectURL("b"), body: b).status == .created)
            try await withFaultProxy(env) { proxy in
                // Each KeyService-to-node byte arrives 300 ms late; a fresh connection pays that
                // about twice (handshake, answer), well inside the 2 s deadline.
                try await proxy.set(.slow(seconds: 0.3))
                await env.stopNode()
                try await env.startNode(keyServiceURL: "https://localhost:\(proxy.port)")
                let started = ContinuousClock.now
                let response = try await bob.send(.GET, env.objectURL("b"))
                let elapsed = ContinuousClock.now - started
                print("slow 0.3 s GET: \(response.status.code) after \(elapsed)")
                #expect(response.status == .ok, "\(String(decoding: response.body, as: UTF8.self))")
                #expect(response.body == Data(b))
                // Proves the answer really went through the delay.
                #expect(elapsed >= .milliseconds(300), "answered after \(elapsed)")
                let put = try await bob.send(.PUT, env.objectURL("b2"), body: [4, 5, 6])
                #expect(put.status == .created)
                let health = try await bob.send(.GET, env.baseURL + StorageNodeAPI.Path.health).decode(KeyServiceAPI.Health.self)
                #expect(health.status == .active)
            }
        }
    }
}

/// Unwraps the KeyService granted so far, from its request log.
private func answeredUnwraps(_ env: StorageNodeFixture) -> Int {
    env.ks.daemon.log.components(separatedBy: "http.path=/v1/keys/unwrap http.status=200").count - 1
}

/// Polls the node's health until it says ACTIVE: its KeyService probe may first meet a pooled
/// connection the proxy just closed. Returns how long that took; throws after 15 s.
private func waitUntilActive(_ env: StorageNodeFixture, _ client: HTTPClient) async throws -> Duration {
    let started = ContinuousClock.now
    while ContinuousClock.now - started < .seconds(15) {
        let health = try await client.send(.GET, env.baseURL + StorageNodeAPI.Path.health, body: nil, headers: [])
        if health.status == .ok, try health.decode(KeyServiceAPI.Health.self).status == .active {
            return ContinuousClock.now - started
        }
        try await Task.sleep(for: .milliseconds(200))
    }
    throw TestFailure("the node's health did not return to ACTIVE within 15 s of the KeyService path healing")
}

/// What the proxy does with new and existing connections.
enum ProxyMode: Sendable, CustomStringConvertible {
    /// Pass bytes both ways untouched.
    case forward
    /// Nothing listens: connections are refused.
    case refuse
    /// Accept, read, never answer.
    case silent
    /// Deliver every KeyService-to-node byte this many seconds after it arrived.
    case slow(seconds: Double)
    /// Let the handshake and request through, pass part of the KeyService's answer, cut inside
    /// its headers or inside its body, then reset the node's connection (RST).
    case reset(in: AnswerPart)

    enum AnswerPart: Sendable {
        case headers, body
    }

    var description: String {
        switch self {
        case .forward: "forward"
        case .refuse: "refuse"
        case .silent: "silent"
        case .slow(let s): "slow \(s)"
        case .reset(in: .headers): "reset-headers"
        case .reset(in: .body): "reset-body"
        }
    }

    var waitsForTheDeadline: Bool {
        switch self {
        case .silent, .slow: true
        default: false
        }
    }
}

/// A fault-injecting TCP proxy in front of the fixture's KeyService: `scripts/fault-proxy` as a child process.
/// The test switches its mode through a control file; the proxy confirms each switch in its log
/// only after it dropped every connection of the previous mode, so the node's pooled KeyService
/// connections cannot carry an old mode's behaviour into the next step.
final class FaultProxy {
    let port: Int
    let process: ChildProcess
    private let control: URL
    private var sequence = 0

    fileprivate init(port: Int, process: ChildProcess, control: URL) {
        self.port = port
        self.process = process
        self.control = control
    }

    func set(_ mode: ProxyMode) async throws {
        sequence += 1
        let word =
            switch mode {
            case .forward: "forward 0"
            case .refuse: "refuse 0"
            case .silent: "silent 0"
            case .slow(let seconds): "slow \(seconds)"
            case .reset(in: .headers): "reset-headers 0"
            case .reset(in: .body): "reset-body 0"
            }
        try "\(sequence) \(word)\n".write(to: control, atomically: true, encoding: .utf8)
        try await process.waitForLog("applied \(sequence) ", timeout: .seconds(20))
    }

}

/// Runs `body` with a proxy to the fixture's KeyService (forwarding at first), always killing it.
func withFaultProxy(_ env: StorageNodeFixture, _ body: (FaultProxy) async throws -> Void) async throws {
    let port = try freeLoopbackPort()
    let control = env.ks.dir.appendingPathComponent("fault-proxy.mode")
    let process = try ChildProcess(
        executable: try tool("python3"),
        arguments: [try TestPaths.script("fault-proxy").path, String(port), String(env.ks.port), control.path],
        logURL: env.ks.dir.appendingPathComponent("fault-proxy.log")
    )
    let proxy = FaultProxy(port: port, process: process, control: control)
    do {
        try await process.waitForLog("listening")
        try await body(proxy)
    } catch {
        process.signal(SIGKILL)
        await process.waitForExit()
        throw error
    }
    process.signal(SIGKILL)
    await process.waitForExit()
}
