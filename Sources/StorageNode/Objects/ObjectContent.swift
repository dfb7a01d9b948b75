import Logging
import Shared

/// The plaintext of one read, opened and ready to stream, with its first segment already
/// verified.
///
/// Verifying the first segment before anything is sent makes damage there a clean 500 (the
/// status line is not out yet). Each later segment is verified before any of its bytes is given
/// out; damage further in ends ``stream(to:)`` with an error before the altered segment, so the
/// answer stops short of its announced length and no unverified plaintext ever leaves.
struct ObjectContent: Sendable {
    /// The plaintext bytes served, of the whole object.
    let range: Range<Int64>
    private let segments: ClosedRange<Int64>
    private let opener: ObjectOpener
    private let reader: BlobReader
    private let first: [UInt8]
    private let key: String
    private let logger: Logger

    init(
        range: Range<Int64>,
        segments: ClosedRange<Int64>,
        opener: ObjectOpener,
        reader: BlobReader,
        key: String,
        logger: Logger
    ) async throws {
        self.range = range
        self.segments = segments
        self.opener = opener
        self.reader = reader
        self.key = key
        self.logger = logger
        first = try await Self.open(segments.lowerBound, opener, reader, key: key, logger: logger)
    }

    /// Bytes in ``range``.
    var length: Int { Int(range.count) }

    /// Gives `write` the bytes of ``range`` in order, one verified segment's worth at a time.
    func stream(to write: (ArraySlice<UInt8>) async throws -> Void) async throws {
        let segmentSize = Int64(opener.header.segmentSize)
        for index in segments {
            let plain: [UInt8]
            if index == segments.lowerBound {
                plain = first
            } else {
                plain = try await Self.open(index, opener, reader, key: key, logger: logger)
            }
            let start = index * segmentSize
            let lo = Int(max(range.lowerBound, start) - start)
            let hi = Int(min(range.upperBound, start + Int64(plain.count)) - start)
            if hi > lo { try await write(plain[lo..<hi]) }
        }
    }

    private static func open(_ index: Int64, _ opener: ObjectOpener, _ reader: BlobReader, key: String, logger: Logger) async throws
        -> [UInt8]
    {
        let where_ = opener.sealedRange(segment: index)
        do {
            let sealed = try await reader.read(offset: where_.offset, length: where_.length)
            return try opener.open(segment: index, sealed: sealed)
        } catch {
            logger.error("object failed its integrity check", metadata: ["key": "\(key)", "segment": "\(index)", "error": "\(error)"])
            throw integrityFailure(key: key)
        }
    }

    /// The answer to a stored object that does not open: the client learns that, the log why.
    static func integrityFailure(key: String) -> NodeError {
        NodeError.integrity("object '\(key)' failed its integrity check: the stored data was altered")
    }
}
