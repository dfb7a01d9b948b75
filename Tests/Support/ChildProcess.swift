import Foundation

/// A real child process with its output captured to a file, for end-to-end tests.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` is only mutated before `run()`; afterwards Foundation's Process is
    // safe to query and signal from any thread, and the log is read from the file system.
    public let process = Process()
    public let logURL: URL

    public init(executable: URL, arguments: [String], environment: [String: String] = [:], logURL: URL) throws {
        self.logURL = logURL
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPLITKEY_") && $0.key != "CREDENTIALS_DIRECTORY" }
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var log: String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    public var isRunning: Bool { process.isRunning }

    /// Waits until `text` appears in the output; fails early if the process exits.
    public func waitForLog(_ text: String, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if log.contains(text) { return }
            if !process.isRunning {
                throw TestFailure("process exited with \(process.terminationStatus) before logging '\(text)':\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("'\(text)' not logged within \(timeout):\n\(log)")
    }

    public func signal(_ sig: Int32) {
        if process.isRunning { kill(process.processIdentifier, sig) }
    }

    /// Waits for exit and returns the status; SIGKILLs after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(20)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// Runs a command to completion and returns its exit status and combined output.
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], in dir: URL)
        async throws -> (status: Int32, output: String)
    {
        let child = try ChildProcess(
            executable: executable,
            arguments: arguments,
            environment: environment,
            logURL: dir.appendingPathComponent("cmd-\(UUID().uuidString.prefix(8)).log")
        )
        let status = await child.waitForExit(timeout: .seconds(60))
        return (status, child.log)
    }
}
