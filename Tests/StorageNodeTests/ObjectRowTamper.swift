import Foundation
import GRDB
import SplitKeyTestSupport

/// What an attacker with write access to the node's metadata database does to the one object
/// row a tamper test stores: read a field, write it back altered. The embedded store's SQLite
/// file is opened without foreign keys; PostgreSQL is reached through `psql` as the cluster's
/// superuser with `session_replication_role = replica`, which skips the foreign-key triggers,
/// so a flipped `data_key_id` can point anywhere on both.
///
/// Statements have no WHERE: the tests hold exactly one object row.
enum ObjectRowTamper {
    case sqlite(DatabaseQueue)
    case postgres(RegionStorage)

    static func open(_ storage: RegionStorage) throws -> ObjectRowTamper {
        if storage.backend == .s3Postgres { return .postgres(storage) }
        var config = Configuration()
        config.foreignKeysEnabled = false
        return .sqlite(
            try DatabaseQueue(path: storage.stateDirectory.appendingPathComponent("metadata.sqlite").path, configuration: config))
    }

    /// A column's stored bytes: BLOB/BYTEA as they are, TEXT as its UTF-8.
    func bytes(_ column: String) async throws -> [UInt8] {
        switch self {
        case .sqlite(let db):
            return try await db.read { db in
                let value = try Row.fetchOne(db, sql: "SELECT \(column) FROM objects")![0] as DatabaseValue
                switch value.storage {
                case .blob(let data): return Array(data)
                case .string(let text): return Array(text.utf8)
                default: throw TestFailure("objects.\(column) is \(value)")
                }
            }
        case .postgres(let storage):
            let hex = try await storage.psql("SELECT encode(\(column)::bytea, 'hex') FROM objects")
            guard let bytes = Self.bytes(hex: hex) else { throw TestFailure("objects.\(column): psql printed \(hex)") }
            return bytes
        }
    }

    func integer(_ column: String) async throws -> Int64 {
        switch self {
        case .sqlite(let db):
            return try await db.read { try Int64.fetchOne($0, sql: "SELECT \(column) FROM objects")! }
        case .postgres(let storage):
            let text = try await storage.psql("SELECT \(column) FROM objects")
            guard let value = Int64(text) else { throw TestFailure("objects.\(column): psql printed \(text)") }
            return value
        }
    }

    func setBytes(_ column: String, _ bytes: [UInt8]) async throws {
        switch self {
        case .sqlite(let db):
            try await db.write { try $0.execute(sql: "UPDATE objects SET \(column) = ?", arguments: [Data(bytes)]) }
        case .postgres(let storage):
            try await update(storage, "\(column) = decode('\(Self.hex(bytes))', 'hex')")
        }
    }

    func setInteger(_ column: String, _ value: Int64) async throws {
        switch self {
        case .sqlite(let db):
            try await db.write { try $0.execute(sql: "UPDATE objects SET \(column) = ?", arguments: [value]) }
        case .postgres(let storage):
            try await update(storage, "\(column) = \(value)")
        }
    }

    /// Stores `bytes` in a TEXT column. SQLite keeps any bytes there, as a damaged page would;
    /// PostgreSQL refuses text that is not UTF-8 or holds a NUL, so such a flip cannot happen
    /// there and the call answers false.
    func setText(_ column: String, _ bytes: [UInt8]) async throws -> Bool {
        switch self {
        case .sqlite(let db):
            try await db.write {
                try $0.execute(sql: "UPDATE objects SET \(column) = CAST(? AS TEXT)", arguments: [Data(bytes)])
            }
            return true
        case .postgres(let storage):
            guard String(validating: bytes, as: UTF8.self) != nil, !bytes.contains(0) else { return false }
            try await update(storage, "\(column) = convert_from(decode('\(Self.hex(bytes))', 'hex'), 'UTF8')")
            return true
        }
    }

    private func update(_ storage: RegionStorage, _ assignment: String) async throws {
        _ = try await storage.psql(
            "BEGIN; SET LOCAL session_replication_role = replica; UPDATE objects SET \(assignment); COMMIT;")
    }

    private static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    private static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        return stride(from: 0, to: digits.count, by: 2).map { i in
            UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16)
        }.reduce(into: [UInt8]?([])) { out, byte in
            if let byte { out?.append(byte) } else { out = nil }
        }
    }
}
