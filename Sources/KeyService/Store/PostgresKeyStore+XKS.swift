import Foundation
import PostgresNIO
import Shared

extension PostgresKeyStore {
    func createXKSKey(_ key: XKSKeyRecord) async throws(KeyStoreError) {
        let created = try await deadline { client, logger in
            let rows = try await client.query(
                """
                INSERT INTO xks_keys (id, usage, state, sealed, created_at)
                VALUES (\(key.id), \(key.usageText), \(key.state.rawValue), \(Data(key.sealed)), \(key.createdAt))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: logger)
            var count = 0
            for try await _ in rows { count += 1 }
            return count == 1
        }
        guard created else { throw .keyExists(key.id) }
    }

    func xksKey(id: String) async throws(KeyStoreError) -> XKSKeyRecord? {
        try await xksKeys(where: "id = ", id, limit: 1).first
    }

    func xksKeys(after: String?, limit: Int) async throws(KeyStoreError) -> [XKSKeyRecord] {
        try await xksKeys(where: "id > ", after ?? "", limit: limit)
    }

    private func xksKeys(where condition: String, _ value: String, limit: Int) async throws(KeyStoreError) -> [XKSKeyRecord] {
        let rows = try await deadline { client, logger in
            let rows = try await client.query(
                "SELECT id, usage, state, sealed, created_at FROM xks_keys WHERE \(unescaped: condition)\(value) ORDER BY id LIMIT \(limit)",
                logger: logger)
            var found: [(String, String, String, Data, String)] = []
            for try await row in rows.decode((String, String, String, Data, String).self) { found.append(row) }
            return found
        }
        var keys: [XKSKeyRecord] = []
        for (id, usage, state, sealed, createdAt) in rows {
            guard let parsed = XKSKeyRecord.State(rawValue: state) else {
                throw .storage("external key \(id) has unknown state '\(state)'")
            }
            keys.append(
                XKSKeyRecord(
                    id: id, usage: try XKSKeyRecord.usage(fromText: usage), state: parsed, sealed: Array(sealed), createdAt: createdAt))
        }
        return keys
    }

    func commitXKSKey(expected: XKSKeyRecord, next: XKSKeyRecord) async throws(KeyStoreError) {
        try await transaction { tx, logger in
            let rows = try await tx.query(
                "SELECT usage, state, sealed FROM xks_keys WHERE id = \(expected.id) FOR UPDATE", logger: logger)
            var current: (String, String, Data)?
            for try await row in rows.decode((String, String, Data).self) { current = row }
            guard let current, current.0 == expected.usageText, current.1 == expected.state.rawValue, Array(current.2) == expected.sealed
            else { throw KeyStoreError.changed(expected.id) }
            _ = try await tx.query(
                """
                UPDATE xks_keys SET usage = \(next.usageText), state = \(next.state.rawValue), sealed = \(Data(next.sealed))
                WHERE id = \(next.id)
                """, logger: logger)
        }
    }

    func heartbeat(replica: String, status: String, at: Int64) async throws(KeyStoreError) {
        try await deadline { client, logger in
            _ = try await client.query(
                """
                INSERT INTO replica_heartbeats (replica, status, seen_at) VALUES (\(replica), \(status), \(at))
                ON CONFLICT (replica) DO UPDATE SET status = EXCLUDED.status, seen_at = EXCLUDED.seen_at
                """, logger: logger)
        }
    }

    func replicaHeartbeats(since: Int64) async throws(KeyStoreError) -> [ReplicaHeartbeat] {
        try await deadline { client, logger in
            let rows = try await client.query(
                "SELECT replica, status, seen_at FROM replica_heartbeats WHERE seen_at >= \(since) ORDER BY replica", logger: logger)
            var beats: [ReplicaHeartbeat] = []
            for try await (replica, status, seenAt) in rows.decode((String, String, Int64).self) {
                beats.append(ReplicaHeartbeat(replica: replica, status: status, seenAt: seenAt))
            }
            return beats
        }
    }
}
