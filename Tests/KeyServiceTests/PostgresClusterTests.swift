import Foundation
import Logging
import PostgresNIO
import SplitKeyTestSupport
import Testing

/// The throwaway PostgreSQL cluster of Tests/Support (scripts/postgres-cluster) does what the
/// PostgreSQL tests rely on: databases of their own on the shared cluster, data that survives a
/// restart and a crash, the same address after both.
@Suite(.enabled(if: PostgresCluster.skipReason == nil, "PostgreSQL 15 is not installed (see the printed reason)"))
struct PostgresClusterTests {
    @Test func sharedClusterGivesEachTestItsOwnDatabase() async throws {
        let cluster = try await PostgresCluster.shared()
        #expect(try await PostgresCluster.shared() === cluster, "one shared cluster per process")
        #expect(cluster.url == "postgres://splitkey@127.0.0.1:\(cluster.port)/postgres")
        #expect(cluster.port > 0 && cluster.port < 55000)
        let name = PostgresCluster.uniqueDatabaseName()
        let url = try await cluster.createDatabase(name)
        #expect(url == "postgres://splitkey@127.0.0.1:\(cluster.port)/\(name)")
        _ = try await cluster.psql("CREATE TABLE t (k text PRIMARY KEY, v int); INSERT INTO t VALUES ('a', 1), ('b', 2)", database: name)
        #expect(try await cluster.psql("SELECT k, v FROM t ORDER BY k", database: name) == "a|1\nb|2")
        // The default database does not see it.
        #expect(try await cluster.psql("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == "0")
        #expect(try await cluster.psql("SHOW fsync") == "on")
        await #expect(throws: TestFailure.self) { try await cluster.stop() }

        let dump = String(decoding: try await cluster.dump(database: name), as: UTF8.self)
        #expect(dump.contains("CREATE TABLE public.t"))
        #expect(dump.contains("COPY public.t (k, v) FROM stdin;\na\t1\nb\t2\n"))
    }

    /// The URL's parts are what a driver needs: PostgresNIO connects over TCP without a password.
    @Test func postgresNIOConnects() async throws {
        let cluster = try await PostgresCluster.shared()
        let name = PostgresCluster.uniqueDatabaseName()
        try await cluster.createDatabase(name)
        let configuration = PostgresConnection.Configuration(
            host: cluster.host, port: cluster.port, username: cluster.username, password: nil, database: name, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Logger(label: "test"))
        var seen: [String] = []
        do {
            let rows = try await connection.query("SELECT current_user, current_database()", logger: Logger(label: "test"))
            for try await (user, db) in rows.decode((String, String).self) { seen = [user, db] }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        #expect(seen == [cluster.username, name])
    }

    @Test func stopThenStartKeepsDataAndPort() async throws {
        try await withPrivateCluster("pg-restart") { cluster in
            _ = try await cluster.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (7)")
            let pid = try #require(cluster.postmasterPID)
            try await cluster.stop()
            #expect(!cluster.isRunning)
            await #expect(throws: TestFailure.self) { try await cluster.psql("SELECT 1") }
            try await cluster.stop()  // stopping a stopped cluster is fine
            try await cluster.start()
            try await cluster.start()  // and so is starting a running one
            #expect(try #require(cluster.postmasterPID) != pid)
            #expect(try await cluster.psql("SELECT v FROM t") == "7")
            #expect(try String(contentsOf: cluster.directory.appendingPathComponent("port"), encoding: .utf8) == "\(cluster.port)\n")
            #expect(FileManager.default.fileExists(atPath: cluster.dataDirectory.appendingPathComponent("PG_VERSION").path))
        }
    }

    @Test func killThenStartRecoversCommittedRows() async throws {
        try await withPrivateCluster("pg-kill") { cluster in
            _ = try await cluster.psql("CREATE TABLE t (v int)")
            for v in 1...3 { _ = try await cluster.psql("INSERT INTO t VALUES (\(v))") }
            let pid = try #require(cluster.postmasterPID)
            try await cluster.kill()
            #expect(!cluster.isRunning)
            await #expect(throws: TestFailure.self) { try await cluster.psql("SELECT 1") }
            try await cluster.start()
            #expect(try #require(cluster.postmasterPID) != pid)
            #expect(try await cluster.psql("SELECT string_agg(v::text, ',' ORDER BY v) FROM t") == "1,2,3")
            let log = try String(contentsOf: cluster.directory.appendingPathComponent("log"), encoding: .utf8)
            #expect(log.contains("was interrupted") || log.contains("not properly shut down"), "the restart ran crash recovery")
        }
    }

    /// A cluster of the test's own, removed afterwards however the test ends.
    private func withPrivateCluster(_ label: String, _ body: (PostgresCluster) async throws -> Void) async throws {
        let cluster = try await PostgresCluster.start(label: label)
        do {
            try await body(cluster)
        } catch {
            await cluster.remove()
            throw error
        }
        await cluster.remove()
    }
}
