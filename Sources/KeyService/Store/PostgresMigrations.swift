import Logging
import PostgresNIO

/// The PostgreSQL schema, as numbered migrations applied in order, each in its own transaction.
///
/// Replicas starting together take one advisory lock first, so only one of them migrates and
/// the others find the work done. A database whose schema is newer than this binary knows is
/// refused rather than used: an old replica must not write rows a newer schema reads
/// differently.
enum PostgresMigrations {
    struct Migration: Sendable {
        var version: Int
        var name: String
        var statements: [String]
    }

    /// `pg_advisory_lock` key: "SplitKey" in ASCII, so it does not collide with other users of
    /// the database by accident.
    static let lockKey: Int64 = 0x5370_6c69_744b_6579

    static let all: [Migration] = [
        Migration(
            version: 1, name: "users-keks-revocations",
            statements: [
                "CREATE TABLE splitkey_meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    home_region TEXT NOT NULL,
                    state TEXT NOT NULL,
                    current_kek_version BIGINT NOT NULL,
                    min_kek_version BIGINT NOT NULL,
                    destroy_after DOUBLE PRECISION,
                    unwrap_locked BOOLEAN NOT NULL,
                    created_at TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE kek_versions (
                    user_id TEXT NOT NULL REFERENCES users(id),
                    version BIGINT NOT NULL,
                    sealed BYTEA NOT NULL,
                    created_at TEXT NOT NULL,
                    wraps BIGINT NOT NULL DEFAULT 0,
                    PRIMARY KEY (user_id, version)
                )
                """,
                "CREATE TABLE revoked_identities (matcher TEXT PRIMARY KEY, created_at TEXT NOT NULL)",
            ]),
        Migration(
            version: 2, name: "unwrap-counts",
            statements: [
                """
                CREATE TABLE unwrap_counts (
                    user_id TEXT NOT NULL,
                    window_start BIGINT NOT NULL,
                    count BIGINT NOT NULL,
                    PRIMARY KEY (user_id, window_start)
                )
                """
            ]),
        Migration(
            version: 3, name: "xks-keys",
            statements: [
                """
                CREATE TABLE xks_keys (
                    id TEXT PRIMARY KEY,
                    usage TEXT NOT NULL,
                    state TEXT NOT NULL,
                    sealed BYTEA NOT NULL,
                    created_at TEXT NOT NULL
                )
                """,
                "CREATE TABLE replica_heartbeats (replica TEXT PRIMARY KEY, status TEXT NOT NULL, seen_at BIGINT NOT NULL)",
            ]),
    ]

    static var latest: Int { all.map(\.version).max() ?? 0 }

    /// Applies every missing migration; returns the versions applied by this call.
    static func apply(on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        _ = try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
        do {
            let applied = try await migrate(connection, logger: logger)
            _ = try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            return applied
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            throw error
        }
    }

    /// The schema version the database is at, without changing anything.
    static func current(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let exists = try await connection.query("SELECT to_regclass('splitkey_schema') IS NOT NULL", logger: logger)
        var present = false
        for try await value in exists.decode(Bool.self) { present = value }
        guard present else { return 0 }
        var version = 0
        for try await value in try await connection.query("SELECT coalesce(max(version), 0) FROM splitkey_schema", logger: logger)
            .decode(Int.self)
        {
            version = value
        }
        return version
    }

    private static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        // Current already: change nothing (a replica role without CREATE starts fine).
        let before = try await current(on: connection, logger: logger)
        guard before != latest else { return [] }
        guard before < latest else { throw PostgresSchemaError.newerThanBinary(database: before, binary: latest) }
        _ = try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS splitkey_schema (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """,
            logger: logger)
        let at = try await current(on: connection, logger: logger)
        guard at <= latest else { throw PostgresSchemaError.newerThanBinary(database: at, binary: latest) }
        var applied: [Int] = []
        for migration in all where migration.version > at {
            let (version, name, statements) = (migration.version, migration.name, migration.statements)
            do {
                try await connection.withTransaction(logger: logger) { tx in
                    for sql in statements { _ = try await tx.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                    _ = try await tx.query("INSERT INTO splitkey_schema (version, name) VALUES (\(version), \(name))", logger: logger)
                }
            } catch {
                throw PostgresSchemaError.migrationFailed(version: version, name: name, String(reflecting: error))
            }
            logger.notice("key store schema migrated", metadata: ["version": "\(version)", "name": "\(name)"])
            applied.append(version)
        }
        return applied
    }
}

enum PostgresSchemaError: Error, CustomStringConvertible {
    case newerThanBinary(database: Int, binary: Int)
    case notMigrated(database: Int, binary: Int)
    case migrationFailed(version: Int, name: String, String)

    var description: String {
        switch self {
        case .newerThanBinary(let database, let binary):
            "the key store's schema is at version \(database), newer than this keyservice knows (\(binary)): upgrade this replica"
        case .notMigrated(let database, let binary):
            "the key store's schema is at version \(database), this keyservice needs \(binary): run `keyservice migrate`"
        case .migrationFailed(let version, let name, let cause):
            "schema migration \(version) (\(name)) failed and was rolled back; run `keyservice migrate` as the schema's owner role: \(cause)"
        }
    }
}
