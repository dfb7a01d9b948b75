import Logging
import PostgresNIO

/// A daemon's PostgreSQL schema as numbered migrations applied in order, each in its own
/// transaction, recorded in a schema table of its own.
///
/// Replicas starting together take one advisory lock first, so only one of them migrates and
/// the others find the work done. A database whose schema is newer than this binary knows is
/// refused rather than used: an old replica must not write rows a newer schema reads
/// differently. A current schema is not touched, so a role without CREATE can still start.
public struct PostgresMigrator: Sendable {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var statements: [String]
        public init(version: Int, name: String, statements: [String]) {
            self.version = version
            self.name = name
            self.statements = statements
        }
    }

    public var migrations: [Migration]
    /// The table recording applied versions (`splitkey_schema` for the KeyService).
    public var table: String
    /// `pg_advisory_lock` key of this schema.
    public var lockKey: Int64
    /// How messages name the store and the command that migrates it.
    public var component: String
    public var migrateCommand: String

    public init(migrations: [Migration], table: String, lockKey: Int64, component: String, migrateCommand: String) {
        self.migrations = migrations
        self.table = table
        self.lockKey = lockKey
        self.component = component
        self.migrateCommand = migrateCommand
    }

    public var latest: Int { migrations.map(\.version).max() ?? 0 }

    /// Migrates (`migrate`) or checks that the schema is this binary's, on one pooled connection.
    public func prepare(_ pool: PostgresPool, migrate: Bool) async throws(PostgresPoolError) {
        // Migrating may wait for another replica's migration (the advisory lock).
        let me = self
        try await pool.run(max(pool.settings.timeout * 5, .seconds(5))) { client, logger in
            try await client.withConnection { connection in
                if migrate {
                    _ = try await me.apply(on: connection, logger: logger)
                } else {
                    let at = try await me.current(on: connection, logger: logger)
                    guard at == me.latest else {
                        throw at > me.latest
                            ? me.error(.newerThanBinary(database: at, binary: me.latest))
                            : me.error(.notMigrated(database: at, binary: me.latest))
                    }
                }
            }
        }
    }

    /// Applies every missing migration; returns the versions applied by this call.
    public func apply(on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
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
    public func current(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let exists = try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL", logger: logger)
        var present = false
        for try await value in exists.decode(Bool.self) { present = value }
        guard present else { return 0 }
        var version = 0
        for try await value in try await connection.query("SELECT coalesce(max(version), 0) FROM \(unescaped: table)", logger: logger)
            .decode(Int.self)
        {
            version = value
        }
        return version
    }

    private func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        let before = try await current(on: connection, logger: logger)
        guard before != latest else { return [] }
        guard before < latest else { throw error(.newerThanBinary(database: before, binary: latest)) }
        _ = try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: table) (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """,
            logger: logger)
        let at = try await current(on: connection, logger: logger)
        guard at <= latest else { throw error(.newerThanBinary(database: at, binary: latest)) }
        var applied: [Int] = []
        for migration in migrations where migration.version > at {
            let (version, name, statements, table) = (migration.version, migration.name, migration.statements, self.table)
            do {
                try await connection.withTransaction(logger: logger) { tx in
                    for sql in statements { _ = try await tx.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                    _ = try await tx.query("INSERT INTO \(unescaped: table) (version, name) VALUES (\(version), \(name))", logger: logger)
                }
            } catch {
                throw self.error(.migrationFailed(version: version, name: name, String(reflecting: error)))
            }
            logger.notice("\(component) schema migrated", metadata: ["version": "\(version)", "name": "\(name)"])
            applied.append(version)
        }
        return applied
    }

    private func error(_ kind: PostgresSchemaError.Kind) -> PostgresSchemaError {
        PostgresSchemaError(kind: kind, component: component, migrateCommand: migrateCommand)
    }
}

public struct PostgresSchemaError: Error, CustomStringConvertible {
    public enum Kind: Sendable {
        case newerThanBinary(database: Int, binary: Int)
        case notMigrated(database: Int, binary: Int)
        case migrationFailed(version: Int, name: String, String)
    }

    public var kind: Kind
    public var component: String
    public var migrateCommand: String

    public var description: String {
        let binary = migrateCommand.split(separator: " ").first.map(String.init) ?? "this binary"
        switch kind {
        case .newerThanBinary(let database, let known):
            return "the \(component)'s schema is at version \(database), newer than this \(binary) knows (\(known)): upgrade this replica"
        case .notMigrated(let database, let needed):
            return "the \(component)'s schema is at version \(database), this \(binary) needs \(needed): run `\(migrateCommand)`"
        case .migrationFailed(let version, let name, let cause):
            return
                "schema migration \(version) (\(name)) failed and was rolled back; run `\(migrateCommand)` as the schema's owner role: \(cause)"
        }
    }
}
