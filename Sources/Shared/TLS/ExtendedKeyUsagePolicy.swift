import SwiftASN1
import X509

/// Requires the leaf to be issued for the purpose the connection uses it for.
///
/// A client certificate must carry `clientAuth`, a server certificate `serverAuth`; a leaf
/// without an extendedKeyUsage extension is refused, because the dev PKI and any CA suited to
/// this service always state the purpose.
public struct ExtendedKeyUsagePolicy: VerifierPolicy, Sendable {
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage]
    public var required: ExtendedKeyUsage.Usage

    public init(required: ExtendedKeyUsage.Usage) {
        self.required = required
    }

    public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let usage: ExtendedKeyUsage?
        do {
            usage = try chain.leaf.extensions.extendedKeyUsage
        } catch {
            return .failsToMeetPolicy(reason: "leaf extendedKeyUsage is malformed: \(error)")
        }
        guard let usage else {
            return .failsToMeetPolicy(reason: "leaf has no extendedKeyUsage; \(required) is required")
        }
        guard usage.contains(required) else {
            return .failsToMeetPolicy(reason: "leaf extendedKeyUsage \(usage) lacks \(required)")
        }
        return .meetsPolicy
    }
}
