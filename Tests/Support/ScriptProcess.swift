import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the repository's engine scripts (`scripts/postgres-cluster`, `scripts/seaweedfs`) to
/// completion: scripts that start a server which outlives them.
///
/// posix_spawn and waitpid rather than Foundation's Process (and ``ChildProcess``): on Linux,
/// Process learns that its child ended when a socket the child inherited gets closed, and the
/// server, which outlives the script, would inherit it and keep the caller waiting for ever.
/// Here the child gets stdin from /dev/null, stdout and stderr to a log file, and no other
/// descriptor (closefrom 3, where glibc has it; the scripts also close what they inherit before
/// starting their server).
public enum ScriptProcess {
    /// Runs `scripts/NAME ARGUMENTS...` and returns its output (stdout and stderr together); a
    /// non-zero exit throws with the output. The log file lives in `dir` while it runs.
    @discardableResult
    public static func runScript(_ name: String, _ arguments: [String], in dir: URL, timeout: Duration = .seconds(120))
        async throws -> String
    {
        let script = try TestPaths.script(name)
        let log = dir.appendingPathComponent("cmd-\(UUID().uuidString.prefix(8)).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let status = try await spawnAndWait(script.path, arguments, log: log, timeout: timeout)
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw TestFailure("scripts/\(name) \(arguments.joined(separator: " ")) exited with \(status):\n\(output)")
        }
        return output
    }

    /// Spawns `path` with `arguments` (and this process's environment), output to `log`, and
    /// waits for it; SIGKILL and a thrown failure after `timeout`. Returns the exit status,
    /// 128 + the signal for a killed child.
    public static func spawnAndWait(_ path: String, _ arguments: [String], log: URL, timeout: Duration) async throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc 2.34+; Swift's Glibc module does not declare it.
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestFailure("posix_spawn \(path): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        let deadline = ContinuousClock.now + timeout
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR {
                throw TestFailure("waitpid \(pid) (\(path)): \(String(cString: strerror(errno)))")
            }
            if ContinuousClock.now >= deadline {
                Glibc.kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw TestFailure(
                    "\(path) \(arguments.joined(separator: " ")) did not end within \(timeout):\n"
                        + ((try? String(contentsOf: log, encoding: .utf8)) ?? ""))
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Alive and not a zombie (an orphaned server waits for PID 1 to reap it, which takes
    /// seconds on these machines).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.range(of: ") ", options: .backwards)
        else { return false }
        return stat[close.upperBound...].first != "Z"
    }
}
