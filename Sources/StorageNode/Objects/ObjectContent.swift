import Logging
import NIOCore
import Shared

/// The plaintext of one read, opened and ready to stream, with its first segment already
/// verified.
///
/// Verifying the first segment before anything is sent makes damage there a clean 500 (the
/// status line is not out yet). Each later segment is verified before any of its bytes is given
/// out; damage further in ends ``stream(to:)`` with an error before the altered segment, so the
/// answer stops short of its announced length and no unverified plaintext ever leaves.
///
/// The blob store is asked only for the sealed segments the range needs: the first in one read,
/// the rest in one more ranged read, taken a segment at a time (memory: about one segment).
struct ObjectContent: Sendable {
    /// The plaintext bytes served, of the whole object.
    let range: Range<Int64>
    private let segments: ClosedRange<Int64>
    private let opener: ObjectOpener
    private let blobs: any BlobStore
    private let blobName: String
    private let first: [UInt8]
    private let key: String
    private let logger: Logger

    init(
        range: Range<Int64>,
        segments: ClosedRange<Int64>,
        opener: ObjectOpener,
        blobs: any BlobStore,
        blobName: String,
        key: String,
        logger: Logger
    ) async throws {
        self.range = range
        self.segments = segments
        self.opener = opener
        self.blobs = blobs
        self.blobName = blobName
        self.key = key
        self.logger = logger
        let index = segments.lowerBound
        let sealed: ByteBuffer
        do {
            sealed = try await blobs.readAll(name: blobName, range: Self.sealedBytes(opener, index...index))
        } catch {
            throw Self.failure(error, key: key, logger: logger)
        }
        first = try Self.open(index, Array(buffer: sealed), opener, key: key, logger: logger)
    }

    /// Bytes in ``range``.
    var length: Int { Int(range.count) }

    /// Gives `write` the bytes of ``range`` in order, one verified segment's worth at a time.
    func stream(to write: (ArraySlice<UInt8>) async throws -> Void) async throws {
        try await emit(segments.lowerBound, first, write)
        guard segments.upperBound > segments.lowerBound else { return }
        let rest = (segments.lowerBound + 1)...segments.upperBound
        var pending = ByteBuffer()
        do {
            let chunks = try await blobs.read(name: blobName, range: Self.sealedBytes(opener, rest))
            for index in rest {
                let length = opener.sealedRange(segment: index).length
                while pending.readableBytes < length {
                    guard var chunk = try await chunks.next() else {
                        throw BlobStoreError.io("blob \(blobName) ended before segment \(index) was whole")
                    }
                    pending.writeBuffer(&chunk)
                }
                let sealed = pending.readBytes(length: length)!
                pending.discardReadBytes()
                try await emit(index, try Self.open(index, sealed, opener, key: key, logger: logger), write)
            }
        } catch let error as BlobStoreError {
            throw Self.failure(error, key: key, logger: logger)
        }
    }

    private func emit(_ index: Int64, _ plain: [UInt8], _ write: (ArraySlice<UInt8>) async throws -> Void) async throws {
        let start = index * Int64(opener.header.segmentSize)
        let lo = Int(max(range.lowerBound, start) - start)
        let hi = Int(min(range.upperBound, start + Int64(plain.count)) - start)
        if hi > lo { try await write(plain[lo..<hi]) }
    }

    /// Where the sealed bytes of `segments` lie in the blob (segments are stored back to back).
    private static func sealedBytes(_ opener: ObjectOpener, _ segments: ClosedRange<Int64>) -> Range<Int64> {
        let first = opener.sealedRange(segment: segments.lowerBound)
        let last = opener.sealedRange(segment: segments.upperBound)
        return first.offset..<(last.offset + Int64(last.length))
    }

    private static func open(_ index: Int64, _ sealed: [UInt8], _ opener: ObjectOpener, key: String, logger: Logger) throws
        -> [UInt8]
    {
        do {
            return try opener.open(segment: index, sealed: sealed)
        } catch {
            logger.error("object failed its integrity check", metadata: ["key": "\(key)", "segment": "\(index)", "error": "\(error)"])
            throw integrityFailure(key: key)
        }
    }

    /// A read the blob store failed: a blob gone since its size was read was removed behind
    /// the node's back (an integrity failure of the object); anything else is the store's.
    private static func failure(_ error: BlobStoreError, key: String, logger: Logger) -> NodeError {
        if case .missing = error {
            logger.error("object failed its integrity check", metadata: ["key": "\(key)", "error": "\(error)"])
            return integrityFailure(key: key)
        }
        logger.error("object read failed", metadata: ["key": "\(key)", "error": "\(error)"])
        return NodeError(error)
    }

    /// The answer to a stored object that does not open: the client learns that, the log why.
    static func integrityFailure(key: String) -> NodeError {
        NodeError.integrity("object '\(key)' failed its integrity check: the stored data was altered")
    }
}
