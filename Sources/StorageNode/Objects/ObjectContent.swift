import Logging
import NIOCore
import Shared
import Synchronization

/// The plaintext of one read, opened and ready to stream, with its first segment already
/// verified.
///
/// Verifying the first segment before anything is sent makes damage there a clean 500 (the
/// status line is not out yet). Each later segment is verified before any of its bytes is given
/// out; damage further in ends ``stream(to:)`` with an error before the altered segment, so the
/// answer stops short of its announced length and no unverified plaintext ever leaves.
///
/// The sealed segments come from one read the caller opened (``ObjectService`` asks the blob
/// store only for the segments the range needs), taken a segment at a time (memory: about one
/// segment).
struct ObjectContent: Sendable {
    /// The plaintext bytes served, of the whole object.
    let range: Range<Int64>
    private let segments: ClosedRange<Int64>
    private let opener: ObjectOpener
    private let first: [UInt8]
    private let rest: Handoff
    private let key: String
    private let logger: Logger

    /// Moves the open read from the task that verified the first segment to the one that writes
    /// the answer's body, once: the reader is not Sendable, and the mutex makes whoever takes it
    /// its only user.
    private final class Handoff: Sendable {
        private let slot: Mutex<SealedReader?>

        init(_ reader: consuming sending SealedReader) {
            slot = Mutex(reader)
        }

        func take() -> sending SealedReader? {
            slot.withLock { reader -> sending SealedReader? in
                let taken = reader
                reader = nil
                return taken
            }
        }
    }

    /// `reader` starts at the sealed bytes of `segments.lowerBound` and holds those of every
    /// segment through `segments.upperBound`.
    init(
        range: Range<Int64>,
        segments: ClosedRange<Int64>,
        opener: ObjectOpener,
        reader: consuming sending SealedReader,
        key: String,
        logger: Logger
    ) async throws {
        self.range = range
        self.segments = segments
        self.opener = opener
        self.key = key
        self.logger = logger
        let index = segments.lowerBound
        let sealed: [UInt8]
        do {
            sealed = try await reader.take(opener.sealedRange(segment: index).length, what: "segment \(index)")
        } catch {
            throw Self.failure(error, key: key, logger: logger)
        }
        first = try Self.open(index, sealed, opener, key: key, logger: logger)
        rest = Handoff(reader)
    }

    /// Bytes in ``range``.
    var length: Int { Int(range.count) }

    /// Gives `write` the bytes of ``range`` in order, one verified segment's worth at a time.
    /// Runs once: the read it continues is used up by it.
    func stream(to write: (ArraySlice<UInt8>) async throws -> Void) async throws {
        try await emit(segments.lowerBound, first, write)
        guard segments.upperBound > segments.lowerBound else { return }
        guard let reader = rest.take() else {
            throw Self.failure(.io("the content of '\(key)' was streamed twice"), key: key, logger: logger)
        }
        for index in (segments.lowerBound + 1)...segments.upperBound {
            let sealed: [UInt8]
            do {
                sealed = try await reader.take(opener.sealedRange(segment: index).length, what: "segment \(index)")
            } catch {
                throw Self.failure(error, key: key, logger: logger)
            }
            try await emit(index, try Self.open(index, sealed, opener, key: key, logger: logger), write)
        }
    }

    private func emit(_ index: Int64, _ plain: [UInt8], _ write: (ArraySlice<UInt8>) async throws -> Void) async throws {
        let start = index * Int64(opener.header.segmentSize)
        let lo = Int(max(range.lowerBound, start) - start)
        let hi = Int(min(range.upperBound, start + Int64(plain.count)) - start)
        if hi > lo { try await write(plain[lo..<hi]) }
    }

    /// Where the sealed bytes of `segments` lie in the blob (segments are stored back to back).
    static func sealedBytes(_ opener: ObjectOpener, _ segments: ClosedRange<Int64>) -> Range<Int64> {
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

    /// A read the blob store failed once it had started: a blob gone or cut short meanwhile was
    /// removed or altered behind the node's back (an integrity failure of the object); anything
    /// else is the store's.
    static func failure(_ error: BlobStoreError, key: String, logger: Logger) -> NodeError {
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
