import Foundation
import Logging
import Shared
import SplitKeyPostgres
import SplitKeyTestSupport
import Testing

@testable import StorageNode

/// One contract for every ``MetadataStore``: SQLite (one node) and PostgreSQL (every node of a
/// region), the latter on a real PostgreSQL 15 (skipped with the printed reason when it is not
/// installed). Two handles on one PostgreSQL database stand for two nodes.
@Suite struct MetadataStoreContractTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    struct Stores {
        var a: any MetadataStore
        var b: any MetadataStore
        var close: @Sendable () async -> Void
    }

    static let logger = Logger(label: "metadata-contract")

    static func open(_ backend: Backend) async throws -> Stores? {
        switch backend {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("node-contract-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let store = try SQLiteMetadataStore(directory: dir.path)
            return Stores(a: store, b: store, close: { try? FileManager.default.removeItem(at: dir) })
        case .postgres:
            guard let url = try await PostgresTestDatabase.fresh() else { return nil }
            var settings = try PostgresSettings.parse(url: url, key: "metadata.url", path: "test")
            // The contract, not the deadline, is under test here: generous for a loaded CI machine.
            settings.timeout = .seconds(60)
            let a = try await PostgresMetadataStore.open(settings, migrate: true, logger: logger)
            let b = try await PostgresMetadataStore.open(settings, migrate: false, logger: logger)
            return Stores(
                a: a, b: b,
                close: {
                    await a.close()
                    await b.close()
                })
        }
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

    static func record(_ key: String, user: String = "alice", dataKey: Int64, size: Int64 = 10) -> ObjectRecord {
        ObjectRecord(
            userID: user, key: key, blobName: BlobName.make(), writeID: RandomBytes.bytes(16), dataKeyID: dataKey, size: size,
            createdAt: Date(timeIntervalSince1970: Double(Int(Date().timeIntervalSince1970))))
    }

    @Test(arguments: Backend.allCases) func putReplaceReadAndDelete(_ backend: Backend) async throws {
        try await with(backend) { s in
            let key = try await s.a.insertDataKey(user: "alice", wrapped: [1, 2, 3], kekVersion: 4)
            let read = try await s.b.dataKey(id: key.id)
            #expect(read == key, "\(String(describing: read)) vs \(key)")
            #expect(try await s.b.currentDataKey(user: "alice") == key)
            #expect(try await s.b.currentDataKey(user: "bob") == nil)
            let first = Self.record("photos/a.jpg", dataKey: key.id)
            #expect(try await s.a.put(first) == nil)
            #expect(try await s.b.object(user: "alice", key: "photos/a.jpg") == first)
            #expect(try await s.b.object(user: "bob", key: "photos/a.jpg") == nil)
            let second = Self.record("photos/a.jpg", dataKey: key.id, size: 20)
            #expect(try await s.b.put(second) == first)
            #expect(try await s.a.object(user: "alice", key: "photos/a.jpg") == second)
            #expect(try await s.a.dataKey(id: key.id)?.objectCount == 2)
            #expect(try await s.b.delete(user: "alice", key: "photos/a.jpg") == second)
            #expect(try await s.a.delete(user: "alice", key: "photos/a.jpg") == nil)
            #expect(try await s.a.object(user: "alice", key: "photos/a.jpg") == nil)
        }
    }

    @Test(arguments: Backend.allCases) func listingIsByteOrderedPrefixedAndPaged(_ backend: Backend) async throws {
        try await with(backend) { s in
            let key = try await s.a.insertDataKey(user: "alice", wrapped: [1], kekVersion: 1)
            // Byte order, not a locale's: "B" < "a" < "b" < "é".
            let keys = ["a", "a/1", "a/2", "a%", "a_", "B", "b", "é", "a/é"]
            for k in keys { _ = try await s.a.put(Self.record(k, dataKey: key.id)) }
            _ = try await s.a.put(Self.record("a/other-user", user: "bob", dataKey: key.id))
            let all = try await s.b.list(user: "alice", prefix: "", startAfter: "", limit: 100).map(\.key)
            #expect(all == keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
            // The prefix is literal: % and _ are no wildcards.
            #expect(try await s.b.list(user: "alice", prefix: "a/", startAfter: "", limit: 100).map(\.key) == ["a/1", "a/2", "a/é"])
            #expect(try await s.b.list(user: "alice", prefix: "a%", startAfter: "", limit: 100).map(\.key) == ["a%"])
            var paged: [String] = []
            var after = ""
            while true {
                let page = try await s.b.list(user: "alice", prefix: "", startAfter: after, limit: 2)
                if page.isEmpty { break }
                paged += page.map(\.key)
                after = page.last!.key
            }
            #expect(paged == all)
        }
    }

    @Test(arguments: Backend.allCases) func concurrentOverwritesOfOneKeyLoseTrackOfNoBlob(_ backend: Backend) async throws {
        try await with(backend) { s in
            let key = try await s.a.insertDataKey(user: "alice", wrapped: [1], kekVersion: 1)
            let writes = (0..<16).map { _ in Self.record("same", dataKey: key.id) }
            let (a, b) = (s.a, s.b)
            let replaced = try await withThrowingTaskGroup(of: String?.self) { group in
                for (n, record) in writes.enumerated() {
                    group.addTask { try await (n % 2 == 0 ? a : b).put(record)?.blobName }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            // Each write replaced the one before it: every blob but the final one was handed back once.
            let final = try #require(try await s.a.object(user: "alice", key: "same"))
            let handedBack = replaced.compactMap { $0 }
            #expect(handedBack.count == writes.count - 1)
            #expect(Set(handedBack + [final.blobName]) == Set(writes.map(\.blobName)))
            #expect(try await s.b.existingBlobNames(writes.map(\.blobName)) == [final.blobName])
        }
    }

    @Test(arguments: Backend.allCases) func dataKeysPageAndReplaceWrappedIsCompareAndSet(_ backend: Backend) async throws {
        try await with(backend) { s in
            var made: [DataKeyRecord] = []
            for n in 0..<5 {
                made.append(try await s.a.insertDataKey(user: n % 2 == 0 ? "alice" : "bob", wrapped: [UInt8(n)], kekVersion: 1))
            }
            #expect(try await s.b.dataKeys(user: nil, afterID: 0, limit: 10).map(\.id) == made.map(\.id))
            #expect(try await s.b.dataKeys(user: "alice", afterID: 0, limit: 10).map(\.id) == [made[0].id, made[2].id, made[4].id])
            #expect(try await s.b.dataKeys(user: nil, afterID: made[1].id, limit: 2).map(\.id) == [made[2].id, made[3].id])
            #expect(try await s.a.replaceWrapped(id: made[0].id, old: [0], new: [9, 9], kekVersion: 2))
            #expect(try await !s.b.replaceWrapped(id: made[0].id, old: [0], new: [8], kekVersion: 3))
            let now = try #require(try await s.b.dataKey(id: made[0].id))
            #expect(now.wrapped == [9, 9] && now.kekVersion == 2)
            #expect(try await s.a.currentDataKey(user: "alice")?.id == made[4].id)
            try await s.b.ping()
        }
    }

    @Test(arguments: Backend.allCases) func storeIDIsOnePerDatabase(_ backend: Backend) async throws {
        var ids: [String] = []
        for _ in 0..<2 {
            try await with(backend) { s in
                let id = try await s.a.storeID()
                #expect(id.count == 32 && id.allSatisfy(\.isHexDigit), "\(id)")
                // Every connection to one database, and every call, names the same identity.
                #expect(try await s.b.storeID() == id)
                #expect(try await s.a.storeID() == id)
                ids.append(id)
            }
        }
        if ids.count == 2 { #expect(ids[0] != ids[1]) }
    }

    @Test(arguments: Backend.allCases) func existingBlobNamesFindsOnlyRecordedOnes(_ backend: Backend) async throws {
        try await with(backend) { s in
            let key = try await s.a.insertDataKey(user: "alice", wrapped: [1], kekVersion: 1)
            let kept = (0..<3).map { Self.record("k\($0)", dataKey: key.id) }
            for record in kept { _ = try await s.a.put(record) }
            let orphans = (0..<1200).map { _ in BlobName.make() }
            #expect(try await s.b.existingBlobNames(orphans + kept.map(\.blobName)) == Set(kept.map(\.blobName)))
            #expect(try await s.b.existingBlobNames([]) == [])
        }
    }

    @Test func postgresDownEndsEveryCallByTheDeadline() async throws {
        if let reason = PostgresCluster.skipReason {
            print("PostgreSQL suites skipped: \(reason)")
            return
        }
        let cluster = try await PostgresCluster.start(label: "metadata-down")
        defer { Task { await cluster.remove() } }
        var settings = try PostgresSettings.parse(url: try await cluster.createDatabase(), key: "metadata.url", path: "test")
        // Opening (pool, migrations) on a loaded machine may take many seconds; every call's
        // deadline is this, so the bound below is this deadline plus slack, never a hang.
        settings.timeout = .seconds(20)
        let store = try await PostgresMetadataStore.open(settings, migrate: true, logger: Self.logger)
        try await cluster.kill()
        let started = ContinuousClock.now
        await #expect(throws: StorageError.self) { _ = try await store.object(user: "alice", key: "k") }
        print("metadata call on a killed PostgreSQL ended after \(ContinuousClock.now - started)")
        #expect(ContinuousClock.now - started < .seconds(60))
        try await cluster.start()
        var back = false
        for _ in 0..<50 where !back {
            back = (try? await store.ping()) != nil
            if !back { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(back, "the store did not come back after PostgreSQL restarted")
        await store.close()
    }
}
