import Foundation
import GRDB

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
        return m
    }

    func createUser(_ user: UserRecord, firstKEK: SealedKEKRecord) async throws(KeyStoreError) {
        do {
            try await pool.write { db in
                if try Row.fetchOne(db, sql: "SELECT 1 FROM users WHERE id = ?", arguments: [user.id]) != nil {
                    throw KeyStoreError.userExists(user.id)
                }
                try db.execute(
                    sql: "INSERT INTO users (id, home_region, state, current_kek_version, created_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [user.id, user.homeRegion, user.state.rawValue, Int64(user.currentKEKVersion), user.createdAt]
                )
                try db.execute(
                    sql: "INSERT INTO kek_versions (user_id, version, sealed, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [firstKEK.userID, Int64(firstKEK.version), Data(firstKEK.sealed), firstKEK.createdAt]
                )
            }
        } catch let error as KeyStoreError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    func user(id: String) async throws(KeyStoreError) -> UserRecord? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id]).map(Self.user(from:))
            }
        } catch {
            throw .storage("\(error)")
        }
    }

    func users(after: String?, limit: Int) async throws(KeyStoreError) -> [UserRecord] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?",
                    arguments: [after ?? "", limit]
                ).map(Self.user(from:))
            }
        } catch {
            throw .storage("\(error)")
        }
    }

    func kek(userID: String, version: UInt32) async throws(KeyStoreError) -> SealedKEKRecord? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(
                    db,
                    sql: "SELECT * FROM kek_versions WHERE user_id = ? AND version = ?",
                    arguments: [userID, Int64(version)]
                ).map { row in
                    SealedKEKRecord(
                        userID: row["user_id"],
                        version: UInt32(row["version"] as Int64),
                        sealed: Array(row["sealed"] as Data),
                        createdAt: row["created_at"]
                    )
                }
            }
        } catch {
            throw .storage("\(error)")
        }
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

    func ping() async throws(KeyStoreError) {
        do {
            _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM meta") }
        } catch {
            throw .storage("\(error)")
        }
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
            createdAt: row["created_at"]
        )
    }
}
