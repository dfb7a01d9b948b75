import Foundation
import Logging
import NIOConcurrencyHelpers
import Shared
import SplitKeyTestSupport
import Testing

@testable import KeyService

/// One contract for every ``KeyStore``: each test runs on SQLite and on a real PostgreSQL 15
/// (a throwaway cluster; skipped with the printed reason when PostgreSQL is not installed).
/// The store holds no rules, so these check storage only: atomicity, compare-and-set, erasure,
/// paging, the shared unwrap ledger and announcements.
@Suite struct KeyStoreContractTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// Two handles on one store (two replicas' views): the same instance for SQLite, whose
    /// file belongs to one process.
    struct Stores {
        var a: any KeyStore
        var b: any KeyStore
        func close() async {
            await a.close()
            await b.close()
        }
    }

    static let logger = Logger(label: "contract")

    static func open(_ backend: Backend) async throws -> Stores? {
        switch backend {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ks-contract-\(UUID().uuidString)").path
            let store = try SQLiteKeyStore(directory: dir)
            return Stores(a: store, b: store)
        case .postgres:
            guard let url = try await PostgresTestDatabase.fresh() else { return nil }
            var settings = try PostgresSettings.parse(url: url, key: "keyStore.url", path: "test")
            // The contract is about storage, not speed: a loaded CI machine must not fail it.
            settings.timeout = .seconds(60)
            let a = try await PostgresKeyStore.open(settings, migrate: true, logger: logger)
            let b = try await PostgresKeyStore.open(settings, migrate: false, logger: logger)
            return Stores(a: a, b: b)
        }
    }

    static func user(_ id: String, region: String = "eu-west", state: UserRecord.State = .active) -> UserRecord {
        UserRecord(
            id: id, homeRegion: region, state: state, currentKEKVersion: 1, minKEKVersion: 1, createdAt: Timestamps.string(Date()),
            destroyAfter: nil, unwrapLocked: false)
    }

    static func kek(_ user: String, _ version: UInt32) -> SealedKEKRecord {
        SealedKEKRecord(
            userID: user, version: version, sealed: Array(RandomBytes.key256().rawBytes) + [UInt8(version)],
            createdAt: Timestamps.string(Date()), wraps: 0)
    }

    func with(_ backend: Backend, _ body: (Stores) async throws -> Void) async throws {
        guard let stores = try await Self.open(backend) else { return }
        do {
            try await body(stores)
        } catch {
            await stores.close()
            throw error
        }
        await stores.close()
    }

    @Test(arguments: Backend.allCases) func createReadAndDuplicate(_ backend: Backend) async throws {
        try await with(backend) { s in
            let alice = Self.user("alice")
            let first = Self.kek("alice", 1)
            try await s.a.createUser(alice, firstKEK: first)
            #expect(try await s.b.user(id: "alice") == alice)
            #expect(try await s.b.user(id: "bob") == nil)
            #expect(try await s.b.kek(userID: "alice", version: 1) == first)
            #expect(try await s.b.kek(userID: "alice", version: 2) == nil)
            let both = try #require(try await s.b.userAndKEK(id: "alice", version: 1))
            #expect(both.0 == alice && both.1 == first)
            let noVersion = try #require(try await s.b.userAndKEK(id: "alice", version: 9))
            #expect(noVersion.0 == alice && noVersion.1 == nil)
            #expect(try await s.b.userAndKEK(id: "nobody", version: 1) == nil)
            await #expect {
                try await s.b.createUser(Self.user("alice", region: "us-east"), firstKEK: Self.kek("alice", 1))
            } throws: { error in
                if case KeyStoreError.userExists("alice") = error { true } else { false }
            }
            // The refused duplicate changed nothing.
            #expect(try await s.a.user(id: "alice")?.homeRegion == "eu-west")
        }
    }

    @Test(arguments: Backend.allCases) func pagingVisitsEveryUserOnceInOrder(_ backend: Backend) async throws {
        try await with(backend) { s in
            let ids = (0..<25).map { String(format: "user-%02d", $0) }.shuffled()
            for id in ids { try await s.a.createUser(Self.user(id), firstKEK: Self.kek(id, 1)) }
            var seen: [String] = []
            var after: String?
            while true {
                let page = try await s.b.users(after: after, limit: 10)
                #expect(page.count <= 10)
                seen += page.map(\.id)
                guard let last = page.last, page.count == 10 else { break }
                after = last.id
            }
            #expect(seen == ids.sorted())
        }
    }

    @Test(arguments: Backend.allCases) func commitIsCompareAndSet(_ backend: Backend) async throws {
        try await with(backend) { s in
            let alice = Self.user("alice")
            try await s.a.createUser(alice, firstKEK: Self.kek("alice", 1))
            var rotated = alice
            rotated.currentKEKVersion = 2
            let second = Self.kek("alice", 2)
            try await s.a.commit(expected: alice, next: rotated, addKEK: second, eraseKEKs: false)
            #expect(try await s.b.user(id: "alice") == rotated)
            #expect(try await s.b.kek(userID: "alice", version: 2) == second)
            // A decision made on the old row is refused, and nothing of it is applied.
            var suspended = alice
            suspended.state = .suspended
            await #expect {
                try await s.b.commit(expected: alice, next: suspended, addKEK: Self.kek("alice", 3), eraseKEKs: false)
            } throws: { error in
                if case KeyStoreError.changed("alice") = error { true } else { false }
            }
            #expect(try await s.a.user(id: "alice") == rotated)
            #expect(try await s.a.kek(userID: "alice", version: 3) == nil)
            await #expect {
                try await s.a.commit(expected: Self.user("ghost"), next: Self.user("ghost"), addKEK: nil, eraseKEKs: false)
            } throws: { error in
                if case KeyStoreError.noSuchUser("ghost") = error { true } else { false }
            }
        }
    }

    @Test(arguments: Backend.allCases) func concurrentCommitsFromOneReadHaveOneWinner(_ backend: Backend) async throws {
        try await with(backend) { s in
            let alice = Self.user("alice")
            try await s.a.createUser(alice, firstKEK: Self.kek("alice", 1))
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<12 {
                    let store = i % 2 == 0 ? s.a : s.b
                    group.addTask {
                        var next = alice
                        next.currentKEKVersion = 2
                        next.minKEKVersion = UInt32(1 + i % 2)
                        do {
                            try await store.commit(expected: alice, next: next, addKEK: Self.kek("alice", 2), eraseKEKs: false)
                            return true
                        } catch KeyStoreError.changed {
                            return false
                        } catch {
                            Issue.record("unexpected \(error)")
                            return false
                        }
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(try await s.a.user(id: "alice")?.currentKEKVersion == 2)
        }
    }

    @Test(arguments: Backend.allCases) func destroyErasesEveryKEKVersion(_ backend: Backend) async throws {
        try await with(backend) { s in
            let alice = Self.user("alice")
            try await s.a.createUser(alice, firstKEK: Self.kek("alice", 1))
            var rotated = alice
            rotated.currentKEKVersion = 2
            try await s.a.commit(expected: alice, next: rotated, addKEK: Self.kek("alice", 2), eraseKEKs: false)
            try await s.a.createUser(Self.user("bob"), firstKEK: Self.kek("bob", 1))
            var destroyed = rotated
            destroyed.state = .destroyed
            try await s.b.commit(expected: rotated, next: destroyed, addKEK: nil, eraseKEKs: true)
            try await s.b.purgeErased()
            #expect(try await s.a.kek(userID: "alice", version: 1) == nil)
            #expect(try await s.a.kek(userID: "alice", version: 2) == nil)
            #expect(try await s.a.user(id: "alice")?.state == .destroyed)
            #expect(try await s.a.kek(userID: "bob", version: 1) != nil)
        }
    }

    @Test(arguments: Backend.allCases) func wrapCountsAreAtomic(_ backend: Backend) async throws {
        try await with(backend) { s in
            try await s.a.createUser(Self.user("alice"), firstKEK: Self.kek("alice", 1))
            let counts = await withTaskGroup(of: Int64.self) { group in
                for i in 0..<20 {
                    let store = i % 2 == 0 ? s.a : s.b
                    group.addTask { (try? await store.countWrap(userID: "alice", version: 1)) ?? -1 }
                }
                return await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(counts.sorted() == Array(1...20))
            #expect(try await s.a.kek(userID: "alice", version: 1)?.wraps == 20)
        }
    }

    @Test(arguments: Backend.allCases) func revocationsAndKeyCheck(_ backend: Backend) async throws {
        try await with(backend) { s in
            try await s.a.setRevoked("spiffe://splitkey.test/node/b", revoked: true)
            try await s.a.setRevoked("spiffe://splitkey.test/node/a", revoked: true)
            try await s.a.setRevoked("spiffe://splitkey.test/node/a", revoked: true)
            #expect(try await s.b.revokedIdentities() == ["spiffe://splitkey.test/node/a", "spiffe://splitkey.test/node/b"])
            try await s.b.setRevoked("spiffe://splitkey.test/node/a", revoked: false)
            try await s.b.setRevoked("spiffe://splitkey.test/node/never", revoked: false)
            #expect(try await s.a.revokedIdentities() == ["spiffe://splitkey.test/node/b"])

            let first = try await s.a.keyCheck(orCreate: { [1, 2, 3] })
            let again = try await s.b.keyCheck(orCreate: { [9, 9, 9] })
            #expect(first == [1, 2, 3] && again == first)
            try await s.b.ping()
        }
    }

    @Test(arguments: Backend.allCases) func theUnwrapLedgerSumsEveryReplica(_ backend: Backend) async throws {
        try await with(backend) { s in
            let window: Int64 = 1_800_000_000
            #expect(try await s.a.countUnwraps(["alice": 3, "bob": 1], window: window) == ["alice": 3, "bob": 1])
            #expect(try await s.b.countUnwraps(["alice": 4], window: window) == ["alice": 7])
            #expect(try await s.a.countUnwraps(["alice": 0], window: window) == ["alice": 7])
            try await s.b.clearUnwraps(userID: "alice")
            #expect(try await s.a.countUnwraps(["alice": 1, "bob": 0], window: window) == ["alice": 1, "bob": 1])
            // A new window starts at zero and drops the old ones.
            #expect(try await s.b.countUnwraps(["bob": 2], window: window + 3600) == ["bob": 2])
            #expect(try await s.b.countUnwraps(["alice": 0], window: window + 3600) == ["alice": 0])
        }
    }

    @Test(arguments: Backend.allCases) func budgetsCountedThroughTheLedgerAreGlobal(_ backend: Backend) async throws {
        try await with(backend) { s in
            let now = Date()
            let replicaA = UnwrapBudget(budget: 10, windowSeconds: 3600)
            let replicaB = UnwrapBudget(budget: 10, windowSeconds: 3600)
            for _ in 0..<6 { #expect(!replicaA.exceeds("alice", now: now)) }
            try await replicaA.flush(to: s.a, now: now)
            for _ in 0..<4 { #expect(!replicaB.exceeds("alice", now: now)) }
            try await replicaB.flush(to: s.b, now: now)
            // B now knows of all ten; the eleventh, on B, exceeds, and the ledger confirms it.
            #expect(replicaB.exceeds("alice", now: now))
            #expect(try await replicaB.confirm("alice", store: s.b, now: now))
            // After an admin clears the ledger, A's stale count is overruled by the fresh total.
            try await s.a.clearUnwraps(userID: "alice")
            #expect(try await replicaA.confirm("alice", store: s.a, now: now) == false)
        }
    }

    @Test func postgresAnnouncesChangesToOtherReplicas() async throws {
        guard let s = try await Self.open(.postgres) else { return }
        let heard = NIOLockedValueBox<[KeyStoreChange]>([])
        let follower = Task { try await s.b.followChanges { change in heard.withLockedValue { $0.append(change) } } }
        // LISTEN is in place once a change sent after it is heard; repeat until then.
        for _ in 0..<50 where !heard.withLockedValue({ $0.contains(.revocations) }) {
            try await s.a.setRevoked("spiffe://splitkey.test/node/x", revoked: true)
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(heard.withLockedValue { $0.contains(.revocations) })
        let alice = Self.user("alice")
        try await s.a.createUser(alice, firstKEK: Self.kek("alice", 1))
        var locked = alice
        locked.unwrapLocked = true
        try await s.a.commit(expected: alice, next: locked, addKEK: nil, eraseKEKs: false)
        for _ in 0..<20 where !heard.withLockedValue({ $0.contains(.user("alice")) }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(heard.withLockedValue { $0.contains(.user("alice")) })
        follower.cancel()
        _ = await follower.result
        await s.close()
    }

    @Test func postgresMigratesOnceWhenReplicasStartTogether() async throws {
        guard let url = try await PostgresTestDatabase.fresh() else { return }
        var parsed = try PostgresSettings.parse(url: url, key: "keyStore.url", path: "test")
        // Four pools connecting at once on a loaded CI machine: time, not the lock, is the risk.
        parsed.timeout = .seconds(60)
        let settings = parsed
        let stores = try await withThrowingTaskGroup(of: PostgresKeyStore.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresKeyStore.open(settings, migrate: true, logger: Self.logger) } }
            return try await group.reduce(into: [PostgresKeyStore]()) { $0.append($1) }
        }
        for store in stores { await store.close() }
        let applied = try await PostgresTestDatabase.psql(
            url, "SELECT string_agg(version::text, ',' ORDER BY version) FROM splitkey_schema")
        #expect(applied == PostgresMigrations.all.map { String($0.version) }.joined(separator: ","))
        // A schema newer than the binary is refused, with or without migrating.
        _ = try await PostgresTestDatabase.psql(url, "INSERT INTO splitkey_schema (version, name) VALUES (999, 'from-the-future')")
        for migrate in [false, true] {
            await #expect {
                try await PostgresKeyStore.open(settings, migrate: migrate, logger: Self.logger)
            } throws: { error in
                "\(error)".contains("newer than this keyservice knows")
            }
        }
    }

    @Test func postgresDownEndsEveryCallByTheDeadline() async throws {
        guard try await PostgresTestDatabase.fresh() != nil else { return }
        // A port nothing listens on: the pool never gets a connection.
        let port = try freeLoopbackPort()
        var settings = try PostgresSettings.parse(
            url: "postgres://splitkey@127.0.0.1:\(port)/postgres", key: "keyStore.url", path: "test")
        settings.timeout = .seconds(1)
        let started = ContinuousClock.now
        await #expect(throws: KeyStoreError.self) {
            try await PostgresKeyStore.open(settings, migrate: true, logger: Self.logger)
        }
        // Opening's deadline is 5 s (five times the call deadline); on a loaded machine with
        // two cooperative threads the timer itself may fire late: a bound far from a hang.
        let elapsed = ContinuousClock.now - started
        print("opening on a port nothing listens on failed after \(elapsed)")
        #expect(elapsed < .seconds(60))
    }
}
