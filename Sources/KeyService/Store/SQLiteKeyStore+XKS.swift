import Foundation
import GRDB
import Shared

extension SQLiteKeyStore {
    func createXKSKey(_ key: XKSKeyRecord) async throws(KeyStoreError) {
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM xks_keys WHERE id = ?", arguments: [key.id]) != nil {
                throw KeyStoreError.keyExists(key.id)
            }
            try db.execute(
                sql: "INSERT INTO xks_keys (id, usage, state, sealed, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [key.id, key.usageText, key.state.rawValue, Data(key.sealed), key.createdAt])
        }
    }

    func xksKey(id: String) async throws(KeyStoreError) -> XKSKeyRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM xks_keys WHERE id = ?"), arguments: [id]).map(Self.xksKey(from:))
        }
    }

    func xksKeys(after: String?, limit: Int) async throws(KeyStoreError) -> [XKSKeyRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM xks_keys WHERE id > ? ORDER BY id LIMIT ?", arguments: [after ?? "", limit])
                .map(Self.xksKey(from:))
        }
    }

    func commitXKSKey(expected: XKSKeyRecord, next: XKSKeyRecord) async throws(KeyStoreError) {
        try await write { db in
            let current = try Row.fetchOne(db, sql: "SELECT * FROM xks_keys WHERE id = ?", arguments: [expected.id]).map(Self.xksKey(from:))
            guard current == expected else { throw KeyStoreError.changed(expected.id) }
            // secure_delete overwrites the old sealed bytes when a destroy empties them.
            try db.execute(
                sql: "UPDATE xks_keys SET usage = ?, state = ?, sealed = ? WHERE id = ?",
                arguments: [next.usageText, next.state.rawValue, Data(next.sealed), next.id])
        }
    }

    func heartbeat(replica: String, status: String, at: Int64) async throws(KeyStoreError) {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO replica_heartbeats (replica, status, seen_at) VALUES (?, ?, ?)
                    ON CONFLICT (replica) DO UPDATE SET status = excluded.status, seen_at = excluded.seen_at
                    """,
                arguments: [replica, status, at])
        }
    }

    func replicaHeartbeats(since: Int64) async throws(KeyStoreError) -> [ReplicaHeartbeat] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM replica_heartbeats WHERE seen_at >= ? ORDER BY replica", arguments: [since]).map {
                ReplicaHeartbeat(replica: $0["replica"], status: $0["status"], seenAt: $0["seen_at"])
            }
        }
    }

    static func xksKey(from row: Row) throws -> XKSKeyRecord {
        let state: String = row["state"]
        guard let parsed = XKSKeyRecord.State(rawValue: state) else {
            throw KeyStoreError.storage("external key \(row["id"] as String) has unknown state '\(state)'")
        }
        return XKSKeyRecord(
            id: row["id"], usage: try XKSKeyRecord.usage(fromText: row["usage"]), state: parsed, sealed: Array(row["sealed"] as Data),
            createdAt: row["created_at"])
    }
}
