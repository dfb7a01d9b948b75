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

    /// The KeyService's own words (its codes and messages name node identities, regions and
    /// whether a user exists) stay in the node log; the client gets the node's code and a
    /// generic message with the request id to quote.
    init(_ error: KeyAccessError) {
        cause = error.description
        switch error {
        case .unavailable:
            api = .unavailable(
                "the KeyService cannot be reached in time and the data key is not cached; retry later",
                retryAfterSeconds: 5,
                code: .keyServiceUnavailable
            )
        case .refused:
            api = .forbidden("the KeyService refused the data key; the node log has the reason under this request id", code: .keyRefused)
        case .integrity:
            api = APIError(
                .internalServerError, code: .integrityError,
                "the stored wrapped data key did not open at the KeyService: it was altered; see the node log")
        case .protocolViolation:
            api = APIError(.badGateway, code: .keyServiceError, "the KeyService answered something the node cannot use; see the node log")
        case .untrustedKeyService:
            api = APIError(
                .badGateway, code: .keyServiceIdentityMismatch,
                "the server at the node's KeyService URL is not the KeyService it trusts; nothing was sent to it; see the node log")
        }
    }

    init(_ error: StorageError) {
        cause = error.description
        switch error {
        case .noSpace:
            api = APIError(
                HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), code: .insufficientStorage,
                "the node has no space left on its storage, so nothing was changed; retry once space is freed "
                    + "(deleting objects frees it); details are in the node log")
        case .io, .metadata:
            api = APIError(.internalServerError, code: .storageFailure, "the node's storage failed; see the node log")
        case .unavailable:
            api = .unavailable(
                "the node's metadata store cannot be reached in time; retry later (a PUT or DELETE answered so may have "
                    + "been applied or not; sending it again is safe)", retryAfterSeconds: 5,
                code: .storeUnavailable)
        case .integrity:
            api = APIError(
                .internalServerError, code: .integrityError, "the object's stored metadata failed its integrity check; see the node log")
        }
    }

    /// A failed blob store call. `.missing` is only an answer where the caller has no better
    /// one: a blob its metadata names but that is gone is an integrity failure of that object,
    /// which ``ObjectService`` answers itself.
    init(_ error: BlobStoreError) {
        cause = error.description
        switch error {
        case .full:
            api = NodeError(StorageError.noSpace(error.description)).api
        case .unavailable:
            api = .unavailable(
                "the node's blob store cannot be reached in time; retry later", retryAfterSeconds: 5,
                code: .storeUnavailable)
        case .missing:
            api = APIError(.internalServerError, code: .integrityError, "a stored blob is missing; see the node log")
        case .io:
            api = APIError(.internalServerError, code: .storageFailure, "the node's storage failed; see the node log")
        }
    }

    static func integrity(_ message: String) -> NodeError {
        NodeError(APIError(.internalServerError, code: .integrityError, message))
    }

    var apiError: APIError { api }
    var description: String { cause.map { "\(api.description) (\($0))" } ?? api.description }
}
