import Foundation

/// Locations the end-to-end tests need: the built binaries and fresh temporary folders.
public enum TestPaths {
    /// The folder with `keyservice` and `storagenode`: `$SPLITKEY_BIN_DIR`, or the folder of the
    /// test executable, where `swift build` puts the products too.
    public static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["SPLITKEY_BIN_DIR"] {
            return URL(fileURLWithPath: dir)
        }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    public static func binary(_ name: String) throws -> URL {
        let url = binDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw TestFailure("\(url.path) is missing: run `swift build` before `swift test` (scripts/test does)")
        }
        return url
    }

    /// A helper program of the repository's `scripts/` folder (this file is Tests/Support/TestPaths.swift).
    public static func script(_ name: String) throws -> URL {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts").appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw TestFailure("\(url.path) is missing") }
        return url
    }

    public static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("splitkey-tests")
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
