import Shared
import SplitKeyTestSupport
import Testing

@testable import KeyService

struct AccessPolicyTests {
    func identity(_ spiffe: String?, spki: String = String(repeating: "ab", count: 32)) -> PeerIdentity {
        PeerIdentity(spiffeID: spiffe.flatMap(SPIFFEID.init), spkiSHA256: spki, serialNumber: "01")
    }

    @Test func grantsAreUnionedAndDenyWins() throws {
        let spki = String(repeating: "cd", count: 32)
        let policy = try AccessPolicy(
            grants: [
                "node:eu-west spiffe://td/node/eu-west",
                "node:eu-central spiffe://td/node/eu-west",
                "admin spiffe://td/admin/*",
                "auditor spki-sha256:\(spki.uppercased())",
            ],
            deny: ["spiffe://td/admin/mallory"],
            nodesMayCreateUsers: false
        )
        #expect(policy.decide(identity("spiffe://td/node/eu-west")) == .roles([.node(region: "eu-west"), .node(region: "eu-central")]))
        #expect(policy.decide(identity("spiffe://td/admin/alice")) == .roles([.admin]))
        #expect(policy.decide(identity("spiffe://td/admin/mallory")) == .denied(by: "spiffe://td/admin/mallory"))
        #expect(policy.decide(identity(nil, spki: spki)) == .roles([.auditor]))
        #expect(policy.decide(identity("spiffe://td/node/us-east")) == .roles([]))
    }

    @Test func serialNumbersDenyRegardlessOfLeadingZeros() throws {
        let policy = try AccessPolicy(grants: ["admin spiffe://td/admin/*"], deny: ["serial:00AB12"], nodesMayCreateUsers: false)
        let denied = PeerIdentity(spiffeID: SPIFFEID("spiffe://td/admin/a"), spkiSHA256: "x", serialNumber: "ab12")
        let other = PeerIdentity(spiffeID: SPIFFEID("spiffe://td/admin/a"), spkiSHA256: "x", serialNumber: "ab13")
        #expect(policy.decide(denied) == .denied(by: "serial:ab12"))
        #expect(policy.decide(other) == .roles([.admin]))
        #expect(IdentityMatcher("serial:xyz") == nil)
    }

    @Test func prefixMatchesWholeSegmentsOfOneTrustDomain() throws {
        let matcher = try #require(IdentityMatcher("spiffe://td/node/*"))
        #expect(matcher.matches(identity("spiffe://td/node/eu-west")))
        #expect(matcher.matches(identity("spiffe://td/node/eu-west/replica-2")))
        #expect(!matcher.matches(identity("spiffe://td/node")))
        #expect(!matcher.matches(identity("spiffe://td/nodes/eu-west")))
        #expect(!matcher.matches(identity("spiffe://other/node/eu-west")))
        #expect(!matcher.matches(identity(nil)))
    }

    @Test func malformedRulesAreRefusedWithTheirKey() {
        for bad in [
            "admin", "node: spiffe://td/x", "wizard spiffe://td/x", "admin https://td/x", "admin spki-sha256:1234", "node:EU spiffe://td/x",
        ] {
            #expect(throws: PolicyError.self, "\(bad)") {
                try AccessPolicy(grants: [bad], deny: [], nodesMayCreateUsers: false)
            }
        }
        #expect(throws: PolicyError.self) { try AccessPolicy(grants: [], deny: ["nobody"], nodesMayCreateUsers: false) }
    }

    @Test func spiffeIDsAreParsedStrictly() {
        #expect(SPIFFEID("spiffe://td/a/b")?.segments == ["a", "b"])
        #expect(SPIFFEID("spiffe://td/a/../b") == nil)
        #expect(SPIFFEID("spiffe://td//b") == nil)
        #expect(SPIFFEID("spiffe://TD/a") == nil)
        #expect(SPIFFEID("spiffe:///a") == nil)
        #expect(SPIFFEID("https://td/a") == nil)
    }

    @Test func environmentVariableNames() {
        #expect(ConfigurationError.envName("listen.port") == "SPLITKEY_LISTEN_PORT")
        #expect(ConfigurationError.envName("tls.privateKey") == "SPLITKEY_TLS_PRIVATE_KEY")
        #expect(ConfigurationError.envName("cacheTTL") == "SPLITKEY_CACHE_TTL")
    }
}
