import Foundation
import NIOCore

/// Where the StorageNode keeps sealed object blobs: named byte strings, written once through an
/// upload and read back by range.
///
/// The protocol is mechanism only: it knows nothing of objects, metadata rows or when a blob is
/// garbage. Names come from the caller (the node makes them with ``BlobName``); callers never
/// see a path, a bucket or a URL. ``FileBlobStore`` is the embedded implementation; the shape is
/// chosen so an S3-compatible store fits behind it too (an upload is a single PUT when small and
/// a multipart upload when large, a read is one ranged GET, a listing page is one
/// ListObjectsV2 call).
///
/// Rules every implementation keeps (checked by `BlobStoreContractTests`):
/// - A blob becomes visible under its name, whole, only when ``BlobUpload/commit()`` returns,
///   and is durable from then on. Before that nothing of it is visible; after ``BlobUpload/abort()``
///   nothing of it is left.
/// - Uploads of one name that overlap end with the bytes of exactly one of them, never a mix.
/// - Reads, sizes and deletes of a name nobody committed are `.missing`, except ``delete(name:)``,
///   which succeeds for an absent name (deleting twice is not an error).
protocol BlobStore: Sendable {
    /// Starts writing blob `name`. Nothing is visible until the upload's ``BlobUpload/commit()``.
    func beginUpload(name: String) async throws(BlobStoreError) -> any BlobUpload

    /// Bytes `range` of blob `name`, in order, in chunks of at most
    /// ``BlobStoreLimits/maximumChunkSize`` bytes, so a caller holds no more than it asks for at
    /// a time.
    ///
    /// `range` must lie inside the blob: `0 <= lowerBound <= upperBound <= size`. An empty
    /// range inside it (`5..<5`, or `size..<size`) gives no chunks; one reaching past the end is
    /// `.io`. A missing blob is `.missing` here, before any chunk.
    func read(name: String, range: Range<Int64>) async throws(BlobStoreError) -> any BlobChunks

    /// The committed size of blob `name` and its first `min(length, size)` bytes, in order, from
    /// one read (one ranged GET on S3): for a reader that learns the blob's layout from its first
    /// bytes, so that reading a whole small object costs one request, not a size, a header and
    /// a body. `length` must not be negative. A missing blob is `.missing` here, before any chunk.
    func readStart(name: String, length: Int64) async throws(BlobStoreError) -> BlobStart

    /// The committed size of blob `name` in bytes; `.missing` if there is none.
    func size(of name: String) async throws(BlobStoreError) -> Int64

    /// Removes blob `name`; an absent name is not an error.
    func delete(name: String) async throws(BlobStoreError)

    /// Up to `limit` committed blobs whose names sort after `after` (from the first when nil), in
    /// ascending byte order of their names. An empty page means none follows; the next page
    /// starts after the last name of this one.
    func list(after: String?, limit: Int) async throws(BlobStoreError) -> [BlobListing]

    /// The store's label: a few bytes (at most ``BlobStoreLimits/maximumLabelSize``) kept beside
    /// the blobs under a name no blob can take, never listed and never collected; nil when none
    /// was written. The node records in it which metadata database its blobs belong to
    /// (``StoreBinding``).
    func label() async throws(BlobStoreError) -> [UInt8]?

    /// Writes the store's label, replacing any, durably once it returns.
    func setLabel(_ bytes: [UInt8]) async throws(BlobStoreError)
}

/// One blob being written: ``write(_:)`` its bytes in order, then ``commit()`` once, or
/// ``abort()`` if anything failed (including a failed commit).
protocol BlobUpload: Sendable {
    var name: String { get }

    /// Appends `chunk`. An implementation may hold a bounded part in memory (a multipart
    /// upload's current part) but never the whole blob.
    func write(_ chunk: ByteBuffer) async throws(BlobStoreError)

    /// Makes the blob visible and durable under its name, replacing any blob of that name.
    /// Durable once it returns.
    func commit() async throws(BlobStoreError)

    /// Leaves nothing of this upload behind. Safe to call more than once and after a failed
    /// commit; after a commit that returned it does nothing (``BlobStore/delete(name:)`` removes
    /// a committed blob).
    func abort() async
}

/// The bytes of one ranged read, handed out in order. One task reads it; dropping it before the
/// end releases what it holds (a file descriptor, an HTTP body).
protocol BlobChunks: AnyObject {
    /// The next chunk (never empty, at most ``BlobStoreLimits/maximumChunkSize`` bytes), or nil
    /// after the last.
    func next() async throws(BlobStoreError) -> ByteBuffer?
}

/// What ``BlobStore/readStart(name:length:)`` found: the blob's size and the chunks of its
/// first bytes.
struct BlobStart {
    /// The blob's whole committed size.
    let size: Int64
    /// Bytes `0..<min(length, size)`.
    let chunks: any BlobChunks
}

/// One entry of a blob listing.
struct BlobListing: Sendable, Equatable {
    var name: String
    /// When the blob was last written: what a garbage collector's grace period counts from.
    var lastModified: Date
}

enum BlobStoreLimits {
    /// The largest chunk ``BlobChunks/next()`` gives out.
    static let maximumChunkSize = 1 << 20
    /// The largest ``BlobStore/label()``.
    static let maximumLabelSize = 4096
}

extension BlobStore {
    /// Bytes `range` of blob `name` in one buffer: for small reads (a header, one segment) whose
    /// size the caller bounds.
    func readAll(name: String, range: Range<Int64>) async throws(BlobStoreError) -> ByteBuffer {
        let chunks = try await read(name: name, range: range)
        var all = ByteBuffer()
        all.reserveCapacity(Int(range.count))
        while var chunk = try await chunks.next() {
            all.writeBuffer(&chunk)
        }
        return all
    }
}
