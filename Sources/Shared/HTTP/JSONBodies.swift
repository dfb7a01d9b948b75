import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension Request {
    /// Reads the whole body (at most `limit` bytes) and decodes it as JSON.
    ///
    /// An oversized body is a 413 and malformed JSON a 400 with the field that is wrong;
    /// neither reaches an operation. A body that cannot be read (broken chunked framing) is
    /// rethrown, so ``ErrorShapeMiddleware`` answers 400, not 413.
    public func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int = 1 << 20) async throws -> T {
        var request = self
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: .payloadTooLarge, "request body exceeds \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw APIError.badRequest(
                "request body is not valid JSON of the expected shape: \(ErrorShapeMiddleware.describe(error))",
                code: .invalidJson
            )
        }
    }
}

/// JSON responses with stable key order, so clients and tests can compare bodies.
public enum JSONResponse {
    public static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
