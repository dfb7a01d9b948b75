import Foundation
import Shared
import SplitKeyTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The systemd integration against real components: a real `keyservice serve` process talking
/// `sd_notify` to a datagram socket the test binds (as systemd's NOTIFY_SOCKET would be), a real
/// `systemd-journald` read back with `journalctl`, and real `systemd-socket-activate`.
@Suite(.serialized)
struct SystemdIntegrationTests {
    typealias API = KeyServiceAPI

    @Test func notifiesReadyWatchdogReloadingAndStopping() async throws {
        let dir = try TestPaths.temporaryDirectory("notify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let notify = try NotifySocket(path: dir.appendingPathComponent("notify.sock").path)
        let ks = try await KeyServiceFixture.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"])
        do {
            let ready = try await notify.next(containing: "READY=1")
            #expect(ready.contains("STATUS=listening on 127.0.0.1:\(ks.port)"), "\(ready)")
            // WatchdogSec=0.4s: a keep-alive at least every 0.2 s.
            _ = try await notify.next(containing: "WATCHDOG=1", timeout: .seconds(5))

            ks.daemon.signal(SIGHUP)
            let reloading = try await notify.next(containing: "RELOADING=1")
            #expect(reloading.contains("MONOTONIC_USEC="))
            let reloaded = try await notify.next(containing: "READY=1")
            #expect(reloaded.contains("STATUS=reloaded configuration"), "\(reloaded)")

            ks.daemon.signal(SIGTERM)
            _ = try await notify.next(containing: "STOPPING=1")
            #expect(await ks.daemon.waitForExit() == 0, "\(ks.daemon.log)")
        } catch {
            await ks.tearDown()
            throw error
        }
        await ks.tearDown()
    }

    @Test func failedReloadStillReportsReadyWithTheReason() async throws {
        let dir = try TestPaths.temporaryDirectory("notify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let notify = try NotifySocket(path: dir.appendingPathComponent("notify.sock").path)
        let ks = try await KeyServiceFixture.start(environment: ["NOTIFY_SOCKET": notify.path])
        do {
            _ = try await notify.next(containing: "READY=1")
            let configPath = ks.path("keyservice.yaml")
            let config = try String(contentsOfFile: configPath, encoding: .utf8)
            try (config + "\nbogusSetting: 1\n").write(toFile: configPath, atomically: true, encoding: .utf8)
            ks.daemon.signal(SIGHUP)
            _ = try await notify.next(containing: "RELOADING=1")
            let ready = try await notify.next(containing: "READY=1")
            #expect(ready.contains("STATUS=reload failed, previous configuration in force"), "\(ready)")
            #expect(ready.contains("bogusSetting"), "\(ready)")
        } catch {
            await ks.tearDown()
            throw error
        }
        await ks.tearDown()
    }

    @Test func keyOperationsReachJournaldWithAuditFields() async throws {
        let journald = try await Journald.ensureRunning()
        defer { journald?.stop() }
        let ks = try await KeyServiceFixture.start()
        let notify = try NotifySocket(path: ks.path("notify.sock"))
        var daemon: ChildProcess?
        do {
            // The fixture's daemon logs to stderr (its readiness check reads that); replace it by
            // one that logs to the journal, and learn its readiness from READY=1 instead.
            #expect(await ks.stop() == 0)
            let journaled = try KeyServiceFixture.spawn(
                dir: ks.dir, port: ks.port, environment: ["SPLITKEY_LOG": "journal", "NOTIFY_SOCKET": notify.path])
            daemon = journaled
            _ = try await notify.next(containing: "READY=1")

            try await ks.createUser("alice", region: "eu-west")
            let generated = try await ks.client("node-eu-west").call(
                .POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "journald"))
            #expect(generated.status == .ok)

            let entry = try await Journald.entry(matching: [
                "SPLITKEY_OP=generate", "_PID=\(journaled.process.processIdentifier)",
            ])
            #expect(entry["MESSAGE"] == "key operation")
            #expect(entry["MESSAGE_ID"] == AuditMessageID.keyOperation)
            #expect(entry["SPLITKEY_USER"] == "alice")
            #expect(entry["SPLITKEY_OUTCOME"] == "granted")
            #expect(entry["SPLITKEY_PEER"]?.contains("node/eu-west") == true, "\(entry)")
            #expect(entry["SPLITKEY_REQUEST_ID"] == generated.requestID)
            #expect(entry["PRIORITY"] == "5")
            #expect(entry["SYSLOG_IDENTIFIER"] == "keyservice")
            // Metadata keys that are not journal-style become journal fields too.
            #expect(entry["SERVICE"] == "keyservice")
            // A log line that is not a key operation carries no audit MESSAGE_ID.
            let listening = try await Journald.entry(matching: [
                "_PID=\(journaled.process.processIdentifier)", "MESSAGE=keyservice listening",
            ])
            #expect(listening["MESSAGE_ID"] == nil)
            // Entries went to the journal, not to stderr.
            #expect(!journaled.log.contains("key operation"), "\(journaled.log)")

            journaled.signal(SIGTERM)
            #expect(await journaled.waitForExit() == 0)
        } catch {
            daemon?.signal(SIGKILL)
            await ks.tearDown()
            throw error
        }
        await ks.tearDown()
    }

    @Test func socketActivatedDaemonServesOnThePassedSocket() async throws {
        // Real `systemd-socket-activate` holds the listening socket and starts the daemon with it
        // as fd 3 named "https" on the first connection; the daemon must serve on that socket and
        // not bind its configured port.
        let activator = try Self.tool("systemd-socket-activate")
        let ks = try await KeyServiceFixture.start()
        var child: ChildProcess?
        do {
            #expect(await ks.stop() == 0)
            let activationPort = try freeLoopbackPort()
            let activated = try ChildProcess(
                executable: activator,
                arguments: [
                    "-l", "127.0.0.1:\(activationPort)", "--fdname=https", "-E", "SPLITKEY_LISTEN_PORT=\(ks.port)",
                    try TestPaths.binary("keyservice").path, "serve", "--config", ks.path("keyservice.yaml"),
                ],
                logURL: ks.dir.appendingPathComponent("activated.log")
            )
            child = activated
            try await activated.waitForLog("Listening on")
            // The first request waits in the socket's backlog while the daemon starts.
            let response = try await ks.client("admin").call(.GET, "https://localhost:\(activationPort)" + API.Path.users)
            #expect(response.status == .ok)
            #expect(activated.log.contains("using the socket passed by systemd"), "\(activated.log)")
            #expect(activated.log.contains("name=https"), "\(activated.log)")
            // The configured port stays free: the daemon did not bind it.
            await #expect(throws: (any Error).self) {
                _ = try await ks.client("admin", http1Only: true).call(.GET, ks.baseURL + API.Path.health)
            }
            activated.signal(SIGTERM)
            #expect(await activated.waitForExit() == 0)
        } catch {
            child?.signal(SIGKILL)
            await ks.tearDown()
            throw error
        }
        await ks.tearDown()
    }

    @Test func metadataKeysBecomeJournalFieldNames() {
        #expect(JournaldLogHandler.fieldName("SPLITKEY_OP") == "SPLITKEY_OP")
        #expect(JournaldLogHandler.fieldName("request.id") == "REQUEST_ID")
        #expect(JournaldLogHandler.fieldName("hb.request.id") == "HB_REQUEST_ID")
        #expect(JournaldLogHandler.fieldName("peer-address") == "PEER_ADDRESS")
        #expect(JournaldLogHandler.fieldName("_PID") == "META__PID")
        #expect(JournaldLogHandler.fieldName("2fa") == "META_2FA")
        #expect(JournaldLogHandler.fieldName("message") == "META_MESSAGE")
        #expect(JournaldLogHandler.fieldName(String(repeating: "a", count: 80)).count == 64)
    }

    @Test func logDestinationFollowsSplitKeyLogAndJournalStream() throws {
        var info = stat()
        #expect(fstat(STDERR_FILENO, &info) == 0)
        let ownStderr = "\(info.st_dev):\(info.st_ino)"
        #expect(LogSetup.stderrIsJournal(ownStderr))
        #expect(!LogSetup.stderrIsJournal("\(info.st_dev):\(info.st_ino + 1)"))
        #expect(!LogSetup.stderrIsJournal("garbage"))
        #expect(!LogSetup.stderrIsJournal(nil))
        #expect(LogSetup.destination(environment: [:]) == .stderr)
        #expect(LogSetup.destination(environment: ["JOURNAL_STREAM": ownStderr]) == .journal)
        #expect(LogSetup.destination(environment: ["JOURNAL_STREAM": ownStderr, "SPLITKEY_LOG": "stderr"]) == .stderr)
        #expect(LogSetup.destination(environment: ["SPLITKEY_LOG": "journal"]) == .journal)
    }

    static func tool(_ name: String) throws -> URL {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/lib/systemd"] {
            let url = URL(fileURLWithPath: dir).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw TestFailure("\(name) is missing: install the Debian package systemd (scripts/setup-system does)")
    }

    /// Opens and closes one TCP connection to 127.0.0.1:`port`.
    static func connect(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw TestFailure("cannot connect to 127.0.0.1:\(port): errno \(errno)") }
    }
}

/// A unix datagram socket in the role of systemd's NOTIFY_SOCKET: it receives what the daemon
/// sends with `sd_notify`, one datagram per notification.
final class NotifySocket {
    let path: String
    private let fd: Int32
    private(set) var received: [String] = []

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket(AF_UNIX, SOCK_DGRAM) failed: errno \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw TestFailure("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            throw TestFailure("cannot bind \(path): errno \(errno)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The next notification that has `line` as one of its lines (earlier others are skipped).
    func next(containing line: String, timeout: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                let message = String(decoding: buffer[0..<count], as: UTF8.self)
                received.append(message)
                if message.split(separator: "\n").contains(Substring(line)) { return message }
                continue
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("no notification with \(line) within \(timeout); received: \(received)")
    }
}

/// A real systemd-journald: the one already running, or one started for the test (as
/// machine-facts.md describes) and stopped by its PID afterwards.
final class Journald {
    private let process: Process
    private let logDirectory: URL

    private init(process: Process, logDirectory: URL) {
        self.process = process
        self.logDirectory = logDirectory
    }

    static var isRunning: Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { pid in
            guard pid.allSatisfy(\.isNumber) else { return false }
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            return comm.hasPrefix("systemd-journal")
        }
    }

    /// Starts journald unless one runs; returns the started one (to stop), or nil.
    static func ensureRunning() async throws -> Journald? {
        if isRunning { return nil }
        let binary = try SystemdIntegrationTests.tool("systemd-journald")
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = binary
        process.standardInput = FileHandle.nullDevice
        // A file, not a pipe: nobody reads while journald runs, and a full pipe would block it.
        let logURL = try TestPaths.temporaryDirectory("journald").appendingPathComponent("journald.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: logURL)
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            throw TestFailure("cannot start \(binary.path) (a real journald is required for this test): \(error)")
        }
        let journald = Journald(process: process, logDirectory: logURL.deletingLastPathComponent())
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") && process.isRunning {
                // The socket exists; wait until journald answers a read.
                if (try? await journalctl(["-n", "0"]))?.status == 0 { return journald }
            }
            if !process.isRunning {
                let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
                journald.stop()
                throw TestFailure("systemd-journald exited with \(process.terminationStatus) at start: \(text)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        journald.stop()
        throw TestFailure("systemd-journald did not create /run/systemd/journal/socket within 10 s")
    }

    func stop() {
        defer { try? FileManager.default.removeItem(at: logDirectory) }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    static func journalctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let dir = try TestPaths.temporaryDirectory("journalctl")
        defer { try? FileManager.default.removeItem(at: dir) }
        return try await ChildProcess.run(try SystemdIntegrationTests.tool("journalctl"), ["--no-pager"] + arguments, in: dir)
    }

    /// The newest journal entry with all of `matches` (`FIELD=value`), waiting up to 10 s for it.
    static func entry(matching matches: [String]) async throws -> [String: String] {
        let deadline = ContinuousClock.now + .seconds(10)
        var last = ""
        while ContinuousClock.now < deadline {
            let result = try await journalctl(["-o", "json", "-n", "1"] + matches)
            last = result.output
            if result.status == 0,
                let line = result.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            {
                return object.compactMapValues { $0 as? String }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("no journal entry with \(matches.joined(separator: " ")) within 10 s; journalctl said: \(last)")
    }
}
