import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded ``BlobStore``: blobs as files `blobs/XY/NAME` under one folder (XY the name's
/// first two characters), written through `tmp/` so that a blob is either complete and renamed
/// into place or not there at all.
///
/// The durability rule: write to a temporary file, fsync it, rename it into place, fsync the
/// directory; only then does ``BlobUpload/commit()`` return. Every fsync failure fails the
/// write; none is ignored. A full disk (ENOSPC, EDQUOT) is `.full`. Blocking calls run on NIO's
/// thread pool, not on Swift's cooperative threads.
///
/// Names must be of ``BlobName``'s format: anything else is refused before it is joined to a
/// path, so a name can never reach outside the folder. One folder belongs to one node process
/// (``removeUnfinishedUploads()`` relies on it).
struct FileBlobStore: BlobStore {
    let root: String
    var blobDirectory: String { root + "/blobs" }
    var tempDirectory: String { root + "/tmp" }

    init(root: String) throws(BlobStoreError) {
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

    func beginUpload(name: String) async throws(BlobStoreError) -> any BlobUpload {
        let final = try path(of: name)
        // A temporary name of its own per upload, so overlapping uploads of one name never share
        // a file; the last rename wins, whole.
        let tempPath = tempDirectory + "/" + name + "." + UUID().uuidString.lowercased()
        let fd = try await Self.offload { () throws(BlobStoreError) in
            let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Self.error("create \(tempPath)") }
            return fd
        }
        return FileBlobUpload(name: name, tempPath: tempPath, finalPath: final, blobDirectory: blobDirectory, fd: fd)
    }

    func read(name: String, range: Range<Int64>) async throws(BlobStoreError) -> any BlobChunks {
        let path = try path(of: name)
        let (fd, size) = try await openForReading(name: name, path: path)
        guard range.lowerBound >= 0, range.upperBound <= size else {
            close(fd)
            throw .io("bytes \(range) of \(path) asked for, but it holds \(size)")
        }
        return FileBlobChunks(fd: fd, path: path, range: range)
    }

    func readStart(name: String, length: Int64) async throws(BlobStoreError) -> BlobStart {
        guard length >= 0 else { throw .io("a read of the first \(length) bytes of blob \(name)") }
        let path = try path(of: name)
        let (fd, size) = try await openForReading(name: name, path: path)
        return BlobStart(size: size, chunks: FileBlobChunks(fd: fd, path: path, range: 0..<min(length, size)))
    }

    /// The open descriptor and size of one blob: the size from the same descriptor, so a rename
    /// of a newer blob into place after the open cannot make the two disagree.
    private func openForReading(name: String, path: String) async throws(BlobStoreError) -> (Int32, Int64) {
        try await Self.offload { () throws(BlobStoreError) in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw errno == ENOENT ? .missing(name) : Self.error("open \(path)") }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                let error = Self.error("stat \(path)")
                close(fd)
                throw error
            }
            return (fd, Int64(st.st_size))
        }
    }

    func size(of name: String) async throws(BlobStoreError) -> Int64 {
        let path = try path(of: name)
        return try await Self.offload { () throws(BlobStoreError) in
            var st = stat()
            guard stat(path, &st) == 0 else { throw errno == ENOENT ? .missing(name) : Self.error("stat \(path)") }
            return Int64(st.st_size)
        }
    }

    func delete(name: String) async throws(BlobStoreError) {
        let path = try path(of: name)
        try await Self.offload { () throws(BlobStoreError) in
            guard unlink(path) == 0 || errno == ENOENT else { throw Self.error("unlink \(path)") }
        }
    }

    /// `blobs.label` in the root, beside `blobs/` and `tmp/`: written as a blob is (temporary file,
    /// fsync, rename, fsync of the folder).
    var labelPath: String { root + "/blobs.label" }

    func label() async throws(BlobStoreError) -> [UInt8]? {
        let path = labelPath
        return try await Self.offload { () throws(BlobStoreError) -> [UInt8]? in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { return nil }
                throw Self.error("open \(path)")
            }
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: BlobStoreLimits.maximumLabelSize + 1)
            var count = 0
            while count < bytes.count {
                let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw Self.error("read \(path)") }
                if n == 0 { break }
                count += n
            }
            guard count <= BlobStoreLimits.maximumLabelSize else {
                throw .io("\(path) is over \(BlobStoreLimits.maximumLabelSize) bytes: not a label of this store")
            }
            return Array(bytes[..<count])
        }
    }

    func setLabel(_ bytes: [UInt8]) async throws(BlobStoreError) {
        guard bytes.count <= BlobStoreLimits.maximumLabelSize else { throw .io("a label of \(bytes.count) bytes") }
        let path = labelPath
        let temp = tempDirectory + "/label." + UUID().uuidString.lowercased()
        let directory = root
        try await Self.offload { () throws(BlobStoreError) in
            let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Self.error("create \(temp)") }
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let error = Self.error("write \(temp)")
                    close(fd)
                    unlink(temp)
                    throw error
                }
                written += n
            }
            guard fsync(fd) == 0 else {
                let error = Self.error("fsync \(temp)")
                close(fd)
                unlink(temp)
                throw error
            }
            close(fd)
            guard rename(temp, path) == 0 else {
                let error = Self.error("rename \(temp) to \(path)")
                unlink(temp)
                throw error
            }
            let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dir >= 0 else { throw Self.error("open \(directory)") }
            defer { close(dir) }
            guard fsync(dir) == 0 else { throw Self.error("fsync \(directory)") }
        }
    }

    /// Walks the shard directories in name order, so a page reads one shard's directory (about
    /// 1/256 of the blobs) at a time, never the whole store. Files not named like a blob of
    /// this store (or in the wrong shard) are not blobs and are left out.
    func list(after: String?, limit: Int) async throws(BlobStoreError) -> [BlobListing] {
        guard limit > 0 else { return [] }
        let blobs = blobDirectory
        return try await Self.offload { () throws(BlobStoreError) in
            let fm = FileManager.default
            let shards: [String]
            do {
                shards = try fm.contentsOfDirectory(atPath: blobs).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            } catch {
                throw .io("cannot list \(blobs): \(error)")
            }
            let afterShard = after.map { String($0.prefix(2)) }
            var page: [BlobListing] = []
            for shard in shards where afterShard.map({ !shard.utf8.lexicographicallyPrecedes($0.utf8) }) ?? true {
                let names: [String]
                do {
                    names = try fm.contentsOfDirectory(atPath: blobs + "/" + shard)
                } catch {
                    continue  // not a directory: not a shard
                }
                let wanted = names.filter { name in
                    BlobName.isValid(name) && name.hasPrefix(shard) && shard.utf8.count == 2
                        && after.map { $0.utf8.lexicographicallyPrecedes(name.utf8) } ?? true
                }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                for name in wanted {
                    var st = stat()
                    // Gone since the directory was read (deleted meanwhile): not listed.
                    guard stat(blobs + "/" + shard + "/" + name, &st) == 0 else { continue }
                    let modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
                    page.append(BlobListing(name: name, lastModified: Date(timeIntervalSince1970: modified)))
                    if page.count == limit { return page }
                }
            }
            return page
        }
    }

    /// Empties `tmp/`: what writes cut off by a crash left. Only for a node opening its own
    /// folder at start, when no upload of this folder can be under way (``BlobStoreFactory``
    /// calls it); returns how many files it removed.
    func removeUnfinishedUploads() async -> Int {
        let temp = tempDirectory
        return
            (try? await Self.offload { () throws(BlobStoreError) in
                let fm = FileManager.default
                let names = (try? fm.contentsOfDirectory(atPath: temp)) ?? []
                for name in names { try? fm.removeItem(atPath: temp + "/" + name) }
                return names.count
            }) ?? 0
    }

    /// Where blob `name` lives; a name not of ``BlobName``'s format is refused, never joined to a path.
    func path(of name: String) throws(BlobStoreError) -> String {
        guard BlobName.isValid(name) else {
            throw .io("\(String(reflecting: String(name.prefix(80)))) is not a blob name of this store (a lower-case UUID)")
        }
        return blobDirectory + "/" + String(name.prefix(2)) + "/" + name
    }

    static func offload<T: Sendable>(_ body: @escaping @Sendable () throws(BlobStoreError) -> T) async throws(BlobStoreError) -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive { try body() }
        } catch let error as BlobStoreError {
            throw error
        } catch {
            throw .io("\(error)")
        }
    }

    /// The error `errno` means after `what` failed.
    static func error(_ what: String) -> BlobStoreError {
        let code = errno
        let message = "\(what): \(String(cString: strerror(code)))"
        return code == ENOSPC || code == EDQUOT ? .full(message) : .io(message)
    }

    static func fsyncDirectory(_ path: String) throws(BlobStoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw error("open directory \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync directory \(path)") }
    }
}
