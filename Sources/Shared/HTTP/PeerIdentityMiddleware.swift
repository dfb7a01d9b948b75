import Hummingbird
import NIOCore
import NIOSSL
import X509

/// Reads the peer identity of every request from the TLS handshake's validated chain.
///
/// Under HTTP/1.1 the TLS handler sits on the request's own channel; under HTTP/2 the request
/// runs on a stream channel whose parent holds it. A request without a validated chain never
/// reaches a route.
public struct PeerIdentityMiddleware: RouterMiddleware {
    public typealias Context = SplitKeyRequestContext

    let registry: ConnectionRegistry?
    let cache = ConnectionIdentityCache()

    /// - Parameter registry: where to record each connection's identity, so revoking an
    ///   identity can close its open connections.
    public init(registry: ConnectionRegistry? = nil) {
        self.registry = registry
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let identity: PeerIdentity
        if let known = cache.identity(of: context.channel) ?? context.channel.parent.flatMap(cache.identity(of:)) {
            identity = known
        } else {
            let (read, connection) = try await Self.identity(of: context.channel)
            registry?.register(connection, identity: read)
            cache.remember(read, for: connection)
            identity = read
        }
        context.identity = identity
        context.logger[metadataKey: "peer"] = .string(identity.description)
        return try await next(request, context)
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
