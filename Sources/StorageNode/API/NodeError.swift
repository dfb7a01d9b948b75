import HTTPTypes
import Shared

/// Every way a StorageNode request can fail, each with the answer a client can act on.
struct NodeError: APIErrorConvertible, Sendable, CustomStringConvertible {
    let api: APIError
    /// What really failed, for the log only: the client's message leaves out the node's paths and SQL.
    let cause: String?

    init(_ api: APIError) {
        self.api = api
        self.cause = nil
    }

    init(_ error: KeyAccessError) {
        cause = nil
        switch error {
        case .unavailable(let detail):
            api = .unavailable(
                "the KeyService cannot be reached in time and the data key is not cached: \(detail)",
                retryAfterSeconds: 5,
                code: "key_service_unavailable"
            )
        case .refused(let code, let message):
            api = .forbidden("the KeyService refused the data key (\(code)): \(message)", code: "key_refused")
        case .integrity(let code, let message):
            api = APIError(.internalServerError, code: "integrity_error", "the stored wrapped data key did not open (\(code)): \(message)")
        case .protocolViolation(let detail):
            api = APIError(.badGateway, code: "key_service_error", detail)
        }
    }

    init(_ error: StorageError) {
        cause = error.description
        switch error {
        case .noSpace:
            api = APIError(
                HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), code: "insufficient_storage",
                "the node has no space left on its storage, so nothing was changed; retry once space is freed "
                    + "(deleting objects frees it); details are in the node log")
        case .io, .metadata:
            api = APIError(.internalServerError, code: "storage_failure", "the node's storage failed; see the node log")
        }
    }

    static func integrity(_ message: String) -> NodeError {
        NodeError(APIError(.internalServerError, code: "integrity_error", message))
    }

    var apiError: APIError { api }
    var description: String { cause.map { "\(api.description) (\($0))" } ?? api.description }
}
