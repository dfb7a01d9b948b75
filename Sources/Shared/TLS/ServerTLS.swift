import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import X509

/// One immutable generation of a listener's TLS state: the BoringSSL context for new
/// handshakes and the verifier for client certificates.
///
/// The rules it enforces: TLS 1.3 only; a client certificate is required; it must chain to
/// the operator's CA and carry `clientAuth`. A reload builds a whole new value and swaps it in
/// (see ``ServerTLSStore``), so a handshake never sees half of an old and half of a new setup.
public struct ServerTLS: Sendable {
    public let sslContext: NIOSSLContext
    public let verifier: PeerCertificateVerifier
    /// The CRLs in force for this generation; on reload, open connections they revoke are closed.
    public let revocations: RevocationList

    /// ALPN protocols offered: HTTP/2 first, HTTP/1.1 for clients such as `openssl s_client`.
    public static let applicationProtocols = ["h2", "http/1.1"]

    public init(files: TLSFiles) throws(TLSSetupError) {
        let loaded = try files.load()
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: loaded.chain.map { .certificate($0) },
            privateKey: .privateKey(loaded.privateKey)
        )
        config.minimumTLSVersion = .tlsv13
        config.maximumTLSVersion = .tlsv13
        // Verification is "on" so BoringSSL demands a client certificate; the chain itself is
        // checked by `verifier` through the custom callback, which replaces BoringSSL's check.
        config.certificateVerification = .noHostnameVerification
        config.trustRoots = .file(loaded.caPath)
        config.applicationProtocols = Self.applicationProtocols
        do {
            self.sslContext = try NIOSSLContext(configuration: config)
        } catch {
            throw .contextCreation(detail: "\(error)")
        }
        self.revocations = try RevocationList(crlFiles: files.crls, caFile: files.ca, gracePeriod: files.crlGracePeriod)
        self.verifier = PeerCertificateVerifier(roots: loaded.roots, requiredUsage: .clientAuth, revocations: revocations)
    }
}

/// The current ``ServerTLS`` of a listener; replaced whole on reload.
///
/// Connections already established keep the context they were made with; only new handshakes
/// use the new one. That is why revoking a peer must also close its open connections.
public final class ServerTLSStore: Sendable {
    private let state: NIOLockedValueBox<ServerTLS>

    public init(_ initial: ServerTLS) {
        self.state = NIOLockedValueBox(initial)
    }

    public var current: ServerTLS {
        state.withLockedValue { $0 }
    }

    public func replace(with new: ServerTLS) {
        state.withLockedValue { $0 = new }
    }
}
