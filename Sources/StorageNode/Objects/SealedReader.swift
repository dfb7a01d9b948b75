import NIOCore

/// Takes exact byte counts (a header, one sealed segment) out of a blob read whose chunks are
/// cut wherever the store cut them; holds at most one chunk beyond what was taken.
///
/// Single consumer, like the ``BlobChunks`` it wraps.
final class SealedReader {
    private let chunks: any BlobChunks
    private let blobName: String
    private var pending = ByteBuffer()

    init(_ chunks: any BlobChunks, blobName: String) {
        self.chunks = chunks
        self.blobName = blobName
    }

    /// The next `count` bytes; `.io` if the read ends before them.
    func take(_ count: Int, what: @autoclosure () -> String) async throws(BlobStoreError) -> [UInt8] {
        while pending.readableBytes < count {
            guard var chunk = try await chunks.next() else {
                throw .io("blob \(blobName) ended before \(what()) was whole")
            }
            pending.writeBuffer(&chunk)
        }
        let bytes = pending.readBytes(length: count)!
        pending.discardReadBytes()
        return bytes
    }
}
