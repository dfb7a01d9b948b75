import Foundation
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// One upload into a ``FileBlobStore``: a temporary file of its own in `tmp/`, renamed over
/// `blobs/XY/NAME` by ``commit()``.
final class FileBlobUpload: BlobUpload {
    let name: String
    let tempPath: String
    let finalPath: String
    let blobDirectory: String
    let fd: Int32

    private enum Phase {
        /// The descriptor is open.
        case writing
        /// The descriptor is closed; the bytes are only in `tmp/`.
        case closed
        /// Renamed into place, its directory not yet synced: the blob is this upload's.
        case renamed
        case committed
    }

    /// Where the upload is. Also guards against closing a descriptor number another thread
    /// reused (it is closed exactly once, when the phase leaves `.writing`), and tells
    /// ``abort()`` whether the file under the final name is this upload's.
    private let phase = NIOLockedValueBox(Phase.writing)

    init(name: String, tempPath: String, finalPath: String, blobDirectory: String, fd: Int32) {
        self.name = name
        self.tempPath = tempPath
        self.finalPath = finalPath
        self.blobDirectory = blobDirectory
        self.fd = fd
    }

    func write(_ chunk: ByteBuffer) async throws(BlobStoreError) {
        guard chunk.readableBytes > 0 else { return }
        let fd = self.fd
        let path = tempPath
        try await FileBlobStore.offload { () throws(BlobStoreError) in
            try chunk.withUnsafeReadableBytes { (bytes: UnsafeRawBufferPointer) throws(BlobStoreError) in
                var written = 0
                while written < bytes.count {
                    let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw FileBlobStore.error("write \(path)") }
                    written += n
                }
            }
        }
    }

    /// fsync, rename into place, fsync the directory (and `blobs/` when the shard is new).
    func commit() async throws(BlobStoreError) {
        let fd = self.fd
        let temp = tempPath
        let final = finalPath
        let shard = (final as NSString).deletingLastPathComponent
        let blobs = blobDirectory
        let phase = self.phase
        try await FileBlobStore.offload { () throws(BlobStoreError) in
            guard fsync(fd) == 0 else {
                let error = FileBlobStore.error("fsync \(temp)")
                Self.close(fd, phase)
                throw error
            }
            Self.close(fd, phase)
            if mkdir(shard, 0o700) == 0 {
                try FileBlobStore.fsyncDirectory(blobs)
            } else if errno != EEXIST {
                throw FileBlobStore.error("mkdir \(shard)")
            }
            guard rename(temp, final) == 0 else { throw FileBlobStore.error("rename \(temp)") }
            phase.withLockedValue { $0 = .renamed }
            try FileBlobStore.fsyncDirectory(shard)
            phase.withLockedValue { $0 = .committed }
        }
    }

    /// Removes whatever the upload left: the temporary file, or the renamed blob if the commit
    /// failed after the rename (its directory fsync, say), as no metadata can name it yet.
    func abort() async {
        let fd = self.fd
        let temp = tempPath
        let final = finalPath
        let phase = self.phase
        _ = try? await FileBlobStore.offload { () throws(BlobStoreError) in
            Self.close(fd, phase)
            switch phase.withLockedValue({ $0 }) {
            case .writing, .closed: unlink(temp)
            // A commit that failed past its rename: the file under the final name is this
            // upload's, and no metadata names it yet.
            case .renamed: unlink(final)
            case .committed: break
            }
        }
    }

    private static func close(_ fd: Int32, _ phase: NIOLockedValueBox<Phase>) {
        phase.withLockedValue { phase in
            guard phase == .writing else { return }
            Glibc.close(fd)
            phase = .closed
        }
    }

    deinit {
        // An upload dropped without commit or abort: its descriptor is still closed.
        phase.withLockedValue { phase in
            if phase == .writing { Glibc.close(fd) }
        }
    }
}
