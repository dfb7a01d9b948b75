import Hummingbird
import NIOCore
import NIOSSL
import X509

/// Reads the peer identity of every request from the connection registry, where the handshake
/// recorded it from the validated chain, and re-checks it against CRLs applied since.
///
/// Under HTTP/1.1 the TLS handler sits on the request's own channel; under HTTP/2 the request
/// runs on a stream channel whose parent holds it. A request without a validated chain never
/// reaches a route; nor does one on a connection whose certificate was revoked after its
/// handshake.
public struct PeerIdentityMiddleware: RouterMiddleware {
    public typealias Context = SplitKeyRequestContext

    let registry: ConnectionRegistry

    public init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let identity: PeerIdentity
        switch lookup(context.channel) {
        case .identity(let known):
            identity = known
        case .revoked:
            throw APIError.unauthenticated("this connection's client certificate has been revoked")
        case .unknown:
            // The handshake's registration has not run yet: read the chain here; it is
            // re-checked against the revocations in force on the next lookup.
            let (read, connection) = try await Self.identity(of: context.channel)
            registry.register(connection, identity: read, checked: nil)
            guard case .identity(let checked) = registry.lookup(connection) else {
                throw APIError.unauthenticated("this connection's client certificate has been revoked")
            }
            identity = checked
        }
        context.identity = identity
        context.logger[metadataKey: "peer"] = .string(identity.description)
        return try await next(request, context)
    }

    private func lookup(_ channel: any Channel) -> ConnectionRegistry.Lookup {
        let own = registry.lookup(channel)
        if own != .unknown { return own }
        return channel.parent.map(registry.lookup) ?? .unknown
    }

    /// The identity, and the channel that carries the TLS connection (the request's own channel
    /// under HTTP/1.1, its parent under HTTP/2).
    static func identity(of channel: any Channel) async throws -> (PeerIdentity, any Channel) {
        var candidate: (any Channel)? = channel
        while let current = candidate {
            if let chain = try? await current.nioSSL_peerValidatedCertificateChain().get() {
                do {
                    return (try PeerIdentity(certificate: Certificate(derEncoded: try chain.leaf.toDERBytes())), current)
                } catch {
                    throw APIError.unauthenticated("the client certificate's identity cannot be read: \(error)")
                }
            }
            candidate = current.parent
        }
        throw APIError.unauthenticated("no verified client certificate on this connection")
    }
}
