import AsyncHTTPClient
import Foundation
import NIOCore

/// The bytes of a GET, read chunk by chunk as they arrive: memory stays bounded by the chunk
/// size of the connection (NIO reads of at most 64 KiB) whatever the range's length, and the
/// connection is only read as fast as ``next()`` is called (AsyncHTTPClient's back-pressure).
///
/// Single consumer, not Sendable: read it from one task. Dropping it before the end closes the
/// connection (AsyncHTTPClient cannot reuse a connection with an unread body), which is fine
/// but costs a new connection for the next request.
///
/// No retries once the body flows: a failure here is ``S3Error/unavailable(_:)`` and the
/// caller, who knows how many bytes it already used, asks again for the rest.
public final class S3ObjectStream {
    /// The object's bytes this stream carries, as offsets into the object.
    public let range: Range<Int64>
    /// The whole object's size.
    public let objectSize: Int64
    public let etag: String?
    public let lastModified: Date?

    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private var received: Int64 = 0
    private var finished = false

    init(response: HTTPClientResponse, requested: Range<Int64>?) throws(S3Error) {
        let headers = response.headers
        let contentLength = headers.first(name: "content-length").flatMap { Int64($0) }
        if let requested {
            // The store must answer 206 with exactly the range asked for, cut at the object's end.
            guard response.status.code == 206 else {
                throw .invalidResponse("a ranged GET was answered \(response.status.code), not 206: the store ignored the Range header")
            }
            guard let contentRange = headers.first(name: "content-range"), let parsed = Self.parseContentRange(contentRange) else {
                throw .invalidResponse("a 206 answer without a valid Content-Range")
            }
            let expectedUpper = min(requested.upperBound, parsed.size)
            guard parsed.range.lowerBound == requested.lowerBound, parsed.range.upperBound == expectedUpper else {
                throw .invalidResponse(
                    "asked for bytes \(requested.lowerBound)..<\(requested.upperBound) of \(parsed.size), got \(parsed.range.lowerBound)..<\(parsed.range.upperBound)"
                )
            }
            if let contentLength, contentLength != Int64(parsed.range.count) {
                throw .invalidResponse("Content-Length \(contentLength) does not match Content-Range \(contentRange)")
            }
            range = parsed.range
            objectSize = parsed.size
        } else {
            guard response.status.code == 200 else { throw .invalidResponse("a GET was answered \(response.status.code), not 200") }
            guard let contentLength, contentLength >= 0 else { throw .invalidResponse("a GET answer without Content-Length") }
            range = 0..<contentLength
            objectSize = contentLength
        }
        etag = headers.first(name: "etag")
        lastModified = headers.first(name: "last-modified").flatMap(S3Timestamp.httpDate)
        iterator = response.body.makeAsyncIterator()
    }

    /// The next chunk, or nil at the end, which comes only once exactly ``range``'s bytes came.
    public func next() async throws(S3Error) -> ByteBuffer? {
        guard !finished else { return nil }
        let chunk: ByteBuffer?
        do {
            chunk = try await iterator.next()
        } catch {
            finished = true
            throw .unavailable("the answer broke off after \(received) of \(range.count) bytes: \(error)")
        }
        guard let chunk else {
            finished = true
            guard received == Int64(range.count) else {
                throw .invalidResponse("the answer ended after \(received) of \(range.count) bytes")
            }
            return nil
        }
        received += Int64(chunk.readableBytes)
        guard received <= Int64(range.count) else {
            finished = true
            throw .invalidResponse("the answer has more than the \(range.count) bytes announced")
        }
        return chunk
    }

    /// Reads the rest into one buffer, refusing (before reading) a range longer than `maximum`:
    /// for callers that want the bytes of a small range at once.
    public func collect(upTo maximum: Int) async throws(S3Error) -> ByteBuffer {
        guard Int64(range.count) - received <= Int64(maximum) else {
            throw .invalidRequest("the range has \(Int64(range.count) - received) bytes, more than the \(maximum) asked for")
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(Int(Int64(range.count) - received))
        while var chunk = try await next() { buffer.writeBuffer(&chunk) }
        return buffer
    }

    /// `bytes FIRST-LAST/SIZE`; nil for any other form (`*` sizes included).
    static func parseContentRange(_ text: String) -> (range: Range<Int64>, size: Int64)? {
        guard text.hasPrefix("bytes ") else { return nil }
        let rest = text.dropFirst(6)
        let halves = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2, let size = Int64(halves[1]) else { return nil }
        let ends = halves[0].split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count == 2, let first = Int64(ends[0]), let last = Int64(ends[1]), first >= 0, first <= last, last < size else {
            return nil
        }
        return (first..<(last + 1), size)
    }
}
