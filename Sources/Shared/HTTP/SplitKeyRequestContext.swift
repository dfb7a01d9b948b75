import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Request context of both daemons: the peer identity read from the connection's validated
/// certificate chain, and the request id echoed in responses and log lines.
public struct SplitKeyRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection (HTTP/1.1) or stream (HTTP/2) channel the request arrived on.
    public let channel: any Channel
    /// Set by ``PeerIdentityMiddleware``; nil only before it ran. Kept in a box shared by every
    /// copy of the context, so outer middleware (the request log line) sees it too.
    public var identity: PeerIdentity? {
        get { identityBox.withLockedValue { $0 } }
        nonmutating set { identityBox.withLockedValue { $0 = newValue } }
    }
    private let identityBox = NIOLockedValueBox<PeerIdentity?>(nil)
    public let requestID: String
    public var maxUploadSize: Int { 1 << 20 }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.requestID = RequestID.make()
        self.logger[metadataKey: "request.id"] = .string(requestID)
    }

    /// The authenticated peer, or a 401 if the middleware did not establish one.
    public func requirePeer() throws(APIError) -> PeerIdentity {
        guard let identity else { throw APIError.unauthenticated("no verified client certificate on this connection") }
        return identity
    }
}

/// Request ids: 16 random bytes in hex, unguessable so they can be shared in bug reports.
public enum RequestID {
    public static func make() -> String {
        RandomBytes.bytes(8).hexString
    }
}
