import Foundation
import GRDB

/// The embedded ``MetadataStore``: SQLite in WAL mode with `synchronous=FULL`, so a returned
/// commit survives a crash or power loss.
struct SQLiteMetadataStore: MetadataStore {
    static let fileName = "metadata.sqlite"
    let pool: DatabasePool
    private let batcher: MetadataWriteBatcher

    init(directory: String) throws(StorageError) {
        do {
            var config = Configuration()
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                try db.execute(sql: "PRAGMA secure_delete = ON")
            }
            pool = try DatabasePool(path: directory + "/" + Self.fileName, configuration: config)
            try Self.migrator.migrate(pool)
            batcher = MetadataWriteBatcher(pool: pool)
        } catch {
            throw .metadata("cannot open \(directory)/\(Self.fileName): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE data_keys (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        user_id TEXT NOT NULL,
                        wrapped BLOB NOT NULL,
                        kek_version INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        object_count INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX data_keys_user ON data_keys (user_id, id);
                    CREATE TABLE objects (
                        user_id TEXT NOT NULL,
                        key TEXT NOT NULL,
                        blob_name TEXT NOT NULL UNIQUE,
                        write_id BLOB NOT NULL,
                        data_key_id INTEGER NOT NULL REFERENCES data_keys(id),
                        size INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (user_id, key)
                    );
                    """
            )
        }
        // The database's identity, made once with it: what the blob store's label names (StoreBinding).
        m.registerMigration("v2-store-identity") { db in
            try db.execute(
                sql: """
                    CREATE TABLE store_identity (id TEXT NOT NULL);
                    INSERT INTO store_identity (id) VALUES (lower(hex(randomblob(16))));
                    """
            )
        }
        return m
    }

    func storeID() async throws(StorageError) -> String {
        let id = try await read { db in try String.fetchOne(db, sql: "SELECT id FROM store_identity") }
        guard let id else { throw .metadata("the store_identity table of \(pool.path) is empty") }
        return id
    }

    func object(user: String, key: String) async throws(StorageError) -> ObjectRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM objects WHERE user_id = ? AND key = ?"), arguments: [user, key])
                .map(Self.object)
        }
    }

    func put(_ record: ObjectRecord) async throws(StorageError) -> ObjectRecord? {
        try await write { db in
            let old = try Row.fetchOne(
                db, sql: "SELECT * FROM objects WHERE user_id = ? AND key = ?", arguments: [record.userID, record.key]
            )
            .map(Self.object)
            try db.execute(
                sql: """
                    INSERT INTO objects (user_id, key, blob_name, write_id, data_key_id, size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (user_id, key) DO UPDATE SET blob_name = excluded.blob_name, write_id = excluded.write_id,
                        data_key_id = excluded.data_key_id, size = excluded.size, created_at = excluded.created_at
                    """,
                arguments: [
                    record.userID, record.key, record.blobName, Data(record.writeID), record.dataKeyID, record.size,
                    record.createdAt.timeIntervalSince1970,
                ]
            )
            try db.execute(sql: "UPDATE data_keys SET object_count = object_count + 1 WHERE id = ?", arguments: [record.dataKeyID])
            return old
        }
    }

    func delete(user: String, key: String) async throws(StorageError) -> ObjectRecord? {
        try await write { db in
            let old = try Row.fetchOne(db, sql: "SELECT * FROM objects WHERE user_id = ? AND key = ?", arguments: [user, key]).map(
                Self.object)
            if old != nil {
                try db.execute(sql: "DELETE FROM objects WHERE user_id = ? AND key = ?", arguments: [user, key])
            }
            return old
        }
    }

    func list(user: String, prefix: String, startAfter: String, limit: Int) async throws(StorageError) -> [ObjectRecord] {
        try await read { db in
            // Keys sort by their UTF-8 bytes (SQLite's BINARY collation); the prefix test is exact.
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM objects WHERE user_id = ? AND key > ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
                arguments: [user, startAfter, prefix.unicodeScalars.count, prefix, limit]
            ).map(Self.object)
        }
    }

    func currentDataKey(user: String) async throws(StorageError) -> DataKeyRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM data_keys WHERE user_id = ? ORDER BY id DESC LIMIT 1", arguments: [user]).map(
                Self.dataKey)
        }
    }

    func insertDataKey(user: String, wrapped: [UInt8], kekVersion: UInt32) async throws(StorageError) -> DataKeyRecord {
        try await write { db in
            // The date as stored (seconds since 1970 in a double), so the record equals what is read back.
            let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970)
            try db.execute(
                sql: "INSERT INTO data_keys (user_id, wrapped, kek_version, created_at) VALUES (?, ?, ?, ?)",
                arguments: [user, Data(wrapped), Int64(kekVersion), now.timeIntervalSince1970]
            )
            return DataKeyRecord(
                id: db.lastInsertedRowID, userID: user, wrapped: wrapped, kekVersion: kekVersion, createdAt: now, objectCount: 0)
        }
    }

    func dataKey(id: Int64) async throws(StorageError) -> DataKeyRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM data_keys WHERE id = ?"), arguments: [id]).map(Self.dataKey)
        }
    }

    func existingBlobNames(_ names: [String]) async throws(StorageError) -> Set<String> {
        guard !names.isEmpty else { return [] }
        return try await read { db in
            var found: Set<String> = []
            // `blob_name` is UNIQUE, so each lookup is an index probe. Batches stay well below
            // SQLite's limit on bound parameters (32766).
            for start in stride(from: 0, to: names.count, by: 500) {
                let batch = Array(names[start..<min(start + 500, names.count)])
                let marks = Array(repeating: "?", count: batch.count).joined(separator: ", ")
                found.formUnion(
                    try String.fetchAll(
                        db, sql: "SELECT blob_name FROM objects WHERE blob_name IN (\(marks))", arguments: StatementArguments(batch)))
            }
            return found
        }
    }

    func dataKeys(user: String?, afterID: Int64, limit: Int) async throws(StorageError) -> [DataKeyRecord] {
        try await read { db in
            if let user {
                return try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM data_keys WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?",
                    arguments: [user, afterID, limit]
                ).map(Self.dataKey)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM data_keys WHERE id > ? ORDER BY id LIMIT ?", arguments: [afterID, limit])
                .map(Self.dataKey)
        }
    }

    func replaceWrapped(id: Int64, old: [UInt8], new: [UInt8], kekVersion: UInt32) async throws(StorageError) -> Bool {
        try await write { db in
            try db.execute(
                sql: "UPDATE data_keys SET wrapped = ?, kek_version = ? WHERE id = ? AND wrapped = ?",
                arguments: [Data(new), Int64(kekVersion), id, Data(old)]
            )
            return db.changesCount == 1
        }
    }

    func ping() async throws(StorageError) {
        _ = try await read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StorageError) -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw Self.map(error)
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StorageError) -> T {
        do {
            return try await batcher.write(body)
        } catch {
            throw Self.map(error)
        }
    }

    static func map(_ error: any Error) -> StorageError {
        if let storage = error as? StorageError { return storage }
        if let db = error as? DatabaseError, db.resultCode == .SQLITE_FULL {
            return .noSpace("\(db)")
        }
        return .metadata("\(error)")
    }

    /// A row as a record; one naming a blob outside the node's name format is refused (so a
    /// delete or replacement of it rolls back), as no write of the node stores such a name.
    static func object(_ row: Row) throws(StorageError) -> ObjectRecord {
        ObjectRecord(
            userID: row["user_id"],
            key: row["key"],
            blobName: try BlobName.checked(row["blob_name"]),
            writeID: Array(row["write_id"] as Data),
            dataKeyID: row["data_key_id"],
            size: row["size"],
            createdAt: Date(timeIntervalSince1970: row["created_at"])
        )
    }

    static func dataKey(_ row: Row) -> DataKeyRecord {
        DataKeyRecord(
            id: row["id"],
            userID: row["user_id"],
            wrapped: Array(row["wrapped"] as Data),
            kekVersion: UInt32(row["kek_version"] as Int64),
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            objectCount: row["object_count"]
        )
    }
}
