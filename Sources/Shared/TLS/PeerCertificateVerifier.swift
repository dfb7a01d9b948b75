import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// Validates a peer's presented chain against the operator's CA with swift-certificates.
///
/// This replaces BoringSSL's own chain check (see swift-nio-ssl's
/// `NIOSSLCustomVerificationCallbackWithMetadata`), so that the handshake can hand the
/// *validated* chain to the application, which reads the peer identity from it. The rules:
/// RFC 5280 path validation at the current time, the leaf's extendedKeyUsage must match the
/// side it authenticates, and the leaf's identity must be readable (at most one SPIFFE ID).
public struct PeerCertificateVerifier: Sendable {
    public let roots: [Certificate]
    public let requiredUsage: ExtendedKeyUsage.Usage
    public let revocations: RevocationList

    public init(roots: [Certificate], requiredUsage: ExtendedKeyUsage.Usage, revocations: RevocationList = RevocationList()) {
        self.roots = roots
        self.requiredUsage = requiredUsage
        self.revocations = revocations
    }

    /// The outcome of a verification, with the reason kept for the operator's log.
    public enum Outcome: Sendable {
        case verified(chain: [Certificate], identity: PeerIdentity)
        case refused(reason: String)
    }

    public func verify(presented: [NIOSSLCertificate]) async -> Outcome {
        guard let leafBytes = presented.first else { return .refused(reason: "peer presented no certificate") }
        let certificates: [Certificate]
        do {
            certificates = try ([leafBytes] + presented.dropFirst()).map { try Certificate(derEncoded: try $0.toDERBytes()) }
        } catch {
            return .refused(reason: "peer certificate does not parse: \(error)")
        }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy()
            ExtendedKeyUsagePolicy(required: requiredUsage)
        }
        let result = await verifier.validate(
            leaf: certificates[0],
            intermediates: CertificateStore(Array(certificates.dropFirst()))
        )
        switch result {
        case .validCertificate(let chain):
            if let revoked = chain.first(where: revocations.isRevoked) {
                return .refused(reason: "certificate serial \(Array(revoked.serialNumber.bytes).hexString) is revoked by the CA's CRL")
            }
            do {
                let identity = try PeerIdentity(certificate: chain.leaf)
                return .verified(chain: Array(chain), identity: identity)
            } catch {
                return .refused(reason: error.description)
            }
        case .couldNotValidate(let failures):
            let reasons = failures.map { $0.policyFailureReason.description }
            return .refused(reason: reasons.isEmpty ? "no chain to a trusted CA" : reasons.joined(separator: "; "))
        }
    }

    /// Adapts ``verify(presented:)`` to swift-nio-ssl's callback, logging refusals.
    public func callback(onRefusal: @escaping @Sendable (String) -> Void) -> NIOSSLCustomVerificationCallbackWithMetadata {
        { presented, promise in
            promise.completeWithTask {
                switch await self.verify(presented: presented) {
                case .verified(let chain, _):
                    let nioChain = try chain.map {
                        var serializer = DER.Serializer()
                        try serializer.serialize($0)
                        return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
                    }
                    return .certificateVerified(VerificationMetadata(ValidatedCertificateChain(nioChain)))
                case .refused(let reason):
                    onRefusal(reason)
                    return .failed
                }
            }
        }
    }
}
