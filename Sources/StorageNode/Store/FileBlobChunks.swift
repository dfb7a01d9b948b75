import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// One ranged read of a ``FileBlobStore`` blob: positional reads of an open descriptor, at most
/// ``BlobStoreLimits/maximumChunkSize`` bytes each. The descriptor is closed after the last
/// chunk, or when the reader is dropped.
final class FileBlobChunks: BlobChunks {
    private let fd: Int32
    private let path: String
    private var position: Int64
    private let end: Int64
    private var closed = false

    init(fd: Int32, path: String, range: Range<Int64>) {
        self.fd = fd
        self.path = path
        position = range.lowerBound
        end = range.upperBound
    }

    func next() async throws(BlobStoreError) -> ByteBuffer? {
        guard position < end, !closed else {
            closeOnce()
            return nil
        }
        let (fd, path, offset) = (self.fd, self.path, position)
        let length = Int(min(Int64(BlobStoreLimits.maximumChunkSize), end - position))
        // The descriptor stays open across this call: only `next()` (awaited by the one reader)
        // and `deinit` close it, and the thread pool finishes a started read before it returns.
        let chunk = try await FileBlobStore.offload { () throws(BlobStoreError) in
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            var done = 0
            while done < length {
                var n = 0
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length - done) { target in
                    n = pread(fd, target.baseAddress, length - done, off_t(offset) + off_t(done))
                    return max(n, 0)
                }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    if n == 0 { throw .io("\(path) ended at byte \(offset + Int64(done)), before the \(length) bytes asked for") }
                    throw FileBlobStore.error("read \(path)")
                }
                done += n
            }
            return buffer
        }
        position += Int64(chunk.readableBytes)
        return chunk
    }

    private func closeOnce() {
        guard !closed else { return }
        close(fd)
        closed = true
    }

    deinit {
        if !closed { close(fd) }
    }
}
