import Foundation
import GRDB
import Shared

/// The embedded ``KeyStore``: one SQLite file in the state directory, WAL journal,
/// `synchronous=FULL` so a committed user or KEK survives power loss, and `secure_delete` so
/// erased KEK bytes are overwritten in the file rather than left in free pages.
struct SQLiteKeyStore: KeyStore {
    static let fileName = "keyservice.sqlite"
    let pool: DatabasePool

    init(directory: String) throws(KeyStoreError) {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            var config = Configuration()
            // Wait for another writer's transaction instead of failing at once (a second process
            // on the file: `keyservice migrate`, a test's second replica).
            config.busyMode = .timeout(5)
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                try db.execute(sql: "PRAGMA secure_delete = ON")
                try db.execute(sql: "PRAGMA foreign_keys = ON")
            }
            pool = try DatabasePool(path: directory + "/" + Self.fileName, configuration: config)
            try Self.migrator.migrate(pool)
        } catch let error as KeyStoreError {
            throw error
        } catch {
            throw .storage("cannot open \(directory)/\(Self.fileName): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);
                    CREATE TABLE users (
                        id TEXT PRIMARY KEY NOT NULL,
                        home_region TEXT NOT NULL,
                        state TEXT NOT NULL,
                        current_kek_version INTEGER NOT NULL,
                        created_at TEXT NOT NULL
                    );
                    CREATE TABLE kek_versions (
                        user_id TEXT NOT NULL REFERENCES users(id),
                        version INTEGER NOT NULL,
                        sealed BLOB NOT NULL,
                        created_at TEXT NOT NULL,
                        PRIMARY KEY (user_id, version)
                    );
                    """
            )
        }
        m.registerMigration("v2-lifecycle") { db in
            try db.execute(
                sql: """
                    ALTER TABLE users ADD COLUMN min_kek_version INTEGER NOT NULL DEFAULT 1;
                    ALTER TABLE users ADD COLUMN destroy_after REAL;
                    ALTER TABLE users ADD COLUMN unwrap_locked INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE kek_versions ADD COLUMN wraps INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE revoked_identities (matcher TEXT PRIMARY KEY NOT NULL, created_at TEXT NOT NULL);
                    """
            )
        }
        m.registerMigration("v3-unwrap-counts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE unwrap_counts (
                        user_id TEXT NOT NULL, window_start INTEGER NOT NULL, count INTEGER NOT NULL,
                        PRIMARY KEY (user_id, window_start)
                    );
                    """
            )
        }
        m.registerMigration("v4-xks-keys") { db in
            try db.execute(
                sql: """
                    CREATE TABLE xks_keys (
                        id TEXT PRIMARY KEY NOT NULL, usage TEXT NOT NULL, state TEXT NOT NULL, sealed BLOB NOT NULL,
                        created_at TEXT NOT NULL
                    );
                    CREATE TABLE replica_heartbeats (replica TEXT PRIMARY KEY NOT NULL, status TEXT NOT NULL, seen_at INTEGER NOT NULL);
                    """
            )
        }
        return m
    }

    func createUser(_ user: UserRecord, firstKEK: SealedKEKRecord) async throws(KeyStoreError) {
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM users WHERE id = ?", arguments: [user.id]) != nil {
                throw KeyStoreError.userExists(user.id)
            }
            try Self.save(user, in: db, insert: true)
            try db.execute(
                sql: "INSERT INTO kek_versions (user_id, version, sealed, created_at) VALUES (?, ?, ?, ?)",
                arguments: [firstKEK.userID, Int64(firstKEK.version), Data(firstKEK.sealed), firstKEK.createdAt]
            )
        }
    }

    func user(id: String) async throws(KeyStoreError) -> UserRecord? {
        try await read { db in
            // Cached statements: compiling the SQL (and GRDB's authorizer pass) on every unwrap
            // cost more than running it.
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE id = ?"), arguments: [id]).map(Self.user(from:))
        }
    }

    func users(after: String?, limit: Int) async throws(KeyStoreError) -> [UserRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?", arguments: [after ?? "", limit])
                .map(Self.user(from:))
        }
    }

    func kek(userID: String, version: UInt32) async throws(KeyStoreError) -> SealedKEKRecord? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM kek_versions WHERE user_id = ? AND version = ?"),
                arguments: [userID, Int64(version)]
            ).map(Self.kek(from:))
        }
    }

    func userAndKEK(id: String, version: UInt32) async throws(KeyStoreError) -> (UserRecord, SealedKEKRecord?)? {
        try await read { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE id = ?"), arguments: [id]) else {
                return nil
            }
            let kek = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM kek_versions WHERE user_id = ? AND version = ?"),
                arguments: [id, Int64(version)]
            ).map(Self.kek(from:))
            return (try Self.user(from: row), kek)
        }
    }

    func countWrap(userID: String, version: UInt32) async throws(KeyStoreError) -> Int64 {
        try await write { db in
            try db.execute(
                sql: "UPDATE kek_versions SET wraps = wraps + 1 WHERE user_id = ? AND version = ?",
                arguments: [userID, Int64(version)]
            )
            return try Int64.fetchOne(
                db,
                sql: "SELECT wraps FROM kek_versions WHERE user_id = ? AND version = ?",
                arguments: [userID, Int64(version)]
            ) ?? 0
        }
    }

    func commit(expected: UserRecord, next: UserRecord, addKEK: SealedKEKRecord?, eraseKEKs: Bool) async throws(KeyStoreError) {
        try await write { db in
            guard
                let current = try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [expected.id]).map(Self.user(from:))
            else {
                throw KeyStoreError.noSuchUser(expected.id)
            }
            guard current == expected else { throw KeyStoreError.changed(expected.id) }
            if let kek = addKEK {
                try db.execute(
                    sql: "INSERT INTO kek_versions (user_id, version, sealed, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [kek.userID, Int64(kek.version), Data(kek.sealed), kek.createdAt]
                )
            }
            if eraseKEKs {
                // secure_delete overwrites the freed rows in the database pages.
                try db.execute(sql: "DELETE FROM kek_versions WHERE user_id = ?", arguments: [expected.id])
            }
            try Self.save(next, in: db, insert: false)
        }
    }

    func purgeErased() async throws(KeyStoreError) {
        // Copy the overwritten pages into the database and empty the WAL, so erased sealed KEKs
        // survive in neither file. Readers can hold a checkpoint back; retry for about a second.
        for _ in 0..<50 {
            let done =
                (try? await pool.writeWithoutTransaction { db -> Bool in
                    // The checkpoint waits for readers through the busy handler: without this,
                    // each attempt would wait the whole busy timeout instead of 20 ms.
                    try db.execute(sql: "PRAGMA busy_timeout = 0")
                    defer { try? db.execute(sql: "PRAGMA busy_timeout = 5000") }
                    let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                    return (row?[0] as Int64?) == 0
                }) ?? false
            if done { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        throw .incomplete("the WAL checkpoint that erases the old KEK pages did not finish (readers held it back)")
    }

    func keyCheck(orCreate make: @Sendable () throws -> [UInt8]) async throws(KeyStoreError) -> [UInt8] {
        do {
            return try await pool.write { db in
                if let existing = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'root-key-check'") {
                    return Array(existing)
                }
                let fresh = try make()
                try db.execute(sql: "INSERT INTO meta (name, value) VALUES ('root-key-check', ?)", arguments: [Data(fresh)])
                return fresh
            }
        } catch {
            throw .storage("\(error)")
        }
    }

    func revokedIdentities() async throws(KeyStoreError) -> [String] {
        try await read { db in try String.fetchAll(db, sql: "SELECT matcher FROM revoked_identities ORDER BY matcher") }
    }

    func setRevoked(_ matcher: String, revoked: Bool) async throws(KeyStoreError) {
        try await write { db in
            if revoked {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO revoked_identities (matcher, created_at) VALUES (?, ?)",
                    arguments: [matcher, Timestamps.string(Date())]
                )
            } else {
                try db.execute(sql: "DELETE FROM revoked_identities WHERE matcher = ?", arguments: [matcher])
            }
        }
    }

    func ping() async throws(KeyStoreError) {
        _ = try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM meta") }
    }

    func countUnwraps(_ counts: [String: Int64], window: Int64) async throws(KeyStoreError) -> [String: Int64] {
        try await write { db in
            try db.execute(sql: "DELETE FROM unwrap_counts WHERE window_start < ?", arguments: [window])
            var totals: [String: Int64] = [:]
            for (user, count) in counts {
                try db.execute(
                    sql: """
                        INSERT INTO unwrap_counts (user_id, window_start, count) VALUES (?, ?, ?)
                        ON CONFLICT (user_id, window_start) DO UPDATE SET count = count + excluded.count
                        """,
                    arguments: [user, window, count]
                )
                totals[user] =
                    try Int64.fetchOne(
                        db, sql: "SELECT count FROM unwrap_counts WHERE user_id = ? AND window_start = ?", arguments: [user, window]) ?? 0
            }
            return totals
        }
    }

    func clearUnwraps(userID: String) async throws(KeyStoreError) {
        try await write { db in try db.execute(sql: "DELETE FROM unwrap_counts WHERE user_id = ?", arguments: [userID]) }
    }

    /// One process owns the file: there is nobody else to hear from.
    func followChanges(_ onChange: @escaping @Sendable (KeyStoreChange) -> Void) async throws(KeyStoreError) {}

    func close() async {
        try? pool.close()
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(KeyStoreError) -> T {
        do {
            return try await pool.read(body)
        } catch let error as KeyStoreError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(KeyStoreError) -> T {
        do {
            return try await pool.write(body)
        } catch let error as KeyStoreError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    static func save(_ user: UserRecord, in db: Database, insert: Bool) throws {
        let arguments: StatementArguments = [
            user.homeRegion, user.state.rawValue, Int64(user.currentKEKVersion), Int64(user.minKEKVersion),
            user.destroyAfter?.timeIntervalSince1970, user.unwrapLocked, user.createdAt, user.id,
        ]
        if insert {
            try db.execute(
                sql: """
                    INSERT INTO users (home_region, state, current_kek_version, min_kek_version, destroy_after, unwrap_locked, created_at, id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: arguments
            )
        } else {
            try db.execute(
                sql: """
                    UPDATE users SET home_region = ?, state = ?, current_kek_version = ?, min_kek_version = ?, destroy_after = ?,
                        unwrap_locked = ?, created_at = ? WHERE id = ?
                    """,
                arguments: arguments
            )
        }
    }

    static func kek(from row: Row) -> SealedKEKRecord {
        SealedKEKRecord(
            userID: row["user_id"],
            version: UInt32(row["version"] as Int64),
            sealed: Array(row["sealed"] as Data),
            createdAt: row["created_at"],
            wraps: row["wraps"]
        )
    }

    static func user(from row: Row) throws -> UserRecord {
        let state: String = row["state"]
        guard let parsed = UserRecord.State(rawValue: state) else {
            throw KeyStoreError.storage("user \(row["id"] as String) has unknown state '\(state)'")
        }
        return UserRecord(
            id: row["id"],
            homeRegion: row["home_region"],
            state: parsed,
            currentKEKVersion: UInt32(row["current_kek_version"] as Int64),
            minKEKVersion: UInt32(row["min_kek_version"] as Int64),
            createdAt: row["created_at"],
            destroyAfter: (row["destroy_after"] as Double?).map { Date(timeIntervalSince1970: $0) },
            unwrapLocked: row["unwrap_locked"]
        )
    }
}
