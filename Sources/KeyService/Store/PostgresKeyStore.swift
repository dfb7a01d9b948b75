import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Shared
import SplitKeyPostgres

/// The shared ``KeyStore`` of KeyService replicas: one PostgreSQL database, pooled connections,
/// prepared statements on the unwrap path, every state change one transaction (the user row
/// locked with `SELECT ... FOR UPDATE` for the compare-and-set), and a NOTIFY on
/// `splitkey_changes` after each change so other replicas hear of revocations at once.
///
/// Every call ends by `settings.timeout`, whatever the database does: a stopped server, a
/// lost network or a pool waiting for a connection all end in ``KeyStoreError/storage(_:)``,
/// which the operations answer with 503.
final class PostgresKeyStore: KeyStore {
    static let channel = "splitkey_changes"
    let pool: PostgresPool
    var client: PostgresClient { pool.client }
    var settings: PostgresSettings { pool.settings }
    var logger: Logger { pool.logger }

    /// Starts the pool; `migrate` applies missing migrations (under the advisory lock) or, when
    /// false, refuses a database that is not at this binary's schema.
    static func open(_ settings: PostgresSettings, migrate: Bool, logger: Logger) async throws(KeyStoreError) -> PostgresKeyStore {
        let store: PostgresKeyStore
        do {
            store = PostgresKeyStore(pool: try PostgresPool(settings: settings, logger: logger))
        } catch {
            throw .storage(error.description)
        }
        do {
            try await PostgresMigrations.migrator.prepare(store.pool, migrate: migrate)
        } catch {
            await store.close()
            throw .storage(error.description)
        }
        return store
    }

    private init(pool: PostgresPool) {
        self.pool = pool
    }

    func close() async {
        await pool.close()
    }

    // MARK: Reads

    func createUser(_ user: UserRecord, firstKEK: SealedKEKRecord) async throws(KeyStoreError) {
        let created = try await transaction { tx, logger in
            let inserted = try await tx.query(
                """
                INSERT INTO users (id, home_region, state, current_kek_version, min_kek_version, destroy_after, unwrap_locked, created_at)
                VALUES (\(user.id), \(user.homeRegion), \(user.state.rawValue), \(Int64(user.currentKEKVersion)),
                        \(Int64(user.minKEKVersion)), \(user.destroyAfter?.timeIntervalSince1970), \(user.unwrapLocked), \(user.createdAt))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: logger)
            var rows = 0
            for try await _ in inserted { rows += 1 }
            guard rows == 1 else { return false }
            _ = try await tx.query(
                """
                INSERT INTO kek_versions (user_id, version, sealed, created_at, wraps)
                VALUES (\(firstKEK.userID), \(Int64(firstKEK.version)), \(Data(firstKEK.sealed)), \(firstKEK.createdAt), 0)
                """, logger: logger)
            return true
        }
        guard created else { throw .userExists(user.id) }
    }

    func user(id: String) async throws(KeyStoreError) -> UserRecord? {
        try await deadline { client, logger in
            var found: UserRecord?
            for try await row in try await client.execute(SelectUser(id: id), logger: logger) { found = row }
            return found
        }
    }

    func users(after: String?, limit: Int) async throws(KeyStoreError) -> [UserRecord] {
        try await deadline { client, logger in
            let rows = try await client.query(
                "SELECT \(unescaped: UserColumns.list) FROM users WHERE id > \(after ?? "") ORDER BY id LIMIT \(limit)", logger: logger)
            var users: [UserRecord] = []
            for try await columns in rows.decode(UserColumns.Row.self) { users.append(try UserColumns.record(columns)) }
            return users
        }
    }

    func kek(userID: String, version: UInt32) async throws(KeyStoreError) -> SealedKEKRecord? {
        try await deadline { client, logger in
            var found: SealedKEKRecord?
            for try await row in try await client.execute(SelectKEK(userID: userID, version: Int64(version)), logger: logger) {
                found = row
            }
            return found
        }
    }

    func userAndKEK(id: String, version: UInt32) async throws(KeyStoreError) -> (UserRecord, SealedKEKRecord?)? {
        try await deadline { client, logger in
            var found: (UserRecord, SealedKEKRecord?)?
            for try await row in try await client.execute(SelectUserAndKEK(id: id, version: Int64(version)), logger: logger) {
                found = row
            }
            return found
        }
    }

    func revokedIdentities() async throws(KeyStoreError) -> [String] {
        try await deadline { client, logger in
            var matchers: [String] = []
            for try await matcher in try await client.query("SELECT matcher FROM revoked_identities ORDER BY matcher", logger: logger)
                .decode(String.self)
            {
                matchers.append(matcher)
            }
            return matchers
        }
    }

    func ping() async throws(KeyStoreError) {
        _ = try await deadline { client, logger in
            for try await _ in try await client.query("SELECT 1", logger: logger) {}
        }
    }

    // MARK: Writes

    func countWrap(userID: String, version: UInt32) async throws(KeyStoreError) -> Int64 {
        try await deadline { client, logger in
            var count: Int64 = 0
            for try await value in try await client.execute(CountWrap(userID: userID, version: Int64(version)), logger: logger) {
                count = value
            }
            return count
        }
    }

    func commit(expected: UserRecord, next: UserRecord, addKEK: SealedKEKRecord?, eraseKEKs: Bool) async throws(KeyStoreError) {
        try await transaction { tx, logger in
            var current: UserRecord?
            let rows = try await tx.query(
                "SELECT \(unescaped: UserColumns.list) FROM users WHERE id = \(expected.id) FOR UPDATE", logger: logger)
            for try await columns in rows.decode(UserColumns.Row.self) { current = try UserColumns.record(columns) }
            guard let current else { throw KeyStoreError.noSuchUser(expected.id) }
            guard current == expected else { throw KeyStoreError.changed(expected.id) }
            if let kek = addKEK {
                _ = try await tx.query(
                    """
                    INSERT INTO kek_versions (user_id, version, sealed, created_at, wraps)
                    VALUES (\(kek.userID), \(Int64(kek.version)), \(Data(kek.sealed)), \(kek.createdAt), 0)
                    """, logger: logger)
            }
            if eraseKEKs {
                _ = try await tx.query("DELETE FROM kek_versions WHERE user_id = \(expected.id)", logger: logger)
            }
            _ = try await tx.query(
                """
                UPDATE users SET home_region = \(next.homeRegion), state = \(next.state.rawValue),
                    current_kek_version = \(Int64(next.currentKEKVersion)), min_kek_version = \(Int64(next.minKEKVersion)),
                    destroy_after = \(next.destroyAfter?.timeIntervalSince1970), unwrap_locked = \(next.unwrapLocked),
                    created_at = \(next.createdAt)
                WHERE id = \(expected.id)
                """, logger: logger)
            _ = try await tx.query("SELECT pg_notify(\(Self.channel), \(KeyStoreChange.user(expected.id).payload))", logger: logger)
        }
    }

    /// Deleted rows stay in the table's free space until VACUUM reclaims it; run it now so the
    /// sealed KEKs of a destroyed user are not kept for the next autovacuum. PostgreSQL has no
    /// `secure_delete`: reclaimed space, WAL and backups may still hold the sealed bytes until
    /// overwritten, which is why KEKs are sealed under a root key that never enters the database.
    func purgeErased() async throws(KeyStoreError) {
        do {
            try await deadline(.seconds(30)) { client, logger in
                _ = try await client.query("VACUUM kek_versions", logger: logger)
                // A destroyed external key's row is updated in place: its old version is a dead tuple.
                _ = try await client.query("VACUUM xks_keys", logger: logger)
            }
        } catch {
            throw .incomplete("VACUUM of the erased key rows did not finish: \(error)")
        }
    }

    func keyCheck(orCreate make: @Sendable () throws -> [UInt8]) async throws(KeyStoreError) -> [UInt8] {
        let fresh: [UInt8]
        do {
            fresh = try make()
        } catch {
            throw .storage("\(error)")
        }
        // Insert-if-absent, then read: two replicas starting together agree on the first one.
        return try await transaction { tx, logger in
            _ = try await tx.query(
                "INSERT INTO splitkey_meta (name, value) VALUES ('root-key-check', \(Data(fresh))) ON CONFLICT (name) DO NOTHING",
                logger: logger)
            var stored: [UInt8] = []
            for try await value in try await tx.query("SELECT value FROM splitkey_meta WHERE name = 'root-key-check'", logger: logger)
                .decode(Data.self)
            {
                stored = Array(value)
            }
            return stored
        }
    }

    func setRevoked(_ matcher: String, revoked: Bool) async throws(KeyStoreError) {
        try await transaction { tx, logger in
            if revoked {
                _ = try await tx.query(
                    """
                    INSERT INTO revoked_identities (matcher, created_at) VALUES (\(matcher), \(Timestamps.string(Date())))
                    ON CONFLICT (matcher) DO NOTHING
                    """, logger: logger)
            } else {
                _ = try await tx.query("DELETE FROM revoked_identities WHERE matcher = \(matcher)", logger: logger)
            }
            _ = try await tx.query("SELECT pg_notify(\(Self.channel), \(KeyStoreChange.revocations.payload))", logger: logger)
        }
    }

    func countUnwraps(_ counts: [String: Int64], window: Int64) async throws(KeyStoreError) -> [String: Int64] {
        let users = counts.keys.sorted()
        let amounts = users.map { counts[$0] ?? 0 }
        return try await transaction { tx, logger in
            // Sorted users: two replicas adding for the same users lock their rows in one order.
            let rows = try await tx.query(
                """
                INSERT INTO unwrap_counts (user_id, window_start, count)
                SELECT u, \(window), c FROM unnest(\(users)::text[], \(amounts)::bigint[]) AS t(u, c)
                ON CONFLICT (user_id, window_start) DO UPDATE SET count = unwrap_counts.count + excluded.count
                RETURNING user_id, count
                """, logger: logger)
            var totals: [String: Int64] = [:]
            for try await (user, count) in rows.decode((String, Int64).self) { totals[user] = count }
            _ = try await tx.query("DELETE FROM unwrap_counts WHERE window_start < \(window)", logger: logger)
            return totals
        }
    }

    func clearUnwraps(userID: String) async throws(KeyStoreError) {
        try await transaction { tx, logger in
            _ = try await tx.query("DELETE FROM unwrap_counts WHERE user_id = \(userID)", logger: logger)
        }
    }

    func followChanges(_ onChange: @escaping @Sendable (KeyStoreChange) -> Void) async throws(KeyStoreError) {
        do {
            try await client.withConnection { connection in
                try await connection.listen(on: Self.channel) { notifications in
                    for try await notification in notifications {
                        if let change = KeyStoreChange(payload: notification.payload) { onChange(change) }
                    }
                }
            }
        } catch {
            if Task.isCancelled { return }
            throw .storage("the change announcements of \(settings.redacted) were lost: \(String(reflecting: error))")
        }
    }

    // MARK: Plumbing

    /// A pooled call by the deadline; the store's own decisions (changed, noSuchUser) come back
    /// as themselves, everything else as ``KeyStoreError/storage(_:)``.
    func deadline<T: Sendable>(
        _ limit: Duration? = nil, _ body: @escaping @Sendable (PostgresClient, Logger) async throws -> T
    ) async throws(KeyStoreError) -> T {
        do {
            return try await pool.run(limit, body)
        } catch {
            throw Self.map(error)
        }
    }

    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T)
        async throws(KeyStoreError) -> T
    {
        do {
            return try await pool.transaction(body)
        } catch {
            throw Self.map(error)
        }
    }

    private static func map(_ error: PostgresPoolError) -> KeyStoreError {
        if case .decision(let decision as KeyStoreError) = error { return decision }
        return .storage(error.description)
    }
}
