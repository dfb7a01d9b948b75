import Foundation
import Shared

/// The KeyService's one decision point: every rule about who may do what is decided here and
/// nowhere else, in the order `docs/KEYSERVICE.md` lists.
///
/// 1. deny rules and run-time revocations (deny wins over every grant);
/// 2. the role the operation needs;
/// 3. the caller's request rate (a batch costs one token per item);
/// then, for key use, once the user is read:
/// 4. the user is homed in one of the node's regions (an unknown user is refused the same way,
///    so a node cannot learn which users other regions have);
/// 5. the unwrap reason (for every node, or for the node's region);
/// 6. the user's lifecycle state;
/// 7. the unwrap lockout;
/// 8. the KEK version's minimum (unwrap) or cryptoperiod and wrap count (new wraps);
/// 9. the user's unwrap rate;
/// 10. the user's unwrap budget (exceeding it locks further unwraps).
struct Authorizer: Sendable {
    let identityRequests: TokenBuckets
    let userUnwraps: TokenBuckets
    let budget: UnwrapBudget
    let lifecycle: LifecycleSettings
    /// Requests per XKS URI path (an AWS KMS external key store).
    var xksRequests = TokenBuckets(rate: 1800, burst: 3600)

    /// Rules 1-3: may this caller ask for `op` at all, now?
    func admit(_ caller: Caller, to op: OperationName, items: Int = 1) throws(Refusal) {
        if let rule = caller.deniedBy {
            throw Refusal(.forbidden, .identityDenied, "this identity is denied by the KeyService policy", detail: "denied by \(rule)")
        }
        guard caller.roles.contains(where: { Self.role($0, allows: op) }) else {
            throw Refusal(
                .forbidden, .roleRequired, "this identity has no role that may \(op.rawValue)",
                detail: "\(caller.identity) has roles [\(caller.roles.map(\.description).sorted().joined(separator: ","))]")
        }
        if let wait = identityRequests.take(caller.identity.spkiSHA256, count: items) {
            throw Refusal(.tooManyRequests, .rateLimited, "too many requests from this identity", retryAfter: wait)
        }
    }

    /// Create on first use: a node may create an unknown user, homed in its region, on its first
    /// generate when the policy allows it and the node serves exactly one region.
    func firstUseRegion(_ caller: Caller) -> String? {
        guard caller.policy.nodesMayCreateUsers, caller.deniedBy == nil, caller.nodeRegions.count == 1 else { return nil }
        return caller.nodeRegions.first
    }

    /// Rule 4 for every node operation on a user.
    func authorizeRegion(_ caller: Caller, user: UserRecord?, userID: String) throws(Refusal) {
        guard let user, caller.nodeRegions.contains(user.homeRegion) else {
            throw Refusal(
                .forbidden, .regionMismatch, "the user is not homed in a region this node serves",
                detail: user.map { "user \($0.id) is homed in \($0.homeRegion); node serves \(caller.nodeRegions.sorted())" }
                    ?? "user \(userID) does not exist")
        }
    }

    /// Rules 5-10 for an unwrap (or rewrap) of a key wrapped under `kekVersion`.
    func authorizeUnwrap(_ caller: Caller, user: UserRecord, kekVersion: UInt32, reason: KeyServiceAPI.UnwrapReason)
        throws(Refusal) -> BudgetCheck
    {
        if caller.policy.refuses(reason: reason, regions: caller.nodeRegions) {
            throw Refusal(.forbidden, .reasonDenied, "unwraps for reason '\(reason.rawValue)' are refused by the KeyService policy")
        }
        switch user.state {
        case .active, .deactivated: break
        case .suspended: throw Refusal(.forbidden, .userSuspended, "the user is suspended")
        case .destroyed: throw Refusal(.forbidden, .userDestroyed, "the user was destroyed; its keys no longer exist")
        }
        guard !user.unwrapLocked, !budget.isLockedLocally(user.id) else {
            throw Refusal(.forbidden, .unwrapLocked, "unwraps of this user are locked after its unwrap budget was exceeded")
        }
        guard kekVersion >= user.minKEKVersion else {
            throw Refusal(.forbidden, .kekVersionRetired, "the key's KEK version is below the user's minimum; rewrap the key")
        }
        if let wait = userUnwraps.take(user.id) {
            throw Refusal(.tooManyRequests, .rateLimited, "too many unwraps for this user", retryAfter: wait)
        }
        return budget.exceeds(user.id) ? .exceeded : .within
    }

    enum BudgetCheck: Sendable { case within, exceeded }

    /// Rule 10 on fresh figures: a tentative `.exceeded` is decided on the ledger's current total
    /// (every replica's unwraps), so a stale count after an admin's clear does not lock the user
    /// again. When the ledger does not answer, the tentative answer stands.
    func confirmBudget(_ user: UserRecord, store: any KeyStore) async -> BudgetCheck {
        guard let exceeded = try? await budget.confirm(user.id, store: store) else { return .exceeded }
        return exceeded ? .exceeded : .within
    }

    /// Rules 6 and 8 for a new wrap under the user's current KEK.
    func authorizeWrap(user: UserRecord, kek: SealedKEKRecord, now: Date = Date()) throws(Refusal) {
        guard user.state == .active else {
            throw Refusal(
                .forbidden, .userNotActive, "only active users get new wraps", detail: "user \(user.id) is \(user.state.rawValue)")
        }
        if let created = Timestamps.date(kek.createdAt), now.timeIntervalSince(created) > TimeInterval(lifecycle.kekMaxAge) {
            throw Refusal(.conflict, .kekRotationRequired, "the user's KEK is past its cryptoperiod; an admin must rotate it")
        }
        guard kek.wraps < lifecycle.kekMaxWraps else {
            throw Refusal(.conflict, .kekRotationRequired, "the user's KEK reached its wrap limit; an admin must rotate it")
        }
    }

    /// Rule 2's table: which role may run which operation.
    static func role(_ role: Role, allows op: OperationName) -> Bool {
        switch (role, op) {
        case (.node, .generate), (.node, .generateWrapped), (.node, .unwrap), (.node, .rewrap): true
        case (.admin, .showUser), (.admin, .listUsers), (.admin, .listRevoked), (.admin, .xksKeyShow), (.admin, .xksKeyList): true
        case (.auditor, .showUser), (.auditor, .listUsers), (.auditor, .listRevoked), (.auditor, .xksKeyShow), (.auditor, .xksKeyList):
            true
        // AWS KMS calls come through the XKS listener, never from a TLS peer's role.
        case (_, .xksHealth), (_, .xksMetadata), (_, .xksEncrypt), (_, .xksDecrypt): false
        case (.admin, let op): op.changesState && op != .generate
        default: false
        }
    }
}
