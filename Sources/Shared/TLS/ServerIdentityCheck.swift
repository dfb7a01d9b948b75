import AsyncHTTPClient
import NIOCore
import NIOSSL
import X509

/// Which SPIFFE IDs a server may present: one exact ID (`spiffe://TD/keyservice`), or any ID
/// strictly below a path (`spiffe://TD/node/*`).
public struct SPIFFEIDPattern: Sendable, Hashable, CustomStringConvertible {
    public let base: SPIFFEID
    /// True for `BASE/*`: IDs with at least one segment more than `base`, starting with its segments.
    public let matchesBelow: Bool

    public init?(_ text: String) {
        let below = text.hasSuffix("/*")
        guard let base = SPIFFEID(below ? String(text.dropLast(2)) : text) else { return nil }
        self.base = base
        self.matchesBelow = below
    }

    public func matches(_ id: SPIFFEID) -> Bool {
        guard id.trustDomain == base.trustDomain else { return false }
        guard matchesBelow else { return id.segments == base.segments }
        return id.segments.count > base.segments.count && Array(id.segments.prefix(base.segments.count)) == base.segments
    }

    public var description: String { base.description + (matchesBelow ? "/*" : "") }
}

/// Checks that the server on the other end of a client connection is the one this client means
/// to talk to, not merely some holder of a certificate from the same CA.
///
/// BoringSSL has validated the chain and the host name by the time this runs; that only proves
/// the CA issued the server's certificate for `localhost` (or whichever name), which every
/// StorageNode certificate of the dev PKI also is. This check then validates the leaf again
/// with swift-certificates (RFC 5280, `serverAuth` required, CRLs) and requires its SPIFFE ID to
/// match ``expected``. It runs on the connection once the handshake completes and before the
/// HTTP client may use it, so a refused server never receives a byte of any request.
///
/// The leaf must chain to `roots` directly or through certificates in `roots`: the TLS layer
/// does not hand the presented intermediates to the application, so an operator CA with an
/// intermediate puts that intermediate in the CA bundle too.
public struct ServerIdentityCheck: Sendable {
    public let expected: SPIFFEIDPattern
    let verifier: PeerCertificateVerifier

    public init(expected: SPIFFEIDPattern, roots: [Certificate], revocations: RevocationList = RevocationList()) {
        self.expected = expected
        self.verifier = PeerCertificateVerifier(roots: roots, requiredUsage: .serverAuth, revocations: revocations)
    }

    /// The identity of the server whose verified leaf is `leaf`, if it is the expected one.
    public func check(leaf: NIOSSLCertificate?) async throws(ServerIdentityError) -> PeerIdentity {
        guard let leaf else { throw .noCertificate(expected: expected) }
        switch await verifier.verify(presented: [leaf]) {
        case .refused(let reason):
            throw .chainRefused(reason: reason, expected: expected)
        case .verified(_, let identity):
            guard let id = identity.spiffeID else { throw .wrongIdentity(found: identity.description, expected: expected) }
            guard expected.matches(id) else { throw .wrongIdentity(found: id.description, expected: expected) }
            return identity
        }
    }

    /// Makes every connection `configuration` opens (HTTP/1.1 and HTTP/2) pass ``check(leaf:)``
    /// before the client sends anything on it; a refused connection is closed and the request
    /// fails with the ``ServerIdentityError``.
    ///
    /// Set `connectionPool.retryConnectionEstablishment = false` as well: otherwise the client
    /// reconnects to the refused server until its connect timeout.
    public func install(on configuration: inout HTTPClient.Configuration) {
        let gate: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            channel.nioSSL_peerCertificate().flatMap { leaf in
                let checked = channel.eventLoop.makeFutureWithTask { () async throws -> Void in
                    _ = try await self.check(leaf: leaf)
                }
                checked.whenFailure { _ in
                    // Closed on a later tick, once the pool has taken the failure: no request can
                    // be written to it meanwhile, as the pool never got the connection.
                    channel.eventLoop.execute { channel.close(promise: nil) }
                }
                return checked
            }
        }
        configuration.http1_1ConnectionDebugInitializer = gate
        configuration.http2ConnectionDebugInitializer = gate
    }
}

/// The server is not the one the client was configured to trust.
public enum ServerIdentityError: Error, Sendable, CustomStringConvertible {
    case noCertificate(expected: SPIFFEIDPattern)
    case chainRefused(reason: String, expected: SPIFFEIDPattern)
    case wrongIdentity(found: String, expected: SPIFFEIDPattern)

    public var description: String {
        switch self {
        case .noCertificate(let expected):
            "the server presented no certificate; expected \(expected)"
        case .chainRefused(let reason, let expected):
            "the server's certificate is refused (\(reason)); expected \(expected)"
        case .wrongIdentity(let found, let expected):
            "the server is \(found), not \(expected): it holds a certificate of the trusted CA but is not the server "
                + "this client is configured for"
        }
    }
}

extension LoadedTLSFiles {
    /// The trust domain of the SPIFFE ID in our own leaf certificate, if it has one: where a
    /// client takes the default identity of the server it expects.
    public var ownTrustDomain: String? {
        guard let leaf = chain.first, let certificate = try? Certificate(derEncoded: try leaf.toDERBytes()) else { return nil }
        return (try? PeerIdentity(certificate: certificate))?.spiffeID?.trustDomain
    }
}
