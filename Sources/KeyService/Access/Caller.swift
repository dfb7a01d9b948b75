import Shared

/// The peer of one request as the KeyService sees it: its identity from the validated TLS chain,
/// and what the policy in force when the request arrived makes of it.
///
/// Resolved once per request by ``CallerMiddleware``; every rule is then decided by
/// ``Authorizer`` from this value, never by a route.
struct Caller: Sendable {
    var identity: PeerIdentity
    /// The deny rule or run-time revocation that matches the identity, if any (deny wins).
    var deniedBy: String?
    var roles: Set<Role>
    /// The policy in force for this request (reasons, create-on-first-use).
    var policy: AccessPolicy

    var nodeRegions: Set<String> {
        Set(roles.compactMap { if case .node(let region) = $0 { region } else { nil } })
    }

    var isNode: Bool { roles.contains { if case .node = $0 { true } else { false } } }
}
