import Hummingbird
import Logging
import NIOCore
import Shared

/// The request context of every `/v1` route: the shared context's identity and request id,
/// and the ``Caller`` that ``CallerMiddleware`` resolved from them.
struct KeyServiceRequestContext: ChildRequestContext {
    typealias ParentContext = SplitKeyRequestContext

    var coreContext: CoreRequestContextStorage
    let requestID: String
    let identity: PeerIdentity?
    var caller: Caller?

    init(context: SplitKeyRequestContext) throws {
        self.coreContext = context.coreContext
        self.requestID = context.requestID
        self.identity = context.identity
    }

    /// The caller, or a 401 if the middleware did not resolve one.
    func requireCaller() throws(APIError) -> Caller {
        guard let caller else { throw APIError.unauthenticated("no verified client certificate on this connection") }
        return caller
    }
}
