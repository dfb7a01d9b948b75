import Foundation
import PostgresNIO

/// The users table's columns in one order, shared by every query that reads a user.
enum UserColumns {
    static let list = "id, home_region, state, current_kek_version, min_kek_version, destroy_after, unwrap_locked, created_at"
    typealias Row = (String, String, String, Int64, Int64, Double?, Bool, String)

    static func record(_ row: Row) throws -> UserRecord {
        guard let state = UserRecord.State(rawValue: row.2) else {
            throw KeyStoreError.storage("user \(row.0) has unknown state '\(row.2)'")
        }
        return UserRecord(
            id: row.0, homeRegion: row.1, state: state, currentKEKVersion: UInt32(truncatingIfNeeded: row.3),
            minKEKVersion: UInt32(truncatingIfNeeded: row.4), createdAt: row.7,
            destroyAfter: row.5.map { Date(timeIntervalSince1970: $0) }, unwrapLocked: row.6)
    }
}

// Prepared statements for the calls every key operation makes: parsed and planned once per
// connection instead of once per request.

struct SelectUser: PostgresPreparedStatement {
    static let sql = "SELECT \(UserColumns.list) FROM users WHERE id = $1"
    typealias Row = UserRecord
    var id: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try UserColumns.record(try row.decode(UserColumns.Row.self))
    }
}

struct SelectKEK: PostgresPreparedStatement {
    static let sql = "SELECT user_id, version, sealed, created_at, wraps FROM kek_versions WHERE user_id = $1 AND version = $2"
    typealias Row = SealedKEKRecord
    var userID: String
    var version: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(userID)
        bindings.append(version)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let (user, version, sealed, created, wraps) = try row.decode((String, Int64, Data, String, Int64).self)
        return SealedKEKRecord(
            userID: user, version: UInt32(truncatingIfNeeded: version), sealed: Array(sealed), createdAt: created, wraps: wraps)
    }
}

/// The user and one KEK version in one round trip (the unwrap path).
struct SelectUserAndKEK: PostgresPreparedStatement {
    static let sql = """
        SELECT u.id, u.home_region, u.state, u.current_kek_version, u.min_kek_version, u.destroy_after, u.unwrap_locked,
               u.created_at, k.version, k.sealed, k.created_at, k.wraps
        FROM users u LEFT JOIN kek_versions k ON k.user_id = u.id AND k.version = $2
        WHERE u.id = $1
        """
    typealias Row = (UserRecord, SealedKEKRecord?)
    var id: String
    var version: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(id)
        bindings.append(version)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        do {
            let columns = try row.decode(
                (String, String, String, Int64, Int64, Double?, Bool, String, Int64?, Data?, String?, Int64?).self)
            let user = try UserColumns.record(
                (columns.0, columns.1, columns.2, columns.3, columns.4, columns.5, columns.6, columns.7))
            guard let version = columns.8, let sealed = columns.9, let created = columns.10, let wraps = columns.11 else {
                return (user, nil)
            }
            return (
                user,
                SealedKEKRecord(
                    userID: user.id, version: UInt32(truncatingIfNeeded: version), sealed: Array(sealed), createdAt: created,
                    wraps: wraps)
            )
        }
    }
}

struct CountWrap: PostgresPreparedStatement {
    static let sql = "UPDATE kek_versions SET wraps = wraps + 1 WHERE user_id = $1 AND version = $2 RETURNING wraps"
    typealias Row = Int64
    var userID: String
    var version: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(userID)
        bindings.append(version)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Int64.self)
    }
}
