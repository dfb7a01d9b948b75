import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// Many rounds of kill -9 of the node while PUTs and DELETEs run, each checked against the
/// history of what was acknowledged: no acknowledged object lost, none torn, no deleted object
/// back, and nothing left in tmp/. `SPLITKEY_CRASH_ROUNDS` sets the number of rounds (100 on the
/// embedded store; a quarter of that on S3 + PostgreSQL, where each restart reconnects to both).
@Suite(.serialized)
struct CrashRoundsTests {
    static var rounds: Int { ProcessInfo.processInfo.environment["SPLITKEY_CRASH_ROUNDS"].flatMap(Int.init) ?? 100 }

    /// What a key may hold: absent, or exactly one body.
    enum KeyState: Equatable, Sendable {
        case absent
        case present([UInt8])
    }

    /// One operation of a worker on one of its own keys (workers never share a key, so the
    /// operations on a key are ordered).
    struct Operation: Sendable {
        var key: String
        var result: KeyState
        var acknowledged: Bool
    }

    @Test(arguments: RegionBackend.allCases)
    func nodeKilledDuringPutsAndDeletesKeepsEveryAcknowledgedOperation(_ backend: RegionBackend) async throws {
        let rounds = backend == .embedded ? Self.rounds : max(1, Self.rounds / 4)
        try await withStorageNode(backend: backend) { env in
            let workers = 4
            let keysPerWorker = 6
            var known: [String: KeyState] = [:]
            for w in 0..<workers { for k in 0..<keysPerWorker { known["w\(w)/k\(k)"] = .absent } }
            var totals = (attempted: 0, acknowledged: 0, interrupted: 0)
            var generator = SystemRandomNumberGenerator()

            for round in 0..<rounds {
                let client = try env.ks.freshClient("user-alice")
                let killAfter = Int.random(in: 3...12, using: &generator)
                let acks = ManagedAtomicCounter()
                let killing = ManagedAtomicCounter()
                let killed = ManagedAtomicCounter()
                let history = await withTaskGroup(of: [Operation].self) { group in
                    for w in 0..<workers {
                        group.addTask {
                            var mine: [Operation] = []
                            // Bounded: at most 60 operations per worker and round.
                            for n in 0..<60 {
                                let key = "w\(w)/k\(Int.random(in: 0..<keysPerWorker))"
                                let operation: Operation
                                if Int.random(in: 0..<3) == 0 {
                                    let status = try? await client.send(.DELETE, env.objectURL(key)).status
                                    operation = Operation(
                                        key: key, result: .absent, acknowledged: status == .noContent || status == .notFound)
                                } else {
                                    // Unique bytes per write, so a body identifies the write it came from.
                                    let body = Array("r\(round) w\(w) n\(n) ".utf8) + RandomBytes.bytes([10, 3_000, 70_000][n % 3])
                                    let status = try? await client.send(.PUT, env.objectURL(key), body: body).status
                                    operation = Operation(
                                        key: key, result: .present(body), acknowledged: status == .created || status == .ok)
                                }
                                mine.append(operation)
                                if operation.acknowledged { acks.increment() }
                                if !operation.acknowledged {
                                    // Before the kill nothing may fail; after it, stop at the first failure.
                                    if killing.value == 0 { Issue.record("round \(round) \(key): failed before the kill") }
                                    if killed.value > 0 || killing.value > 0 { break }
                                }
                            }
                            return mine
                        }
                    }
                    group.addTask {
                        let limit = ContinuousClock.now + .seconds(30)
                        while acks.value < killAfter && ContinuousClock.now < limit {
                            try? await Task.sleep(for: .milliseconds(2))
                        }
                        killing.increment()
                        await env.stopNode(signal: SIGKILL)
                        killed.increment()
                        return []
                    }
                    var all: [Operation] = []
                    for await part in group { all += part }
                    return all
                }
                try await client.shutdown()
                try await env.startNode()

                // The allowed states of each key: after its last acknowledged operation, or after
                // the operation the kill interrupted (which may or may not have landed).
                let checker = try env.ks.freshClient("user-alice")
                var present: Set<String> = []
                for key in known.keys.sorted() {
                    let ops = history.filter { $0.key == key }
                    let lastAcknowledged = ops.lastIndex(where: \.acknowledged)
                    var allowed = [lastAcknowledged.map { ops[$0].result } ?? known[key]!]
                    // Each worker stops at its first failure after the kill, so at most one
                    // operation per key can have been cut off; one refused before it reached the
                    // node adds no other state.
                    allowed += ops[(lastAcknowledged.map { $0 + 1 } ?? 0)...].filter { !$0.acknowledged }.map(\.result)

                    let response = try await checker.send(.GET, env.objectURL(key))
                    let observed: KeyState
                    switch response.status {
                    case .ok: observed = .present(Array(response.body))
                    case .notFound: observed = .absent
                    default:
                        Issue.record("round \(round) \(key): GET answered \(response.status) after the restart")
                        continue
                    }
                    #expect(allowed.contains(observed), "round \(round) \(key): \(describe(observed)) is none of \(allowed.map(describe))")
                    known[key] = observed
                    if case .present = observed { present.insert(key) }
                }
                // The listing agrees: no deleted object comes back through LIST either.
                let list = try await checker.send(.GET, env.baseURL + StorageNodeAPI.Path.objects + "?limit=1000")
                let listed = Set(try list.decode(StorageNodeAPI.ObjectList.self).objects.map(\.key))
                #expect(listed == present, "round \(round): LIST shows \(listed.sorted()), GET finds \(present.sorted())")
                if backend == .embedded {
                    let tmp = try FileManager.default.contentsOfDirectory(atPath: env.stateDirectory.appendingPathComponent("tmp").path)
                    #expect(tmp.isEmpty, "round \(round): unfinished writes left in tmp/: \(tmp)")
                }
                try await checker.shutdown()

                totals.attempted += history.count
                totals.acknowledged += history.filter(\.acknowledged).count
                totals.interrupted += history.filter { !$0.acknowledged }.count
            }
            #expect(totals.interrupted >= rounds / 2, "the kills interrupted too few operations to mean anything")
            print(
                "crash rounds on \(backend): \(rounds) kill -9 rounds, \(totals.attempted) operations, \(totals.acknowledged) acknowledged, \(totals.interrupted) interrupted; every key in an allowed state"
            )
        }
    }

    private func describe(_ state: KeyState) -> String {
        switch state {
        case .absent: "absent"
        case .present(let body): "\(body.count) bytes '\(String(decoding: body.prefix(14), as: UTF8.self))'"
        }
    }
}
