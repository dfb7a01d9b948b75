import Hummingbird
import Shared

/// The one place that turns a request's TLS identity into a ``Caller``: the policy and
/// run-time revocations in force when the request arrives, read once, as one snapshot.
///
/// It decides nothing: a denied identity still gets a `Caller` (with `deniedBy` set), so that
/// its refusal is made, and recorded, by ``Authorizer`` and the audited operations like every
/// other refusal.
struct CallerMiddleware: RouterMiddleware {
    typealias Context = KeyServiceRequestContext
    let state: ServerStateStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let identity = context.identity else {
            throw APIError.unauthenticated("no verified client certificate on this connection")
        }
        let current = state.current
        var context = context
        switch current.policy.decide(identity, revoked: current.revoked) {
        case .denied(let rule):
            context.caller = Caller(identity: identity, deniedBy: rule, roles: [], policy: current.policy)
        case .roles(let roles):
            context.caller = Caller(identity: identity, deniedBy: nil, roles: roles, policy: current.policy)
        }
        return try await next(request, context)
    }
}
