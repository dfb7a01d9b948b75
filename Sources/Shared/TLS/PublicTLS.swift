import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// What a listener for callers outside the operator's PKI (the AWS KMS External Key Store proxy
/// API, S3 clients) is built from: its certificate and key, the oldest TLS version it accepts,
/// and optionally the CA and subject names a client certificate must have.
///
/// These callers authenticate their requests with SigV4, not with our client certificates, so
/// by default no client certificate is asked for. Setting ``clientCA`` turns on the optional
/// mutual TLS of the XKS specification: a client certificate is then required, it must chain to
/// that CA and the common name of its subject must be one of ``allowedClientSubjects``, else
/// the handshake fails.
public struct PublicTLSSettings: Sendable, Equatable {
    /// The oldest protocol version a client may negotiate; TLS 1.1 and older are never offered.
    public enum MinimumVersion: String, Sendable, Equatable, CaseIterable {
        case tlsv12
        case tlsv13
    }

    /// PEM certificate chain, leaf first.
    public var certificate: String
    /// PEM private key of the leaf; refused if readable by group or others.
    public var privateKey: String
    public var minimumVersion: MinimumVersion
    /// PEM bundle of the CAs a client certificate must chain to; nil: no client certificate
    /// is asked for. Keep it as narrow as the callers (for KMS, the Amazon Trust Services
    /// roots): any certificate it issued with an allowed subject name is accepted.
    ///
    /// - Warning: Under TLS 1.2 the client certificate crosses the network unencrypted, so
    ///   an observer learns who connected; set ``minimumVersion`` to `.tlsv13` if that matters.
    public var clientCA: String?
    /// The subject common names a client certificate may carry (for KMS:
    /// `cks.kms.<region>.amazonaws.com`), compared exactly, case included. Must be non-empty
    /// exactly when ``clientCA`` is set.
    public var allowedClientSubjects: [String]

    public init(
        certificate: String,
        privateKey: String,
        minimumVersion: MinimumVersion = .tlsv12,
        clientCA: String? = nil,
        allowedClientSubjects: [String] = []
    ) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.minimumVersion = minimumVersion
        self.clientCA = clientCA
        self.allowedClientSubjects = allowedClientSubjects
    }
}

/// One immutable generation of a public listener's TLS state: the BoringSSL context for new
/// handshakes and, with mutual TLS on, the verifier of client certificates.
///
/// The rules it enforces: TLS 1.2 or 1.3 (see ``PublicTLSSettings/minimumVersion``); under TLS
/// 1.2 only the ECDHE key exchanges with an AEAD cipher (``tls12CipherSuites``), so there is
/// forward secrecy and no CBC padding oracle; under TLS 1.3 BoringSSL's fixed suites (AES-GCM
/// and ChaCha20-Poly1305 only). ALPN offers only `http/1.1`. A reload builds a whole new value
/// and swaps it in (see ``PublicTLSStore``).
///
/// - Warning: Session resumption skips the client certificate check of the resumed handshake:
///   the session was verified when it was made. Sessions are bound to the `NIOSSLContext`
///   that issued them (its ticket keys and session cache are its own), so after a reload that
///   changes ``PublicTLSSettings/clientCA`` or ``PublicTLSSettings/allowedClientSubjects`` no
///   session made under the old rules resumes; but an open connection stays up under the
///   rules it was made with.
public struct PublicTLS: Sendable {
    public let settings: PublicTLSSettings
    public let sslContext: NIOSSLContext
    /// Nil when no client certificate is asked for.
    public let verifier: PublicClientCertificateVerifier?

    /// ALPN protocols offered. HTTP/2 is not: the XKS specification requires HTTP/1.1, and a
    /// client that offers only `h2` gets no ALPN answer and may fall back to HTTP/1.1.
    public static let applicationProtocols = ["http/1.1"]

    /// The TLS 1.2 suites accepted: ECDHE only (no static RSA key exchange, which has no forward
    /// secrecy), AEAD only (no CBC). The first two are those the XKS specification requires.
    /// TLS 1.3 suites cannot be configured in BoringSSL and are all AEAD.
    public static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ]

    public init(settings: PublicTLSSettings) throws(PublicTLSSetupError) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(settings.certificate)
        } catch {
            throw .tls(.unreadable(path: settings.certificate, what: "certificate chain", detail: "\(error)"))
        }
        guard !chain.isEmpty else {
            throw .tls(.unreadable(path: settings.certificate, what: "certificate chain", detail: "no PEM certificate in file"))
        }
        let keyBytes: [UInt8]
        do {
            keyBytes = try SecretFile.read(settings.privateKey)
        } catch {
            throw .tls(.unreadable(path: settings.privateKey, what: "private key", detail: error.description))
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw .tls(.unreadable(path: settings.privateKey, what: "private key", detail: "not a PEM private key"))
        }
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        switch settings.minimumVersion {
        case .tlsv12: config.minimumTLSVersion = .tlsv12
        case .tlsv13: config.minimumTLSVersion = .tlsv13
        }
        config.maximumTLSVersion = .tlsv13
        config.cipherSuites = Self.tls12CipherSuites.joined(separator: ":")
        config.applicationProtocols = Self.applicationProtocols
        switch (settings.clientCA, settings.allowedClientSubjects.isEmpty) {
        case (nil, true):
            config.certificateVerification = .none
            self.verifier = nil
        case (nil, false):
            throw .clientSubjectsWithoutCA(subjects: settings.allowedClientSubjects)
        case (let ca?, true):
            throw .clientCAWithoutSubjects(path: ca)
        case (let ca?, false):
            if let empty = settings.allowedClientSubjects.first(where: { $0.isEmpty || $0 != $0.trimmingCharacters(in: .whitespaces) }) {
                throw .invalidClientSubject(empty)
            }
            let roots: [Certificate]
            do {
                let pem = try String(contentsOfFile: ca, encoding: .utf8)
                roots = try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
            } catch {
                throw .tls(.unreadable(path: ca, what: "client CA bundle", detail: "\(error)"))
            }
            guard !roots.isEmpty else { throw .tls(.unreadable(path: ca, what: "client CA bundle", detail: "no PEM certificate in file")) }
            // Verification is "on" so BoringSSL demands a client certificate; the chain itself is
            // checked by `verifier` through the custom callback, which replaces BoringSSL's check.
            config.certificateVerification = .noHostnameVerification
            config.trustRoots = .file(ca)
            self.verifier = PublicClientCertificateVerifier(roots: roots, allowedSubjects: settings.allowedClientSubjects)
        }
        do {
            self.sslContext = try NIOSSLContext(configuration: config)
        } catch {
            throw .tls(.contextCreation(detail: "\(error)"))
        }
        self.settings = settings
    }
}

/// The current ``PublicTLS`` of a public listener; replaced whole on reload.
///
/// Connections already established keep the context they were made with; only new handshakes
/// use the new one.
public final class PublicTLSStore: Sendable {
    private let state: NIOLockedValueBox<PublicTLS>

    public init(_ initial: PublicTLS) {
        self.state = NIOLockedValueBox(initial)
    }

    public var current: PublicTLS {
        state.withLockedValue { $0 }
    }

    public func replace(with new: PublicTLS) {
        state.withLockedValue { $0 = new }
    }
}

/// Validates the client certificate of a public listener with mutual TLS on, with
/// swift-certificates: RFC 5280 path validation at the current time to one of the configured
/// roots, `clientAuth` if the leaf states its purposes at all, and a subject common name from
/// the configured list.
///
/// This replaces BoringSSL's own chain check (see swift-nio-ssl's
/// `NIOSSLCustomVerificationCallbackWithMetadata`), so that the handshake hands the validated
/// chain to the application (``PublicTLSHTTPChannel/clientSubject(of:)``).
///
/// - Warning: The leaf's subject must carry exactly one common name, compared exactly with the
///   allowed ones: a subject with two common names is refused rather than matched on either,
///   so which one a matcher picks cannot matter. Subject alternative names are not consulted;
///   the XKS specification names the subject. Nothing here checks revocation: the XKS
///   specification asks for none, and the CA bundle should be as narrow as the callers.
public struct PublicClientCertificateVerifier: Sendable {
    public let roots: [Certificate]
    public let allowedSubjects: Set<String>

    public init(roots: [Certificate], allowedSubjects: [String]) {
        self.roots = roots
        self.allowedSubjects = Set(allowedSubjects)
    }

    /// The outcome of a verification, with the reason kept for the operator's log.
    public enum Outcome: Sendable {
        case verified(chain: [Certificate], subject: String)
        case refused(reason: String)
    }

    public func verify(presented: [NIOSSLCertificate]) async -> Outcome {
        guard !presented.isEmpty else { return .refused(reason: "client presented no certificate") }
        let certificates: [Certificate]
        do {
            certificates = try presented.map { try Certificate(derEncoded: try $0.toDERBytes()) }
        } catch {
            return .refused(reason: "client certificate does not parse: \(error)")
        }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy()
            ClientAuthIfStatedPolicy()
        }
        let result = await verifier.validate(
            leaf: certificates[0],
            intermediates: CertificateStore(Array(certificates.dropFirst()))
        )
        switch result {
        case .validCertificate(let chain):
            let names = Self.commonNames(of: chain.leaf)
            guard names.count == 1, let name = names.first else {
                return .refused(reason: "client certificate subject has \(names.count) common names, exactly one is required")
            }
            guard allowedSubjects.contains(name) else {
                return .refused(reason: "client certificate subject CN=\(name) is not one of the allowed subjects")
            }
            return .verified(chain: Array(chain), subject: name)
        case .couldNotValidate(let failures):
            let reasons = failures.map { $0.policyFailureReason.description }
            return .refused(reason: reasons.isEmpty ? "no chain to the configured client CA" : reasons.joined(separator: "; "))
        }
    }

    /// The subject common names of `certificate` that are strings, most significant first.
    static func commonNames(of certificate: Certificate) -> [String] {
        certificate.subject.flatMap { rdn in
            rdn.filter { $0.type == .RDNAttributeType.commonName }.map { String($0.value) ?? "\($0.value)" }
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

/// Requires `clientAuth` of a leaf that has an extendedKeyUsage extension; a leaf without one
/// may be used for any purpose (RFC 5280 section 4.2.1.12), as public CAs' client certificates
/// sometimes are.
struct ClientAuthIfStatedPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let usage: ExtendedKeyUsage?
        do {
            usage = try chain.leaf.extensions.extendedKeyUsage
        } catch {
            return .failsToMeetPolicy(reason: "leaf extendedKeyUsage is malformed: \(error)")
        }
        guard let usage, !usage.contains(.clientAuth) else { return .meetsPolicy }
        // anyExtendedKeyUsage (RFC 5280 section 4.2.1.12) is not accepted: a CA that means
        // client authentication can say so.
        return .failsToMeetPolicy(reason: "leaf extendedKeyUsage \(usage) lacks clientAuth")
    }
}

/// Why a public listener's TLS could not be set up; each names the setting or file to fix.
public enum PublicTLSSetupError: Error, Sendable, CustomStringConvertible {
    /// A file could not be loaded, or BoringSSL refused the combination (key not matching the
    /// certificate, ...).
    case tls(TLSSetupError)
    /// Subjects were listed but no client CA, so they would be silently ignored.
    case clientSubjectsWithoutCA(subjects: [String])
    /// A client CA without subjects would refuse every client.
    case clientCAWithoutSubjects(path: String)
    /// An allowed subject is empty or has leading or trailing blanks, which never match.
    case invalidClientSubject(String)

    public var description: String {
        switch self {
        case .tls(let error):
            error.description
        case .clientSubjectsWithoutCA(let subjects):
            "allowed client subjects \(subjects) are set but no client CA: set the client CA to require client certificates, or remove the subjects"
        case .clientCAWithoutSubjects(let path):
            "client CA \(path) is set but no allowed client subject: list the subject common names to accept (for KMS: cks.kms.<region>.amazonaws.com)"
        case .invalidClientSubject(let subject):
            "allowed client subject '\(subject)' is empty or has leading or trailing blanks"
        }
    }
}
