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

    public init() {}

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let identity = try await Self.identity(of: context.channel)
        context.identity = identity
        context.logger[metadataKey: "peer"] = .string(identity.description)
        return try await next(request, context)
    }

    static func identity(of channel: any Channel) async throws -> PeerIdentity {
        var candidate: (any Channel)? = channel
        while let current = candidate {
            if let chain = try? await current.nioSSL_peerValidatedCertificateChain().get() {
                do {
                    return try PeerIdentity(certificate: Certificate(derEncoded: try chain.leaf.toDERBytes()))
                } catch {
                    throw APIError.unauthenticated("the client certificate's identity cannot be read: \(error)")
                }
            }
            candidate = current.parent
        }
        throw APIError.unauthenticated("no verified client certificate on this connection")
    }
}
