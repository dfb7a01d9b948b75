import Foundation
import NIOConcurrencyHelpers
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Sealed object blobs as files: `blobs/XY/NAME` under the state directory, written through
/// `tmp/` so that a blob is either complete and renamed into place or not there at all.
///
/// The durability rule: write to a temporary file, fsync it, rename it into place, fsync the
/// directory. Only then may the metadata commit name the blob. Every fsync failure fails the
/// write; none is ignored. Blocking calls run on NIO's thread pool, not on Swift's cooperative
/// threads.
struct FileBlobStore: Sendable {
    let root: String
    var blobDirectory: String { root + "/blobs" }
    var tempDirectory: String { root + "/tmp" }

    init(root: String) throws(StorageError) {
        self.root = root
        for dir in [root, root + "/blobs", root + "/tmp"] {
            do {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw .io("cannot create \(dir): \(error)")
            }
        }
    }

    func create() async throws(StorageError) -> BlobWriter {
        let name = BlobName.make()
        let tempPath = tempDirectory + "/" + name
        let fd = try await Self.offload { () throws(StorageError) in
            let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Self.error("create \(tempPath)") }
            return fd
        }
        return BlobWriter(store: self, name: name, tempPath: tempPath, fd: fd)
    }

    /// Where blob `name` lives; a name not of ``BlobName``'s format is refused, never joined to a path.
    func path(of name: String) throws(StorageError) -> String {
        let name = try BlobName.checked(name)
        return blobDirectory + "/" + String(name.prefix(2)) + "/" + name
    }

    /// Whether no file is under the valid name `name`: a blob its metadata names but that is
    /// gone (false for a name not of the node's format, which is never looked up).
    func isAbsent(_ name: String) -> Bool {
        guard let path = try? path(of: name) else { return false }
        return !FileManager.default.fileExists(atPath: path)
    }

    func openForReading(_ name: String) async throws(StorageError) -> BlobReader {
        let path = try path(of: name)
        return try await Self.offload { () throws(StorageError) in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Self.error("open \(path)") }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                close(fd)
                throw Self.error("stat \(path)")
            }
            return BlobReader(fd: fd, size: Int64(st.st_size))
        }
    }

    func delete(_ name: String) async throws(StorageError) {
        let path = try path(of: name)
        try await Self.offload { () throws(StorageError) in
            guard unlink(path) == 0 || errno == ENOENT else { throw Self.error("unlink \(path)") }
        }
    }

    /// Removes unfinished writes (`tmp/`) and blobs no metadata row names: what a crash between
    /// rename and commit, or between commit and the old blob's deletion, leaves behind.
    func removeLeftovers(keeping referenced: Set<String>) async throws(StorageError) -> (temporary: Int, orphaned: Int) {
        let fm = FileManager.default
        let temps = (try? fm.contentsOfDirectory(atPath: tempDirectory)) ?? []
        for name in temps { try? fm.removeItem(atPath: tempDirectory + "/" + name) }
        var orphaned = 0
        for shard in (try? fm.contentsOfDirectory(atPath: blobDirectory)) ?? [] {
            for name in (try? fm.contentsOfDirectory(atPath: blobDirectory + "/" + shard)) ?? [] where !referenced.contains(name) {
                try? fm.removeItem(atPath: blobDirectory + "/" + shard + "/" + name)
                orphaned += 1
            }
        }
        return (temps.count, orphaned)
    }

    static func offload<T: Sendable>(_ body: @escaping @Sendable () throws(StorageError) -> T) async throws(StorageError) -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive { try body() }
        } catch let error as StorageError {
            throw error
        } catch {
            throw .io("\(error)")
        }
    }

    static func error(_ what: String) -> StorageError {
        let code = errno
        let message = "\(what): \(String(cString: strerror(code)))"
        return code == ENOSPC || code == EDQUOT ? .noSpace(message) : .io(message)
    }

    static func fsyncDirectory(_ path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw error("open directory \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync directory \(path)") }
    }
}

/// One blob being written. Call ``commit()`` once; call ``abort()`` if anything failed,
/// including a failed commit.
final class BlobWriter: Sendable {
    let store: FileBlobStore
    let name: String
    let tempPath: String
    let fd: Int32
    /// Whether `fd` was closed; guards against closing a descriptor number another thread reused.
    private let closed = NIOLockedValueBox(false)

    init(store: FileBlobStore, name: String, tempPath: String, fd: Int32) {
        self.store = store
        self.name = name
        self.tempPath = tempPath
        self.fd = fd
    }

    func write(_ bytes: [UInt8]) async throws(StorageError) {
        guard !bytes.isEmpty else { return }
        let fd = self.fd
        let path = tempPath
        try await FileBlobStore.offload { () throws(StorageError) in
            var written = 0
            while written < bytes.count {
                let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw FileBlobStore.error("write \(path)") }
                written += n
            }
        }
    }

    /// Makes the blob durable under its final name.
    func commit() async throws(StorageError) {
        let fd = self.fd
        let temp = tempPath
        let final = try store.path(of: name)
        let shard = (final as NSString).deletingLastPathComponent
        let blobs = store.blobDirectory
        let closeOnce = self.closeOnce
        try await FileBlobStore.offload { () throws(StorageError) in
            defer { closeOnce() }
            guard fsync(fd) == 0 else { throw FileBlobStore.error("fsync \(temp)") }
            if mkdir(shard, 0o700) == 0 {
                try FileBlobStore.fsyncDirectory(blobs)
            } else if errno != EEXIST {
                throw FileBlobStore.error("mkdir \(shard)")
            }
            guard rename(temp, final) == 0 else { throw FileBlobStore.error("rename \(temp)") }
            try FileBlobStore.fsyncDirectory(shard)
        }
    }

    /// Removes whatever the write left: the temporary file, or the renamed blob if the commit
    /// failed after the rename (its directory fsync, say). No metadata names it either way.
    func abort() async {
        let temp = tempPath
        let final = try? store.path(of: name)
        let closeOnce = self.closeOnce
        _ = try? await FileBlobStore.offload { () throws(StorageError) in
            closeOnce()
            unlink(temp)
            if let final { unlink(final) }
        }
    }

    private func closeOnce() {
        let fd = self.fd
        closed.withLockedValue { closed in
            guard !closed else { return }
            close(fd)
            closed = true
        }
    }
}

/// Positional reads of one blob.
final class BlobReader: Sendable {
    let fd: Int32
    let size: Int64

    init(fd: Int32, size: Int64) {
        self.fd = fd
        self.size = size
    }

    func read(offset: Int64, length: Int) async throws(StorageError) -> [UInt8] {
        let fd = self.fd
        return try await FileBlobStore.offload { () throws(StorageError) in
            var buffer = [UInt8](repeating: 0, count: length)
            var done = 0
            while done < length {
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(offset) + off_t(done)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    if n == 0 { throw StorageError.io("blob shorter than its metadata says") }
                    throw FileBlobStore.error("read blob")
                }
                done += n
            }
            return buffer
        }
    }

    deinit {
        close(fd)
    }
}
