import Foundation
import GRDB
import Logging
import NIOCore
import Shared

/// Where a test's StorageNodes keep a region's data: the embedded default (a blob folder and a
/// SQLite file in the node's state directory) or the scale-out engines (a SeaweedFS bucket and a
/// PostgreSQL database). Suites that take a `RegionBackend` argument run once on each.
public enum RegionBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    /// `blobs.backend: folder`, `metadata.backend: sqlite`.
    case embedded
    /// `blobs.backend: s3` on SeaweedFS, `metadata.backend: postgres`.
    case s3Postgres

    public var description: String { rawValue }

    /// Why this backend cannot run here (its engine is not installed), or nil.
    public var skipReason: String? {
        switch self {
        case .embedded: nil
        case .s3Postgres: SeaweedFS.skipReason ?? PostgresCluster.skipReason
        }
    }
}

/// One region's storage for a test: what the node's configuration needs to use it, and the raw
/// access an attacker or a broken engine has (blob bytes, the engines' files on disk), so tests
/// can check and alter what is at rest on either backend through one interface.
public final class RegionStorage: Sendable {
    public let backend: RegionBackend
    /// The first node's state directory (where the embedded backend keeps everything).
    public let stateDirectory: URL
    /// The S3 server, bucket and a client for them; nil on the embedded backend.
    public let seaweedFS: SeaweedFS?
    public let bucket: String?
    let client: S3Client?
    /// The PostgreSQL cluster and database URL; nil on the embedded backend.
    public let postgres: PostgresCluster?
    public let databaseURL: String?

    /// The key prefix of blobs in the bucket (the node's default `blobs.s3.prefix`).
    public static let blobPrefix = "blobs/"

    /// Storage of `backend` for a node whose state directory is `stateDirectory`. With
    /// `privateEngines`, the engines are this test's own processes (so it may stop or kill
    /// them); otherwise a fresh bucket and database on the run's shared engines.
    public static func make(_ backend: RegionBackend, stateDirectory: URL, privateEngines: Bool = false) async throws
        -> RegionStorage
    {
        switch backend {
        case .embedded:
            return RegionStorage(
                backend: backend, stateDirectory: stateDirectory, seaweedFS: nil, bucket: nil, client: nil, postgres: nil,
                databaseURL: nil)
        case .s3Postgres:
            if let reason = backend.skipReason { throw TestFailure("backend \(backend) cannot run here: \(reason)") }
            let server = privateEngines ? try await SeaweedFS.start(label: "region-s3") : try await SeaweedFS.shared()
            let cluster: PostgresCluster
            do {
                cluster = privateEngines ? try await PostgresCluster.start(label: "region-pg") : try await PostgresCluster.shared()
            } catch {
                if privateEngines { await server.remove() }
                throw error
            }
            do {
                let bucket = try await server.createBucket()
                let url = try await cluster.createDatabase()
                // Retries as short as a test can wait for, so that a stopped engine is seen quickly.
                let client = S3Client(settings: try server.settings(bucket: bucket), logger: Logger(label: "test.region-s3"))
                return RegionStorage(
                    backend: backend, stateDirectory: stateDirectory, seaweedFS: server, bucket: bucket, client: client,
                    postgres: cluster, databaseURL: url)
            } catch {
                if privateEngines {
                    await server.remove()
                    await cluster.remove()
                }
                throw error
            }
        }
    }

    private init(
        backend: RegionBackend, stateDirectory: URL, seaweedFS: SeaweedFS?, bucket: String?, client: S3Client?,
        postgres: PostgresCluster?, databaseURL: String?
    ) {
        self.backend = backend
        self.stateDirectory = stateDirectory
        self.seaweedFS = seaweedFS
        self.bucket = bucket
        self.client = client
        self.postgres = postgres
        self.databaseURL = databaseURL
    }

    /// The `SPLITKEY_*` settings that point a node at this storage (none for the embedded one,
    /// whose settings are the dev config's defaults).
    public var nodeEnvironment: [String: String] {
        guard let seaweedFS, let bucket, let databaseURL else { return [:] }
        return [
            "SPLITKEY_BLOBS_BACKEND": "s3",
            "SPLITKEY_BLOBS_S3_ENDPOINT": seaweedFS.endpoint.absoluteString,
            "SPLITKEY_BLOBS_S3_BUCKET": bucket,
            "SPLITKEY_BLOBS_S3_REGION": seaweedFS.region,
            "SPLITKEY_BLOBS_S3_CREDENTIALS_FILE": seaweedFS.credentialsFile.path,
            "SPLITKEY_METADATA_BACKEND": "postgres",
            "SPLITKEY_METADATA_URL": databaseURL,
            // Long enough that a loaded CI machine does not turn slow calls into 503s; tests of
            // the deadline itself set a shorter one.
            "SPLITKEY_METADATA_TIMEOUT": "15",
        ]
    }

    private var blobFolder: URL { stateDirectory.appendingPathComponent("blobs") }

    /// The names of every committed blob, in byte order.
    public func blobNames() async throws -> [String] {
        guard let client else {
            guard FileManager.default.fileExists(atPath: blobFolder.path) else { return [] }
            return try FileManager.default.subpathsOfDirectory(atPath: blobFolder.path)
                .filter { $0.contains("/") }.map { String($0.split(separator: "/").last!) }.sorted()
        }
        var names: [String] = []
        var token: String?
        repeat {
            let page = try await client.listObjectsV2(prefix: Self.blobPrefix, continuationToken: token)
            // Blob names are lower-case UUIDs; the store's label (`splitkey-label`) is no blob.
            names += page.objects.map { String($0.key.dropFirst(Self.blobPrefix.count)) }
                .filter { UUID(uuidString: $0) != nil && $0 == $0.lowercased() }
            token = page.nextContinuationToken
        } while token != nil
        return names.sorted()
    }

    /// The stored bytes of blob `name`.
    public func blob(_ name: String) async throws -> [UInt8] {
        guard let client else { return Array(try Data(contentsOf: filePath(name))) }
        let buffer = try await client.getObject(key: Self.blobPrefix + name).collect(upTo: 1 << 30)
        return Array(buffer.readableBytesView)
    }

    /// The blob store's label as text (`splitkey-label` under the prefix, or `blobs.label` in the
    /// state directory): which metadata database the blobs belong to.
    public func label() async throws -> String {
        guard let client else {
            return try String(contentsOf: stateDirectory.appendingPathComponent("blobs.label"), encoding: .utf8)
        }
        let buffer = try await client.getObject(key: Self.blobPrefix + "splitkey-label").collect(upTo: 4096)
        return String(decoding: buffer.readableBytesView, as: UTF8.self)
    }

    /// Replaces blob `name` with `bytes`, as someone with write access to the disk or bucket could.
    public func replaceBlob(_ name: String, with bytes: [UInt8]) async throws {
        guard let client else { return try Data(bytes).write(to: filePath(name)) }
        _ = try await client.putObject(key: Self.blobPrefix + name, body: ByteBuffer(bytes: bytes))
    }

    /// Deletes blob `name` behind the node's back.
    public func deleteBlob(_ name: String) async throws {
        guard let client else { return try FileManager.default.removeItem(at: filePath(name)) }
        try await client.deleteObject(key: Self.blobPrefix + name)
    }

    /// Runs `sql` in the region's PostgreSQL database as its owner (fault injection: triggers,
    /// locks); the answer's rows as psql prints them unaligned.
    public func psql(_ sql: String) async throws -> String {
        guard let postgres, let databaseURL else { throw TestFailure("the \(backend) backend has no PostgreSQL database") }
        return try await postgres.psql(sql, database: Self.databaseName(databaseURL))
    }

    /// Every stored wrapped data key with its user, read from the metadata store's table as an
    /// attacker with the database would.
    public func wrappedDataKeys() async throws -> [(user: String, wrapped: Data)] {
        if let postgres, let databaseURL {
            let text = try await postgres.psql(
                "SELECT user_id, encode(wrapped, 'hex') FROM data_keys ORDER BY id", database: Self.databaseName(databaseURL))
            return try text.split(separator: "\n").map { line in
                let parts = line.split(separator: "|", maxSplits: 1)
                guard parts.count == 2, let wrapped = Self.bytes(hex: parts[1]) else { throw TestFailure("unexpected psql row: \(line)") }
                return (String(parts[0]), Data(wrapped))
            }
        }
        var configuration = Configuration()
        configuration.readonly = true
        let db = try DatabaseQueue(path: stateDirectory.appendingPathComponent("metadata.sqlite").path, configuration: configuration)
        return try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT user_id, wrapped FROM data_keys ORDER BY id").map { ($0["user_id"], $0["wrapped"]) }
        }
    }

    /// Sets the wrapped key of every stored data key to `wrapped`, as an attacker with write
    /// access to the database could (tests store one data key).
    public func replaceWrappedDataKeys(with wrapped: Data) async throws {
        if let postgres, let databaseURL {
            let hex = wrapped.map { String(format: "%02x", $0) }.joined()
            _ = try await postgres.psql(
                "UPDATE data_keys SET wrapped = decode('\(hex)', 'hex')", database: Self.databaseName(databaseURL))
            return
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        let db = try DatabaseQueue(path: stateDirectory.appendingPathComponent("metadata.sqlite").path, configuration: configuration)
        try await db.write { try $0.execute(sql: "UPDATE data_keys SET wrapped = ?", arguments: [wrapped]) }
    }

    private static func bytes(hex: Substring) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    private static func databaseName(_ url: String) -> String { String(url.split(separator: "/").last ?? "postgres") }

    private func filePath(_ name: String) -> URL {
        blobFolder.appendingPathComponent(String(name.prefix(2))).appendingPathComponent(name)
    }

    /// Every folder where the region keeps something at rest: the node's state directory and,
    /// on the scale-out backend, the object store's data and the database cluster's files.
    public var atRestDirectories: [URL] {
        [stateDirectory] + [seaweedFS?.dataDirectory, postgres?.dataDirectory].compactMap { $0 }
    }

    /// Searches every file of ``atRestDirectories`` for each of `needles` (by label) with
    /// `scripts/scan-at-rest`, a searcher that shares no code with the daemons.
    public func scanAtRest(_ needles: [String: Data]) async throws -> AtRestScan {
        let request = stateDirectory.deletingLastPathComponent().appendingPathComponent("scan-\(UUID().uuidString).json")
        let body: [String: Any] = [
            "dirs": atRestDirectories.map(\.path),
            "needles": needles.mapValues { $0.map { String(format: "%02x", $0) }.joined() },
        ]
        try JSONSerialization.data(withJSONObject: body).write(to: request)
        defer { try? FileManager.default.removeItem(at: request) }
        let run = try await ChildProcess.run(
            try TestPaths.script("scan-at-rest"), [request.path], in: stateDirectory.deletingLastPathComponent())
        guard run.status == 0, let line = run.output.split(separator: "\n").last,
            let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let found = json["found"] as? [String: [String]]
        else { throw TestFailure("scan-at-rest failed (\(run.status)): \(run.output.suffix(2000))") }
        return AtRestScan(files: json["files"] as? Int ?? 0, bytes: json["bytes"] as? Int ?? 0, found: found)
    }

    /// Shuts the client down and removes private engines (shared ones stay for other tests).
    public func remove() async {
        try? await client?.shutdown()
        if let seaweedFS, !seaweedFS.isShared { await seaweedFS.remove() }
        if let postgres, !postgres.isShared { await postgres.remove() }
    }
}

/// What ``RegionStorage/scanAtRest(_:)`` found: the files that hold each needle, by label.
public struct AtRestScan: Sendable {
    public let files: Int
    public let bytes: Int
    public let found: [String: [String]]
}
