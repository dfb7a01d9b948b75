import Foundation
import Shared

/// Who may do what at the KeyService, from the `policy` section of the config.
///
/// Rules, in the order they apply:
/// 1. An identity matched by any `deny` entry is refused everything. Deny always wins.
/// 2. Otherwise its roles are the union of every `grants` entry that matches it.
/// 3. An identity with no role may only ask for health and whoami.
///
/// A grant is written `ROLE MATCHER`, where ROLE is `node:REGION`, `admin` or `auditor` and
/// MATCHER is an ``IdentityMatcher``, for example `node:eu-west spiffe://splitkey.local/node/eu-west`.
struct AccessPolicy: Sendable {
    struct Grant: Sendable, Hashable {
        var role: Role
        var matcher: IdentityMatcher
    }

    var grants: [Grant]
    var deny: [IdentityMatcher]
    /// Lets a node create a user, homed in the node's own region, on its first generate call.
    var nodesMayCreateUsers: Bool

    /// Unwrap reasons refused for every node (`legal-process` unless configured otherwise).
    var deniedReasons: Set<KeyServiceAPI.UnwrapReason>
    /// `REASON@REGION` pairs refused for nodes of that region.
    var deniedReasonsByRegion: Set<String>

    init(
        grants: [String],
        deny: [String],
        nodesMayCreateUsers: Bool,
        deniedReasons: [String] = ["legal-process"],
        deniedReasonsByRegion: [String] = []
    ) throws(PolicyError) {
        var reasons = Set<KeyServiceAPI.UnwrapReason>()
        for text in deniedReasons {
            guard let reason = KeyServiceAPI.UnwrapReason(rawValue: text) else {
                throw PolicyError(
                    key: "policy.deniedReasons",
                    message:
                        "'\(text)' is not a reason code (\(KeyServiceAPI.UnwrapReason.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            reasons.insert(reason)
        }
        self.deniedReasons = reasons
        for text in deniedReasonsByRegion {
            let parts = text.split(separator: "@").map(String.init)
            guard parts.count == 2, KeyServiceAPI.UnwrapReason(rawValue: parts[0]) != nil, Identifiers.isValidRegion(parts[1]) else {
                throw PolicyError(key: "policy.deniedReasonsByRegion", message: "'\(text)' must be REASON@REGION, e.g. scrub@us-east")
            }
        }
        self.deniedReasonsByRegion = Set(deniedReasonsByRegion)
        self.grants = try grants.enumerated().map { index, text throws(PolicyError) in
            let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard parts.count == 2 else {
                throw PolicyError(key: "policy.grants", message: "entry \(index) '\(text)' must be 'ROLE MATCHER'")
            }
            guard let matcher = IdentityMatcher(parts[1]) else {
                throw PolicyError(
                    key: "policy.grants",
                    message: "entry \(index): '\(parts[1])' is neither a SPIFFE ID (optionally ending in /*) nor spki-sha256:HEX")
            }
            let role: Role
            switch parts[0] {
            case "admin": role = .admin
            case "auditor": role = .auditor
            case let r where r.hasPrefix("node:"):
                let region = String(r.dropFirst(5))
                guard Identifiers.isValidRegion(region) else {
                    throw PolicyError(key: "policy.grants", message: "entry \(index): '\(region)' is not a valid region name")
                }
                role = .node(region: region)
            default:
                throw PolicyError(
                    key: "policy.grants", message: "entry \(index): unknown role '\(parts[0])' (node:REGION, admin or auditor)")
            }
            return Grant(role: role, matcher: matcher)
        }
        self.deny = try deny.enumerated().map { index, text throws(PolicyError) in
            guard let matcher = IdentityMatcher(text.trimmingCharacters(in: .whitespaces)) else {
                throw PolicyError(key: "policy.deny", message: "entry \(index) '\(text)' is neither a SPIFFE ID nor spki-sha256:HEX")
            }
            return matcher
        }
        self.nodesMayCreateUsers = nodesMayCreateUsers
    }

    /// The decision for one identity.
    enum Decision: Sendable, Equatable {
        case denied(by: String)
        case roles(Set<Role>)
    }

    /// Whether an unwrap for `reason` by a node of `regions` is refused.
    func refuses(reason: KeyServiceAPI.UnwrapReason, regions: Set<String>) -> Bool {
        deniedReasons.contains(reason) || regions.contains { deniedReasonsByRegion.contains("\(reason.rawValue)@\($0)") }
    }

    func decide(_ identity: PeerIdentity, revoked: [IdentityMatcher] = []) -> Decision {
        if let rule = (deny + revoked).first(where: { $0.matches(identity) }) {
            return .denied(by: rule.description)
        }
        return .roles(Set(grants.filter { $0.matcher.matches(identity) }.map(\.role)))
    }
}

struct PolicyError: Error, Sendable, CustomStringConvertible {
    var key: String
    var message: String
    var description: String { message }
}
