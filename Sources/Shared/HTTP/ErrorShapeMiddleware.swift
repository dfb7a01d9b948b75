import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Turns every failure into the one JSON error shape, adds `X-Request-Id` to every response,
/// and writes one log line per request.
///
/// Errors that are not ``APIError`` become a 500 whose message says nothing about internals;
/// the details go to the log under the same request id.
public struct ErrorShapeMiddleware: RouterMiddleware {
    public typealias Context = SplitKeyRequestContext
    public static let requestIDHeader = HTTPField.Name("X-Request-Id")!

    public init() {}

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error, logger: context.logger)
            response = Self.render(apiError, requestID: context.requestID)
            if request.method == .head {
                // A HEAD answer carries no content (RFC 9110 section 9.3.2): HTTP/1.1's encoder drops
                // it, but over HTTP/2 it would go out as DATA and clients reset the stream.
                let length = response.body.contentLength
                response.body = .init()
                response.headers[.contentLength] = length.map(String.init)
            }
        }
        response.headers[Self.requestIDHeader] = context.requestID
        let elapsed = ContinuousClock.now - started
        context.logger.info(
            "request",
            metadata: [
                "http.method": "\(request.method)",
                "http.path": "\(request.uri.path)",
                "http.status": "\(response.status.code)",
                "duration.ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                "peer": "\(context.identity?.description ?? "-")",
            ]
        )
        return response
    }

    public static func apiError(for error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as any APIErrorConvertible:
            return error.apiError
        case let error as HTTPError:
            let code: ErrorCode = error.status == .notFound ? .notFound : (error.status.code < 500 ? .badRequest : .internalError)
            if error.status.code >= 500 { logger.error("request failed", metadata: ["error": "\(error)"]) }
            return APIError(error.status, code: code, error.body ?? error.status.reasonPhrase)
        case let error as NIOTooManyBytesError:
            // A route that collects a body itself (not through decodeJSON) and gets too much.
            return APIError(
                .contentTooLarge, code: .payloadTooLarge, "request body exceeds \(error.maxBytes.map(String.init) ?? "the limit") bytes")
        case let error as HTTPParserError:
            // A body that breaks HTTP framing (a bad chunk size, ...) reaches a route as it
            // streams, after the head parsed fine; it is the client's fault, not a 500.
            return .badRequest("malformed HTTP request: \(error)")
        case is DecodingError:
            return .badRequest("request body is not valid JSON of the expected shape: \(Self.describe(error))", code: .invalidJson)
        default:
            logger.error("request failed", metadata: ["error": "\(error)"])
            return .internalError
        }
    }

    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty
                ? "malformed JSON" : "invalid value at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        @unknown default: return "malformed JSON"
        }
    }

    public static func render(_ error: APIError, requestID: String) -> Response {
        let body = ErrorBody(code: error.code, message: error.message, requestId: requestID)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json"]
        for (name, value) in error.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        return Response(status: error.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
