import Foundation
import HTTPTypes
import Hummingbird
import Logging

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

    static func apiError(for error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as any APIErrorConvertible:
            return error.apiError
        case let error as HTTPError:
            let code = error.status == .notFound ? "not_found" : (error.status.code < 500 ? "bad_request" : "internal")
            if error.status.code >= 500 { logger.error("request failed", metadata: ["error": "\(error)"]) }
            return APIError(error.status, code: code, error.body ?? error.status.reasonPhrase)
        case is DecodingError:
            return .badRequest("request body is not valid JSON of the expected shape: \(Self.describe(error))", code: "invalid_json")
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
