import Foundation

/// The independent Python implementations some SharedTests compare against (botocore's SigV4
/// signer, pymerkle), run from the repository's `scripts/` folder. A suite whose module is
/// missing is skipped with the reason printed; `SPLITKEY_REQUIRE_PYTHON_TOOLS=1` (CI) makes that
/// a failure instead.
enum PythonTools {
    static let required = ProcessInfo.processInfo.environment["SPLITKEY_REQUIRE_PYTHON_TOOLS"] == "1"

    /// `scripts/NAME`, from this file's place (Tests/SharedTests/).
    static func script(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/\(name)")
            .standardizedFileURL
    }

    /// Why python3 cannot import `module` (printed once for `suite`), or nil when it can.
    static func missing(_ module: String, for suite: String) -> String? {
        do {
            let (status, output) = try run(["python3", "-c", "import \(module)"])
            if status == 0 { return nil }
            let reason = "python3 cannot import \(module) (exit \(status)): \(output.suffix(300))"
            print("\(suite): \(module) unavailable: \(reason); scripts/setup-system installs it")
            return reason
        } catch {
            print("\(suite): \(module) unavailable: cannot run python3: \(error)")
            return "cannot run python3: \(error)"
        }
    }

    /// Runs a command (through /usr/bin/env) and returns its exit status and combined output.
    static func run(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()  // before waiting: the output exceeds a pipe's buffer
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
