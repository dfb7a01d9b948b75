import AsyncHTTPClient
import Foundation
import GRDB
import NIOConcurrencyHelpers
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// Many rounds of kill -9 of the KeyService while nodes generate data keys and an admin creates
/// users and rotates KEKs. After each restart: the database passes SQLite's integrity check,
/// every acknowledged user exists, no acknowledged KEK version is lost, and every acknowledged
/// data key still unwraps to the same bytes. At the end the audit chain verifies.
/// `SPLITKEY_CRASH_ROUNDS` sets the number of rounds (100).
@Suite(.serialized)
struct KeyServiceCrashRoundsTests {
    static var rounds: Int { ProcessInfo.processInfo.environment["SPLITKEY_CRASH_ROUNDS"].flatMap(Int.init) ?? 100 }

    struct Acknowledged: Sendable {
        var users: [String] = []
        var rotations: [(user: String, version: UInt32)] = []
        var keys: [(user: String, context: String, wrapped: String, plaintext: String)] = []
        var failures = 0
    }

    @Test func keyServiceKilledDuringGenerateAndAdminKeepsEveryAcknowledgedWrite() async throws {
        try await withKeyService { ks in
            var users: [String] = []
            var versions: [String: UInt32] = [:]
            var keys: [(user: String, context: String, wrapped: String, plaintext: String)] = []
            var generator = SystemRandomNumberGenerator()
            var interrupted = 0

            for round in 0..<Self.rounds {
                let admin = try ks.freshClient("admin")
                let node = try ks.freshClient("node-eu-west")
                let killAfter = Int.random(in: 3...10, using: &generator)
                let acks = NIOLockedValueBox(0)
                let killing = NIOLockedValueBox(false)
                let known = users
                let results = await withTaskGroup(of: Acknowledged.self) { group in
                    // The admin creates users and rotates known ones.
                    group.addTask {
                        var mine = Acknowledged()
                        for n in 0..<40 {
                            if n % 2 == 0 || known.isEmpty {
                                let id = "r\(round)u\(n)"
                                let r = try? await admin.call(
                                    .POST, ks.baseURL + KeyServiceAPI.Path.users,
                                    json: KeyServiceAPI.CreateUserRequest(id: id, homeRegion: "eu-west"))
                                if r?.status == .created { mine.users.append(id) } else { mine.failures += 1 }
                            } else {
                                let id = known.randomElement()!
                                let r = try? await admin.call(.POST, ks.baseURL + KeyServiceAPI.Path.users + "/\(id)/rotate")
                                if r?.status == .ok, let user = try? r?.decode(KeyServiceAPI.User.self) {
                                    mine.rotations.append((id, user.currentKEKVersion))
                                } else {
                                    mine.failures += 1
                                }
                            }
                            if mine.failures > 0 { break }
                            acks.withLockedValue { $0 += 1 }
                        }
                        return mine
                    }
                    // Two nodes' worth of generate calls for known users.
                    for worker in 0..<2 where !known.isEmpty {
                        group.addTask {
                            var mine = Acknowledged()
                            for n in 0..<40 {
                                let id = known.randomElement()!
                                let context = "r\(round)w\(worker)n\(n)"
                                let r = try? await node.call(
                                    .POST, ks.baseURL + KeyServiceAPI.Path.generate,
                                    json: KeyServiceAPI.GenerateRequest(user: id, context: context))
                                if r?.status == .ok, let key = try? r?.decode(KeyServiceAPI.GenerateResponse.self),
                                    let plaintext = key.plaintext
                                {
                                    mine.keys.append((id, context, key.wrapped, plaintext))
                                } else {
                                    mine.failures += 1
                                }
                                if mine.failures > 0 { break }
                                acks.withLockedValue { $0 += 1 }
                            }
                            return mine
                        }
                    }
                    group.addTask {
                        let limit = ContinuousClock.now + .seconds(30)
                        while acks.withLockedValue({ $0 }) < killAfter && ContinuousClock.now < limit {
                            try? await Task.sleep(for: .milliseconds(2))
                        }
                        killing.withLockedValue { $0 = true }
                        await ks.kill()
                        return Acknowledged()
                    }
                    var all: [Acknowledged] = []
                    for await part in group { all.append(part) }
                    return all
                }
                try await admin.shutdown()
                try await node.shutdown()
                #expect(killing.withLockedValue { $0 }, "round \(round): a request failed before the kill")
                interrupted += results.reduce(0) { $0 + $1.failures }

                // The database a crash left behind opens clean, before the daemon touches it.
                let check = try await DatabaseQueue(path: ks.path("state/keyservice/keyservice.sqlite")).read { db in
                    try String.fetchAll(db, sql: "PRAGMA integrity_check")
                }
                #expect(check == ["ok"], "round \(round): integrity_check \(check)")
                try await ks.start()

                for part in results {
                    users += part.users
                    for rotation in part.rotations { versions[rotation.user] = max(versions[rotation.user] ?? 1, rotation.version) }
                    keys += part.keys
                }
                try await verify(ks, round: round, users: users, versions: versions, newKeys: results.flatMap(\.keys))
            }
            // Every acknowledged key of every round still opens after all the crashes.
            try await verify(ks, round: Self.rounds, users: users, versions: versions, newKeys: keys)
            let audit = try await ChildProcess.run(
                try TestPaths.binary("keyservice"),
                ["audit", "verify", ks.path("state/keyservice/audit.log"), "--key-file", ks.path("audit-key")],
                in: ks.dir
            )
            #expect(audit.status == 0, "audit chain after \(Self.rounds) crashes: \(audit.output)")
            #expect(interrupted >= Self.rounds / 2, "the kills interrupted too few requests to mean anything")
            print(
                "keyservice crash rounds: \(Self.rounds) kill -9 rounds; \(users.count) users, \(versions.count) rotated, \(keys.count) data keys acknowledged and intact; \(interrupted) requests cut off; \(audit.output.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
    }

    private func verify(
        _ ks: KeyServiceFixture, round: Int, users: [String], versions: [String: UInt32],
        newKeys: [(user: String, context: String, wrapped: String, plaintext: String)]
    ) async throws {
        let admin = try ks.freshClient("admin")
        let node = try ks.freshClient("node-eu-west")
        defer {
            Task {
                try? await admin.shutdown(); try? await node.shutdown()
            }
        }
        var byID: [String: KeyServiceAPI.User] = [:]
        var after: String?
        repeat {
            let query = "?limit=1000" + (after.map { "&after=\($0)" } ?? "")
            let page = try await admin.call(.GET, ks.baseURL + KeyServiceAPI.Path.users + query).decode(KeyServiceAPI.UserList.self)
            for user in page.users { byID[user.id] = user }
            after = page.next
        } while after != nil
        for id in users {
            #expect(byID[id] != nil, "round \(round): acknowledged user \(id) lost")
            if let want = versions[id] {
                #expect((byID[id]?.currentKEKVersion ?? 0) >= want, "round \(round): acknowledged KEK v\(want) of \(id) lost")
            }
        }
        for key in newKeys {
            let r = try await node.call(
                .POST, ks.baseURL + KeyServiceAPI.Path.unwrap,
                json: KeyServiceAPI.UnwrapRequest(user: key.user, wrapped: key.wrapped, context: key.context, reason: .userRequest))
            #expect(r.status == .ok, "round \(round): acknowledged data key of \(key.user) (\(key.context)) no longer unwraps: \(r.status)")
            #expect(
                (try? r.decode(KeyServiceAPI.UnwrapResponse.self).plaintext) == key.plaintext,
                "round \(round): \(key.context) unwraps to other bytes")
        }
    }
}
