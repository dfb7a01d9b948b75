import HTTPTypes

/// An error a client can act on: an HTTP status, a stable machine-readable code and a message.
///
/// Every refusal of both daemons is one of these, rendered as
/// `{"error": {"code": ..., "message": ..., "requestId": ...}}` by ``ErrorShapeMiddleware``.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: ErrorCode
    public var message: String
    /// Extra response headers, such as `Retry-After`.
    public var headers: [String: String]

    public init(_ status: HTTPResponse.Status, code: ErrorCode, _ message: String, headers: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public static func badRequest(_ message: String, code: ErrorCode = .badRequest) -> APIError {
        APIError(.badRequest, code: code, message)
    }

    public static func forbidden(_ message: String, code: ErrorCode = .forbidden) -> APIError {
        APIError(.forbidden, code: code, message)
    }

    public static func notFound(_ message: String, code: ErrorCode = .notFound) -> APIError {
        APIError(.notFound, code: code, message)
    }

    public static func conflict(_ message: String, code: ErrorCode = .conflict) -> APIError {
        APIError(.conflict, code: code, message)
    }

    public static func unauthenticated(_ message: String) -> APIError {
        APIError(.unauthorized, code: .unauthenticated, message)
    }

    public static func unavailable(_ message: String, retryAfterSeconds: Int, code: ErrorCode = .unavailable) -> APIError {
        APIError(.serviceUnavailable, code: code, message, headers: ["Retry-After": String(retryAfterSeconds)])
    }

    public static let internalError = APIError(
        .internalServerError,
        code: .internalError,
        "internal error; the request id locates the details in the server log"
    )
}

/// The one error body both daemons send.
public struct ErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var code: ErrorCode
        public var message: String
        public var requestId: String
    }

    public var error: Detail

    public init(code: ErrorCode, message: String, requestId: String) {
        self.error = Detail(code: code, message: message, requestId: requestId)
    }
}
