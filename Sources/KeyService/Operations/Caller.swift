import Shared

/// An authenticated, authorised peer as the operations see it.
struct Caller: Sendable {
    var identity: PeerIdentity
    var roles: Set<Role>
    /// From the policy in force for this request: may a node create a user on first use?
    var mayCreateUsersOnFirstUse: Bool = false
    /// The policy in force for this request, for reason checks.
    var policy: AccessPolicy? = nil

    func refusesReason(_ reason: KeyServiceAPI.UnwrapReason) -> Bool {
        policy?.refuses(reason: reason, regions: nodeRegions) ?? false
    }

    var nodeRegions: Set<String> {
        Set(roles.compactMap { if case .node(let region) = $0 { region } else { nil } })
    }

    func require(_ allowed: (Role) -> Bool, for action: String) throws(APIError) {
        guard roles.contains(where: allowed) else {
            throw APIError.forbidden("\(identity) has no role that may \(action)", code: "role_required")
        }
    }
}
