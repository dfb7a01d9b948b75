import Shared

/// Selects identities in the policy: a SPIFFE ID (exact, or a `/*` suffix for every ID below
/// a path) or the SHA-256 of a public key (`spki-sha256:HEX`).
///
/// Matching is on parsed SPIFFE IDs, segment by segment, so `spiffe://td/node/*` matches
/// `spiffe://td/node/eu-west` but neither `spiffe://td/nodes-evil/x` nor another trust domain.
enum IdentityMatcher: Hashable, Sendable, CustomStringConvertible {
    case spiffe(SPIFFEID)
    case spiffePrefix(trustDomain: String, segments: [String])
    case spki(String)
    /// A certificate serial number (hex), for deny lists; leading zeros do not matter.
    case serial(String)

    static let spkiPrefix = "spki-sha256:"
    static let serialPrefix = "serial:"

    init?(_ text: String) {
        if text.hasPrefix(Self.serialPrefix) {
            let hex = String(text.dropFirst(Self.serialPrefix.count)).lowercased()
            guard (1...40).contains(hex.count), hex.allSatisfy(\.isHexDigit) else { return nil }
            self = .serial(Self.trimZeros(hex))
        } else if text.hasPrefix(Self.spkiPrefix) {
            let hex = String(text.dropFirst(Self.spkiPrefix.count)).lowercased()
            guard hex.count == 64, [UInt8](hex: hex) != nil else { return nil }
            self = .spki(hex)
        } else if text.hasSuffix("/*") {
            guard let id = SPIFFEID(String(text.dropLast(2))) else { return nil }
            self = .spiffePrefix(trustDomain: id.trustDomain, segments: id.segments)
        } else {
            guard let id = SPIFFEID(text) else { return nil }
            self = .spiffe(id)
        }
    }

    static func trimZeros(_ hex: String) -> String {
        let trimmed = hex.lowercased().drop { $0 == "0" }
        return trimmed.isEmpty ? "0" : String(trimmed)
    }

    func matches(_ identity: PeerIdentity) -> Bool {
        switch self {
        case .spki(let hash):
            return identity.spkiSHA256 == hash
        case .serial(let serial):
            return Self.trimZeros(identity.serialNumber) == serial
        case .spiffe(let id):
            return identity.spiffeID == id
        case .spiffePrefix(let domain, let segments):
            guard let id = identity.spiffeID, id.trustDomain == domain, id.segments.count > segments.count else {
                return false
            }
            return Array(id.segments.prefix(segments.count)) == segments
        }
    }

    var description: String {
        switch self {
        case .spki(let hash): Self.spkiPrefix + hash
        case .serial(let serial): Self.serialPrefix + serial
        case .spiffe(let id): id.description
        case .spiffePrefix(let domain, let segments): "spiffe://" + ([domain] + segments + ["*"]).joined(separator: "/")
        }
    }
}
