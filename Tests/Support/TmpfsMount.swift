import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A tmpfs of a fixed size mounted on a fresh folder, for tests of a full disk (needs root);
/// ``remove()`` unmounts and deletes it.
public struct SizedTmpfs: Sendable {
    public let dir: URL
    let logs: URL

    public init(size: String) async throws {
        dir = try TestPaths.temporaryDirectory("tmpfs-mnt")
        logs = try TestPaths.temporaryDirectory("tmpfs-logs")
        let result = try await ChildProcess.run(
            try Self.tool("mount"), ["-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", dir.path], in: logs)
        guard result.status == 0 else {
            try? FileManager.default.removeItem(at: dir)
            try? FileManager.default.removeItem(at: logs)
            throw TestFailure("mount failed: \(result.output)")
        }
    }

    /// Bytes free for unprivileged writes.
    public var freeBytes: Int64 {
        var s = statvfs()
        guard statvfs(dir.path, &s) == 0 else { return -1 }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }

    /// Writes `file` until only about `leaving` bytes are free.
    public func fill(_ file: URL, leaving: Int64) throws {
        let size = freeBytes - leaving
        guard size > 0 else { throw TestFailure("less than \(leaving) bytes free already") }
        try Data(count: Int(size)).write(to: file)
    }

    public func remove() async {
        // A lazy unmount is the fallback should anything still hold it.
        let umount = try? await ChildProcess.run(try Self.tool("umount"), [dir.path], in: logs)
        if umount?.status != 0 {
            _ = try? await ChildProcess.run(try Self.tool("umount"), ["-l", dir.path], in: logs)
        }
        try? FileManager.default.removeItem(at: dir)
        try? FileManager.default.removeItem(at: logs)
    }

    static func tool(_ name: String) throws -> URL {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return URL(fileURLWithPath: "\(dir)/\(name)")
        }
        throw TestFailure("\(name) not found")
    }
}
