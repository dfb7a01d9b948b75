import Foundation
import Logging
import PostgresNIO
import Shared
import SplitKeyPostgres

/// The shared ``MetadataStore`` of the nodes of one region: one PostgreSQL database, every
/// call bounded by `metadata.timeout`, every change one transaction.
///
/// Two nodes may write the same user and key at once: a put takes a transaction-scoped
/// advisory lock on the (user, key) pair before it reads the row it replaces, so the one that
/// commits second sees the first's row and returns it for its blob to be deleted; neither
/// blob is lost track of and the object ends as one whole write.
final class PostgresMetadataStore: MetadataStore {
    let pool: PostgresPool

    static func open(_ settings: PostgresSettings, migrate: Bool, logger: Logger) async throws(StorageError) -> PostgresMetadataStore {
        let store: PostgresMetadataStore
        do {
            store = PostgresMetadataStore(pool: try PostgresPool(settings: settings, logger: logger))
        } catch {
            throw .metadata(error.description)
        }
        do {
            try await PostgresMetadataMigrations.migrator.prepare(store.pool, migrate: migrate)
        } catch {
            await store.close()
            // A database that does not answer yet (a boot where it starts later) is worth
            // starting again for; a wrong schema is not.
            throw map(error)
        }
        return store
    }

    private init(pool: PostgresPool) {
        self.pool = pool
    }

    func close() async {
        await pool.close()
    }

    static let objectColumns = "user_id, key, blob_name, write_id, data_key_id, size, created_at"
    typealias ObjectRow = (String, String, String, Data, Int64, Int64, Double)
    static let dataKeyColumns = "id, user_id, wrapped, kek_version, created_at, object_count"
    typealias DataKeyRow = (Int64, String, Data, Int64, Double, Int64)

    func object(user: String, key: String) async throws(StorageError) -> ObjectRecord? {
        try await objects("WHERE user_id = \(user) AND key = \(key)").first
    }

    func put(_ record: ObjectRecord) async throws(StorageError) -> ObjectRecord? {
        let rows = try await transaction { tx, logger in
            _ = try await tx.query(
                "SELECT pg_advisory_xact_lock(hashtextextended(\(record.userID + "/" + record.key), 0))", logger: logger)
            let old = try await tx.query(
                "SELECT \(unescaped: Self.objectColumns) FROM objects WHERE user_id = \(record.userID) AND key = \(record.key) FOR UPDATE",
                logger: logger)
            var found: [ObjectRow] = []
            for try await row in old.decode(ObjectRow.self) { found.append(row) }
            _ = try await tx.query(
                """
                INSERT INTO objects (user_id, key, blob_name, write_id, data_key_id, size, created_at)
                VALUES (\(record.userID), \(record.key), \(record.blobName), \(Data(record.writeID)), \(record.dataKeyID),
                        \(record.size), \(record.createdAt.timeIntervalSince1970))
                ON CONFLICT (user_id, key) DO UPDATE SET blob_name = EXCLUDED.blob_name, write_id = EXCLUDED.write_id,
                    data_key_id = EXCLUDED.data_key_id, size = EXCLUDED.size, created_at = EXCLUDED.created_at
                """, logger: logger)
            _ = try await tx.query(
                "UPDATE data_keys SET object_count = object_count + 1 WHERE id = \(record.dataKeyID)", logger: logger)
            return found
        }
        return try rows.first.map(Self.object)
    }

    func delete(user: String, key: String) async throws(StorageError) -> ObjectRecord? {
        let rows = try await run { client, logger in
            let deleted = try await client.query(
                "DELETE FROM objects WHERE user_id = \(user) AND key = \(key) RETURNING \(unescaped: Self.objectColumns)", logger: logger)
            var found: [ObjectRow] = []
            for try await row in deleted.decode(ObjectRow.self) { found.append(row) }
            return found
        }
        return try rows.first.map(Self.object)
    }

    func list(user: String, prefix: String, startAfter: String, limit: Int) async throws(StorageError) -> [ObjectRecord] {
        try await objects(
            "WHERE user_id = \(user) AND key > \(startAfter) AND starts_with(key, \(prefix)) ORDER BY key LIMIT \(limit)")
    }

    func currentDataKey(user: String) async throws(StorageError) -> DataKeyRecord? {
        try await dataKeys("WHERE user_id = \(user) ORDER BY id DESC LIMIT 1").first
    }

    func insertDataKey(user: String, wrapped: [UInt8], kekVersion: UInt32) async throws(StorageError) -> DataKeyRecord {
        // The date as stored (seconds since 1970 in a double), so the record equals what is read back.
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970)
        let id = try await run { client, logger in
            let rows = try await client.query(
                """
                INSERT INTO data_keys (user_id, wrapped, kek_version, created_at)
                VALUES (\(user), \(Data(wrapped)), \(Int64(kekVersion)), \(now.timeIntervalSince1970)) RETURNING id
                """, logger: logger)
            var id: Int64?
            for try await value in rows.decode(Int64.self) { id = value }
            return id
        }
        guard let id else { throw .metadata("the data key insert returned no id") }
        return DataKeyRecord(id: id, userID: user, wrapped: wrapped, kekVersion: kekVersion, createdAt: now, objectCount: 0)
    }

    func dataKey(id: Int64) async throws(StorageError) -> DataKeyRecord? {
        try await dataKeys("WHERE id = \(id)").first
    }

    func existingBlobNames(_ names: [String]) async throws(StorageError) -> Set<String> {
        guard !names.isEmpty else { return [] }
        return try await run { client, logger in
            var found: Set<String> = []
            for try await name in try await client.query("SELECT blob_name FROM objects WHERE blob_name = ANY(\(names))", logger: logger)
                .decode(String.self)
            {
                found.insert(name)
            }
            return found
        }
    }

    func dataKeys(user: String?, afterID: Int64, limit: Int) async throws(StorageError) -> [DataKeyRecord] {
        if let user {
            return try await dataKeys("WHERE user_id = \(user) AND id > \(afterID) ORDER BY id LIMIT \(limit)")
        }
        return try await dataKeys("WHERE id > \(afterID) ORDER BY id LIMIT \(limit)")
    }

    func replaceWrapped(id: Int64, old: [UInt8], new: [UInt8], kekVersion: UInt32) async throws(StorageError) -> Bool {
        try await run { client, logger in
            let rows = try await client.query(
                """
                UPDATE data_keys SET wrapped = \(Data(new)), kek_version = \(Int64(kekVersion))
                WHERE id = \(id) AND wrapped = \(Data(old)) RETURNING id
                """, logger: logger)
            var changed = 0
            for try await _ in rows { changed += 1 }
            return changed == 1
        }
    }

    func ping() async throws(StorageError) {
        try await run { client, logger in
            for try await _ in try await client.query("SELECT 1", logger: logger) {}
        }
    }

    func storeID() async throws(StorageError) -> String {
        let id = try await run { client, logger in
            var id: String?
            for try await value in try await client.query("SELECT id FROM store_identity", logger: logger).decode(String.self) {
                id = value
            }
            return id
        }
        guard let id else { throw .metadata("the store_identity table of the metadata database is empty") }
        return id
    }

    // MARK: Plumbing

    private func objects(_ condition: PostgresQuery) async throws(StorageError) -> [ObjectRecord] {
        let rows = try await run { client, logger in
            // The condition holds the only binds, so its $1... stay valid after the prefix.
            let query = PostgresQuery(unsafeSQL: "SELECT \(Self.objectColumns) FROM objects " + condition.sql, binds: condition.binds)
            var found: [ObjectRow] = []
            for try await row in try await client.query(query, logger: logger).decode(ObjectRow.self) { found.append(row) }
            return found
        }
        return try rows.map(Self.object)
    }

    private func dataKeys(_ condition: PostgresQuery) async throws(StorageError) -> [DataKeyRecord] {
        let rows = try await run { client, logger in
            let query = PostgresQuery(unsafeSQL: "SELECT \(Self.dataKeyColumns) FROM data_keys " + condition.sql, binds: condition.binds)
            var found: [DataKeyRow] = []
            for try await row in try await client.query(query, logger: logger).decode(DataKeyRow.self) { found.append(row) }
            return found
        }
        return rows.map {
            DataKeyRecord(
                id: $0.0, userID: $0.1, wrapped: Array($0.2), kekVersion: UInt32(truncatingIfNeeded: $0.3),
                createdAt: Date(timeIntervalSince1970: $0.4), objectCount: Int($0.5))
        }
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (PostgresClient, Logger) async throws -> T) async throws(StorageError) -> T {
        do {
            return try await pool.run(nil, body)
        } catch {
            throw Self.map(error)
        }
    }

    private func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T)
        async throws(StorageError) -> T
    {
        do {
            return try await pool.transaction(body)
        } catch {
            throw Self.map(error)
        }
    }

    /// A database that does not answer (down, unreachable, past the deadline) is `.unavailable`,
    /// answered 503 with Retry-After; a wrong schema is `.metadata`.
    private static func map(_ error: PostgresPoolError) -> StorageError {
        switch error {
        case .decision(let decision as StorageError): decision
        case .database(let detail): .unavailable(detail)
        case .schema, .decision: .metadata(error.description)
        }
    }

    /// A row as a record; a blob name not of the node's format is refused, as in SQLite.
    private static func object(_ row: ObjectRow) throws(StorageError) -> ObjectRecord {
        ObjectRecord(
            userID: row.0, key: row.1, blobName: try BlobName.checked(row.2), writeID: Array(row.3), dataKeyID: row.4, size: row.5,
            createdAt: Date(timeIntervalSince1970: row.6))
    }
}
