import HTTPTypes
import Shared

/// A rule's "no": the code and a generic message for the caller, and the detail for the log.
///
/// Callers learn which rule refused them (the code) but not the policy, the identities or the
/// regions behind it; the operator finds those in the log line with the same request id.
struct Refusal: Error, Sendable, Equatable {
    var status: HTTPResponse.Status
    var code: ErrorCode
    var message: String
    var detail: String
    var retryAfter: Int?

    init(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String, detail: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail ?? message
        self.retryAfter = retryAfter
    }

    var apiError: APIError {
        APIError(status, code: code, message, headers: retryAfter.map { ["Retry-After": String($0)] } ?? [:])
    }
}
