import Shared

/// Who at AWS may use which external key for what, from `xks.policy` in the config: a
/// secondary authorization on the request metadata KMS sends (it cannot be forged without the
/// SigV4 secret, but it is KMS's word, not a proof).
///
/// A rule is conditions separated by spaces, each `FIELD=VALUE[,VALUE...]`; a rule matches when
/// every condition does, and a condition matches when any of its values does. Values may use
/// `*` for any run of characters; `-` matches a field KMS did not send. Fields:
///
/// | field | request metadata |
/// | --- | --- |
/// | `api` | the XKS operation: `metadata`, `encrypt`, `decrypt` |
/// | `op` | `kmsOperation` (`Encrypt`, `GenerateDataKey`, `Decrypt`, `ReEncrypt`, `DescribeKey`, ...) |
/// | `principal` | `awsPrincipalArn` |
/// | `via` | `kmsViaService` |
/// | `vpc`, `vpce` | `awsSourceVpc`, `awsSourceVpce` |
/// | `kmsKey` | `kmsKeyArn` |
/// | `key` | the external key id |
/// | `uriPath` | the XKS URI path the call came to |
///
/// Deny first: any matching `deny` rule refuses; otherwise some `grants` rule must match.
/// Health checks are not subject to the policy (the spec exempts them).
struct XKSPolicy: Sendable, Equatable {
    enum Field: String, Sendable, CaseIterable {
        case api, op, principal, via, vpc, vpce, kmsKey, key, uriPath
    }

    struct Rule: Sendable, Equatable, CustomStringConvertible {
        var conditions: [(Field, [String])]
        var text: String
        var description: String { text }

        static func == (a: Rule, b: Rule) -> Bool { a.text == b.text }

        func matches(_ request: XKSPolicy.Request) -> Bool {
            conditions.allSatisfy { field, values in
                let value = request.value(of: field)
                return values.contains { pattern in
                    pattern == "-" ? value == nil : value.map { XKSPolicy.glob(pattern, matches: $0) } ?? false
                }
            }
        }
    }

    /// The facts a decision is made on.
    struct Request: Sendable {
        var api: XKSAPI.Operation
        var metadata: XKSAPI.RequestMetadata
        var keyID: String?
        var uriPath: String

        func value(of field: Field) -> String? {
            switch field {
            case .api: api.rawValue
            case .op: metadata.kmsOperation
            case .principal: metadata.awsPrincipalArn
            case .via: metadata.kmsViaService
            case .vpc: metadata.awsSourceVpc
            case .vpce: metadata.awsSourceVpce
            case .kmsKey: metadata.kmsKeyArn
            case .key: keyID
            case .uriPath: uriPath
            }
        }
    }

    var grants: [Rule]
    var deny: [Rule]

    static let none = XKSPolicy(grants: [Rule](), deny: [Rule]())

    init(grants: [Rule], deny: [Rule]) {
        self.grants = grants
        self.deny = deny
    }

    init(grants: [String], deny: [String]) throws(PolicyError) {
        self.grants = try Self.parse(grants, key: "xks.policy.grants")
        self.deny = try Self.parse(deny, key: "xks.policy.deny")
    }

    enum Decision: Sendable, Equatable {
        case allowed(by: String)
        case denied(String)
    }

    func decide(_ request: Request) -> Decision {
        if let (index, rule) = deny.enumerated().first(where: { $0.element.matches(request) }) {
            return .denied("denied by xks.policy.deny[\(index)] '\(rule.text)'")
        }
        if let (index, rule) = grants.enumerated().first(where: { $0.element.matches(request) }) {
            return .allowed(by: "xks.policy.grants[\(index)] '\(rule.text)'")
        }
        return .denied("no xks.policy.grants rule matches")
    }

    static func parse(_ texts: [String], key: String) throws(PolicyError) -> [Rule] {
        var rules: [Rule] = []
        for (index, text) in texts.enumerated() {
            var conditions: [(Field, [String])] = []
            for part in text.split(separator: " ", omittingEmptySubsequences: true) {
                let pieces = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard pieces.count == 2, let field = Field(rawValue: pieces[0]) else {
                    throw PolicyError(
                        key: key,
                        message: "entry \(index): '\(part)' is not FIELD=VALUE with FIELD one of "
                            + Field.allCases.map(\.rawValue).joined(separator: ", "))
                }
                let values = pieces[1].split(separator: ",", omittingEmptySubsequences: true).map(String.init)
                guard !values.isEmpty, values.allSatisfy({ !$0.isEmpty && $0.utf8.count <= XKSAPI.maximumARNLength }) else {
                    throw PolicyError(key: key, message: "entry \(index): '\(part)' lists no value")
                }
                if field == .api, let bad = values.first(where: { $0 != "*" && XKSAPI.Operation(rawValue: $0) == nil }) {
                    throw PolicyError(key: key, message: "entry \(index): api '\(bad)' is not metadata, encrypt or decrypt")
                }
                conditions.append((field, values))
            }
            guard !conditions.isEmpty else {
                throw PolicyError(key: key, message: "entry \(index) is empty; write principal=* to match everything")
            }
            rules.append(Rule(conditions: conditions, text: text))
        }
        return rules
    }

    /// `*` matches any run of characters (none included); everything else literally.
    static func glob(_ pattern: String, matches value: String) -> Bool {
        let p = Array(pattern.utf8)
        let v = Array(value.utf8)
        var (pi, vi) = (0, 0)
        var star: Int?
        var resume = 0
        while vi < v.count {
            if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi
                resume = vi
                pi += 1
            } else if pi < p.count, p[pi] == v[vi] {
                pi += 1
                vi += 1
            } else if let s = star {
                pi = s + 1
                resume += 1
                vi = resume
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
