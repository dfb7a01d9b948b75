import Foundation
import Shared
import SplitKeyTestSupport
import Testing

@testable import KeyService

/// What `pki init --postgres` writes and what a replica's config may say: parsed by the
/// KeyService's own loader, so a config the docs show cannot drift from what starts.
@Suite struct ReplicaConfigTests {
    @Test func pkiInitWritesOneConfigPerReplicaAndNodesListThemAll() async throws {
        let dir = try TestPaths.temporaryDirectory("replica-configs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = "postgres://splitkey@db.example.org:5432/splitkey?sslmode=require"
        let pki = try await ChildProcess.run(
            try TestPaths.binary("keyservice"),
            ["pki", "init", "--dir", dir.path, "--postgres", url, "--replicas", "3", "--port", "9100"], in: dir)
        #expect(pki.status == 0, "\(pki.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("keyservice.yaml").path))
        var seen: [(String, Int, String)] = []
        for replica in 1...3 {
            let config = try await KeyServiceConfig.load(
                path: dir.appendingPathComponent("keyservice-\(replica).yaml").path, environment: [:])
            guard case .postgres(let postgres) = config.keyStore else {
                Issue.record("replica \(replica) is not on PostgreSQL")
                continue
            }
            #expect(postgres.host == "db.example.org" && postgres.database == "splitkey" && postgres.tls == .require)
            #expect(postgres.password == nil)
            seen.append((config.replicaID, config.port, config.auditFile))
        }
        #expect(Set(seen.map(\.0)) == ["ks-1", "ks-2", "ks-3"])
        #expect(seen.map(\.1) == [9100, 9101, 9102])
        #expect(Set(seen.map(\.2)).count == 3, "each replica keeps its own audit trail")
        let node = try String(contentsOf: dir.appendingPathComponent("storagenode-eu-west.yaml"), encoding: .utf8)
        #expect(node.contains("urls: [https://localhost:9100, https://localhost:9101, https://localhost:9102]"), "\(node)")
    }

    @Test func theDeployedReplicaExampleLoads() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let example = repository.appendingPathComponent("deploy/etc/splitkey/keyservice-replica.yaml").path
        let config = try await KeyServiceConfig.load(
            path: example,
            environment: [
                "SPLITKEY_REPLICA_ID": "host-a", "SPLITKEY_TLS_PRIVATE_KEY": "/run/credentials/keyservice.service/tls-key",
            ])
        #expect(config.replicaID == "host-a")
        guard case .postgres(let postgres) = config.keyStore else {
            Issue.record("the replica example is not on PostgreSQL")
            return
        }
        #expect(postgres.tls == .verifyFull && postgres.caFile != nil)
    }

    @Test(arguments: [
        ("postgres://splitkey:secret@127.0.0.1/db", "holds a password"),
        ("postgres://splitkey@127.0.0.1/db?sslmode=prefer", "not one of disable, require, verify-full"),
        ("postgres://splitkey@127.0.0.1/db?sslmode=verify-full", "needs the CA file"),
        ("postgres://splitkey@127.0.0.1/", "needs one database name"),
        ("mysql://splitkey@127.0.0.1/db", "is not a postgres://"),
        ("postgres://127.0.0.1/db", "needs a user and a host"),
    ])
    func badStoreURLsAreRefusedWithTheReason(_ url: String, _ reason: String) async throws {
        let dir = try TestPaths.temporaryDirectory("replica-bad-url")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.writeConfig(in: dir, storeURL: "\(url)")
        await #expect {
            _ = try await KeyServiceConfig.load(path: path, environment: [:])
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".contains("keyStore")
        }
    }

    @Test func aPasswordComesFromTheCredentialsDirectory() async throws {
        let dir = try TestPaths.temporaryDirectory("replica-password")
        defer { try? FileManager.default.removeItem(at: dir) }
        try SecretFile.write(Array("s3cret\n".utf8), to: dir.appendingPathComponent("keystore-password").path)
        let path = try Self.writeConfig(in: dir, storeURL: "postgres://splitkey@127.0.0.1:5432/db")
        let config = try await KeyServiceConfig.load(path: path, environment: ["CREDENTIALS_DIRECTORY": dir.path])
        guard case .postgres(let postgres) = config.keyStore else {
            Issue.record("not on PostgreSQL")
            return
        }
        #expect(postgres.password == "s3cret")
        #expect(!postgres.redacted.contains("s3cret"))
    }

    @Test(.enabled(if: PostgresCluster.skipReason == nil, "PostgreSQL 15 is not installed"))
    func migrateBringsAnEmptyDatabaseToTheSchemaAndIsIdempotent() async throws {
        let cluster = try await PostgresCluster.shared()
        let database = PostgresCluster.uniqueDatabaseName()
        let url = try await cluster.createDatabase(database)
        let dir = try TestPaths.temporaryDirectory("replica-migrate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.writeConfig(in: dir, storeURL: "\(url)")
        for _ in 0..<2 {
            let run = try await ChildProcess.run(try TestPaths.binary("keyservice"), ["migrate", "--config", path], in: dir)
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("schema at version \(PostgresMigrations.latest)"), "\(run.output)")
        }
        #expect(try await cluster.psql("SELECT count(*) FROM splitkey_schema", database: database) == "\(PostgresMigrations.all.count)")
    }

    /// The smallest KeyService config on PostgreSQL (the TLS files are only named, never read).
    static func writeConfig(in dir: URL, storeURL: String) throws -> String {
        let path = dir.appendingPathComponent("keyservice.yaml").path
        try """
        tls:
          certificate: c.pem
          privateKey: k.pem
          ca: ca.pem
        stateDirectory: state
        keyStore:
          backend: postgres
          url: "\(storeURL)"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
