import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PostgreSQL cluster in a temporary folder, run by `scripts/postgres-cluster`: role
/// `splitkey`, trust authentication, listening on 127.0.0.1 only.
///
/// Suites that only need a database use the process-wide ``shared()`` cluster and a database of
/// their own from ``createDatabase(_:)``. Tests that stop or kill the server start a private one
/// with ``start(label:)`` and ``remove()`` it at the end. Every cluster still running when the
/// test process exits is stopped then.
///
/// Gate the tests with `.enabled(if: PostgresCluster.skipReason == nil)`: without PostgreSQL they
/// are skipped (the reason is printed), unless `SPLITKEY_REQUIRE_POSTGRES=1` (CI) makes them run
/// and fail.
public final class PostgresCluster: Sendable {
    /// The folder the script manages: `data/` (the cluster), `log`, `port` and the Unix socket.
    public let directory: URL
    public let dataDirectory: URL
    public let host = "127.0.0.1"
    public let port: Int
    public let username = "splitkey"
    public let database = "postgres"
    /// True for ``shared()``, which no test may stop.
    public let isShared: Bool

    /// `postgres://splitkey@127.0.0.1:PORT/postgres`
    public var url: String { url(database: database) }

    public func url(database: String) -> String { "postgres://\(username)@\(host):\(port)/\(database)" }

    private init(directory: URL, port: Int, isShared: Bool) {
        self.directory = directory
        self.dataDirectory = directory.appendingPathComponent("data")
        self.port = port
        self.isShared = isShared
    }

    // MARK: Starting

    /// Starts a private cluster in a new temporary folder (initdb and start take about a second).
    public static func start(label: String = "postgres") async throws -> PostgresCluster {
        try await start(label: label, isShared: false)
    }

    /// The cluster shared by the whole test process: started on first use, stopped at exit.
    /// Use a database of your own on it (``createDatabase(_:)``), and do not stop it.
    public static func shared() async throws -> PostgresCluster {
        try await sharedCluster.value
    }

    private static let sharedCluster = Task<PostgresCluster, any Error> {
        try await start(label: "postgres-shared", isShared: true)
    }

    private static func start(label: String, isShared: Bool) async throws -> PostgresCluster {
        let dir = try TestPaths.temporaryDirectory(label)
        atExit.register(dir, remove: isShared)
        let output: String
        do {
            output = try await runScript(["start", dir.path], in: dir)
        } catch {
            _ = try? await runScript(["stop", dir.path], in: dir)
            atExit.unregister(dir)
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
        guard let text = try? String(contentsOf: dir.appendingPathComponent("port"), encoding: .utf8),
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw TestFailure("postgres-cluster start wrote no port to \(dir.path)/port:\n\(output)")
        }
        return PostgresCluster(directory: dir, port: port, isShared: isShared)
    }

    /// Starts the server again after ``stop()`` or ``kill()``: same data, same port (crash
    /// recovery runs after a kill). Does nothing if it runs.
    public func start() async throws {
        _ = try await Self.runScript(["start", directory.path, String(port)], in: directory)
    }

    // MARK: Stopping

    /// Fast shutdown (SIGINT to the postmaster), SIGKILL if it has not ended within 5 s.
    public func stop() async throws {
        try refuseIfShared("stop")
        _ = try await Self.runScript(["stop", directory.path], in: directory)
    }

    /// SIGKILL to the postmaster, a crash; returns once its processes are gone.
    public func kill() async throws {
        try refuseIfShared("kill")
        _ = try await Self.runScript(["kill", directory.path], in: directory)
    }

    /// Stops the server and deletes the folder (private clusters, at the end of a test).
    public func remove() async {
        guard !isShared else { return }
        _ = try? await Self.runScript(["stop", directory.path], in: directory)
        Self.atExit.unregister(directory)
        try? FileManager.default.removeItem(at: directory)
    }

    private func refuseIfShared(_ what: String) throws {
        if isShared {
            throw TestFailure("the shared PostgreSQL cluster is used by other tests: \(what) a private one (PostgresCluster.start())")
        }
    }

    /// The running postmaster's PID, or nil when none runs.
    public var postmasterPID: Int32? { Self.livePostmasterPID(in: directory) }

    public var isRunning: Bool { postmasterPID != nil }

    // MARK: Using

    /// Runs `psql -X -q -At -v ON_ERROR_STOP=1 -c SQL` and returns its output without the final
    /// newline (one row a line, columns separated by `|`); a failed statement throws.
    public func psql(_ sql: String, database: String? = nil) async throws -> String {
        let out = commandFile("out")
        defer { try? FileManager.default.removeItem(at: out) }
        _ = try await Self.runScript(
            ["psql", directory.path, "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database ?? self.database, "-o", out.path, "-c", sql],
            in: directory)
        var text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// `pg_dump` of a database (plain SQL); `arguments` go to pg_dump as they are.
    public func dump(database: String? = nil, arguments: [String] = []) async throws -> Data {
        let out = commandFile("sql")
        defer { try? FileManager.default.removeItem(at: out) }
        _ = try await Self.runScript(
            ["pg-dump", directory.path, "-d", database ?? self.database, "-f", out.path] + arguments, in: directory)
        return try Data(contentsOf: out)
    }

    /// Creates a database (a new unique name when none is given) and returns its URL.
    @discardableResult
    public func createDatabase(_ name: String = PostgresCluster.uniqueDatabaseName()) async throws -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_")
        guard let first = name.first, !first.isNumber, name.count <= 63, name.allSatisfy({ allowed.contains($0) }) else {
            throw TestFailure("database name '\(name)': use 1-63 of a-z, 0-9 and _, not starting with a digit")
        }
        _ = try await psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    public static func uniqueDatabaseName() -> String {
        "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    }

    private func commandFile(_ ext: String) -> URL {
        directory.appendingPathComponent("cmd-\(UUID().uuidString.prefix(8)).\(ext)")
    }

    /// Runs the script and returns its output (stdout and stderr); a non-zero exit throws.
    /// (posix_spawn, not Process: the postmaster outlives the script; see ScriptProcess.)
    @discardableResult
    private static func runScript(_ arguments: [String], in dir: URL) async throws -> String {
        try await ScriptProcess.runScript("postgres-cluster", arguments, in: dir, timeout: .seconds(120))
    }

    // MARK: Availability

    /// Why the PostgreSQL tests cannot run here (nil: they can), printed once when first asked.
    /// With `SPLITKEY_REQUIRE_POSTGRES=1` this is always nil, so missing binaries fail the tests
    /// instead of skipping them.
    public static let skipReason: String? = {
        guard let reason = missingPrerequisite() else { return nil }
        if ProcessInfo.processInfo.environment["SPLITKEY_REQUIRE_POSTGRES"] == "1" {
            print("PostgresCluster: \(reason); SPLITKEY_REQUIRE_POSTGRES=1, so the PostgreSQL tests run and fail")
            return nil
        }
        print("PostgresCluster: skipping the PostgreSQL tests: \(reason) (set SPLITKEY_REQUIRE_POSTGRES=1 to fail instead)")
        return reason
    }()

    private static func missingPrerequisite() -> String? {
        let fm = FileManager.default
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).sorted()
        let tools = ["postgres", "initdb", "pg_ctl", "psql", "pg_dump"]
        let usable = versions.filter { v in tools.allSatisfy { fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/\($0)") } }
        if usable.isEmpty {
            return
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin with \(tools.joined(separator: ", "))); run scripts/setup-system"
        }
        if (try? TestPaths.script("postgres-cluster")) == nil { return "scripts/postgres-cluster is missing" }
        if getuid() == 0 && !fm.isExecutableFile(atPath: "/usr/sbin/runuser") && !fm.isExecutableFile(atPath: "/sbin/runuser") {
            return "runuser (util-linux) is missing, needed to run PostgreSQL as a user other than root"
        }
        return nil
    }

    // MARK: Exit

    /// The clusters to stop when the process exits (plain syscalls in the atexit handler: the
    /// postmaster's PID from postmaster.pid, SIGINT, SIGKILL after 5 s).
    private static let atExit = ExitRegistry()

    fileprivate static func livePostmasterPID(in directory: URL) -> Int32? {
        let pidFile = directory.appendingPathComponent("data/postmaster.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
            let line = text.split(separator: "\n").first, let pid = Int32(line), pid > 0
        else { return nil }
        return isAlive(pid) ? pid : nil
    }

    /// Alive and not a zombie (an orphaned postmaster waits for PID 1 to reap it).
    fileprivate static func isAlive(_ pid: Int32) -> Bool { ScriptProcess.isAlive(pid) }
}

private final class ExitRegistry: Sendable {
    private struct Entry: Sendable {
        var directory: URL
        var remove: Bool
    }
    private let entries = Mutex<[Entry]>([])
    private let installed = Mutex(false)

    func register(_ directory: URL, remove: Bool) {
        entries.withLock { $0.append(Entry(directory: directory, remove: remove)) }
        let first = installed.withLock { done in
            defer { done = true }
            return !done
        }
        if first { atexit { PostgresCluster.stopAllAtExit() } }
    }

    func unregister(_ directory: URL) {
        entries.withLock { $0.removeAll { $0.directory == directory } }
    }

    fileprivate func stopAll() {
        let all = entries.withLock { list in
            defer { list.removeAll() }
            return list
        }
        var pids: [Int32] = []
        for entry in all {
            if let pid = PostgresCluster.livePostmasterPID(in: entry.directory) {
                kill(pid, SIGINT)
                pids.append(pid)
            }
        }
        let deadline = Date().addingTimeInterval(5)
        while pids.contains(where: PostgresCluster.isAlive) && Date() < deadline { usleep(50_000) }
        for pid in pids where PostgresCluster.isAlive(pid) { kill(pid, SIGKILL) }
        for entry in all where entry.remove { try? FileManager.default.removeItem(at: entry.directory) }
    }
}

extension PostgresCluster {
    fileprivate static func stopAllAtExit() { atExit.stopAll() }
}

/// A database of its own on the test process's shared cluster, or nil (the reason printed) when
/// PostgreSQL is not installed here.
public enum PostgresTestDatabase {
    public static func fresh() async throws -> String? {
        if let reason = PostgresCluster.skipReason {
            print("PostgreSQL suites skipped: \(reason)")
            return nil
        }
        return try await PostgresCluster.shared().createDatabase()
    }

    public static func psql(_ url: String, _ sql: String) async throws -> String {
        let database = String(url.split(separator: "/").last ?? "postgres")
        return try await PostgresCluster.shared().psql(sql, database: database)
    }
}
