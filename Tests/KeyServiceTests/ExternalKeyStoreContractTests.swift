import Foundation
import Shared
import Testing

@testable import KeyService

/// The external keys and heartbeats of ``ExternalKeyStore``, on SQLite and PostgreSQL alike (the
/// stores and their opening are ``KeyStoreContractTests``'s).
@Suite struct ExternalKeyStoreContractTests {
    typealias Backend = KeyStoreContractTests.Backend

    static func key(_ id: String, usage: Set<XKSAPI.KeyUsage> = [.encrypt, .decrypt]) -> XKSKeyRecord {
        XKSKeyRecord(
            id: id, usage: usage, state: .enabled, sealed: Array(RandomBytes.key256().rawBytes) + Array(id.utf8),
            createdAt: Timestamps.string(Date()))
    }

    @Test(arguments: Backend.allCases) func createReadPageAndNeverReuseAnID(_ backend: Backend) async throws {
        try await KeyStoreContractTests().with(backend) { s in
            let k1 = Self.key("k1")
            try await s.a.createXKSKey(k1)
            #expect(try await s.b.xksKey(id: "k1") == k1)
            #expect(try await s.b.xksKey(id: "k2") == nil)
            await #expect(throws: KeyStoreError.self) { try await s.b.createXKSKey(Self.key("k1")) }
            for usage: Set<XKSAPI.KeyUsage> in [[], [.encrypt], [.decrypt]] {
                let id = "u-" + usage.sorted().map(\.rawValue).joined(separator: "-")
                try await s.a.createXKSKey(Self.key(id, usage: usage))
                #expect(try await s.b.xksKey(id: id)?.usage == usage)
            }
            let all = try await s.b.xksKeys(after: nil, limit: 100).map(\.id)
            #expect(all == all.sorted() && all.count == 4)
            #expect(try await s.b.xksKeys(after: all[1], limit: 1).map(\.id) == [all[2]])

            // A destroyed key keeps its row (its id stays taken) without its material.
            var destroyed = k1
            destroyed.state = .destroyed
            destroyed.sealed = []
            try await s.a.commitXKSKey(expected: k1, next: destroyed)
            #expect(try await s.b.xksKey(id: "k1") == destroyed)
            await #expect(throws: KeyStoreError.self) { try await s.a.createXKSKey(Self.key("k1")) }
        }
    }

    @Test(arguments: Backend.allCases) func commitIsCompareAndSetWithOneWinner(_ backend: Backend) async throws {
        try await KeyStoreContractTests().with(backend) { s in
            let key = Self.key("race")
            try await s.a.createXKSKey(key)
            var next = key
            next.state = .disabled
            let disabled = next
            let (a, b) = (s.a, s.b)
            let wins = await withTaskGroup(of: Bool.self) { group in
                for n in 0..<12 {
                    let store = n % 2 == 0 ? a : b
                    group.addTask { (try? await store.commitXKSKey(expected: key, next: disabled)) != nil }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
            #expect(try await s.b.xksKey(id: "race")?.state == .disabled)
            // Committing from the stale read is refused.
            await #expect(throws: KeyStoreError.self) { try await s.a.commitXKSKey(expected: key, next: disabled) }
        }
    }

    @Test(arguments: Backend.allCases) func heartbeatsListFreshReplicas(_ backend: Backend) async throws {
        try await KeyStoreContractTests().with(backend) { s in
            try await s.a.heartbeat(replica: "ks-1", status: "ACTIVE", at: 1000)
            try await s.b.heartbeat(replica: "ks-2", status: "UNAVAILABLE", at: 1005)
            try await s.a.heartbeat(replica: "ks-1", status: "ACTIVE", at: 1010)
            #expect(
                try await s.b.replicaHeartbeats(since: 1000) == [
                    ReplicaHeartbeat(replica: "ks-1", status: "ACTIVE", seenAt: 1010),
                    ReplicaHeartbeat(replica: "ks-2", status: "UNAVAILABLE", seenAt: 1005),
                ])
            #expect(try await s.a.replicaHeartbeats(since: 1006).map(\.replica) == ["ks-1"])
        }
    }
}
