import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS
import X509

/// Hummingbird child channel for a mutual-TLS listener that serves HTTP/1.1 and HTTP/2.
///
/// It differs from Hummingbird's own TLS channels in two ways this service needs: each new
/// connection takes the *current* TLS context from a ``ServerTLSStore`` (so SIGHUP swaps
/// certificates without closing the listener), and the handshake uses a verification callback
/// that records the validated chain, from which requests read their ``PeerIdentity``. Each
/// connection is counted in a ``ConnectionRegistry`` (over its cap it is closed at once) and
/// registered there with its identity the moment its handshake completes. A handshake must
/// finish within `handshakeTimeout`, shorter than the idle timeout, so half-open connections
/// cannot hold the cap.
public struct MutualTLSHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    public struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<HTTP1Channel.Value, HTTP2Channel.Value>>
        public let channel: any Channel
    }

    private let store: ServerTLSStore
    private let registry: ConnectionRegistry
    private let http1: HTTP1Channel
    private let http2: HTTP2Channel
    private let logger: Logger
    private let handshakeTimeout: TimeAmount

    public var responder: HTTPChannelHandler.Responder { http1.responder }

    public init(
        store: ServerTLSStore,
        registry: ConnectionRegistry,
        idleTimeout: Duration,
        handshakeTimeout: Duration = .seconds(10),
        logger: Logger,
        responder: @escaping HTTPChannelHandler.Responder
    ) {
        self.store = store
        self.registry = registry
        self.logger = logger
        self.handshakeTimeout = TimeAmount.seconds(min(handshakeTimeout, idleTimeout).components.seconds)
        let streamConfiguration = HTTP1Channel.Configuration(
            idleTimeout: TimeAmount.seconds(idleTimeout.components.seconds)
        )
        self.http1 = HTTP1Channel(responder: responder, configuration: streamConfiguration)
        self.http2 = HTTP2Channel(
            responder: responder,
            configuration: .init(idleTimeout: idleTimeout, streamConfiguration: streamConfiguration)
        )
    }

    /// A server builder for `Application(server:)`.
    public static func builder(
        store: ServerTLSStore, registry: ConnectionRegistry, idleTimeout: Duration, handshakeTimeout: Duration, logger: Logger
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            MutualTLSHTTPChannel(
                store: store, registry: registry, idleTimeout: idleTimeout, handshakeTimeout: handshakeTimeout, logger: logger,
                responder: responder)
        }
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let tls = store.current
        let refusalLogger = self.logger
        let remote = channel.remoteAddress?.description ?? "unknown"
        let registry = self.registry
        guard registry.accept(channel) else {
            refusalLogger.warning(
                "connection refused: at the connection limit",
                metadata: ["peer.address": "\(remote)", "limit": "\(registry.maxConnections)"])
            return channel.close().flatMap { channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        }
        // The revocations this handshake's verifier checks against; a reload after this point
        // makes the first request re-check.
        let generation = registry.generation
        do {
            try channel.pipeline.syncOperations.addHandler(
                NIOSSLServerHandler(
                    context: tls.sslContext,
                    configuration: .init(),
                    customVerificationCallbackWithMetadata: tls.verifier.callback { reason in
                        refusalLogger.notice(
                            "refused client certificate",
                            metadata: ["peer.address": "\(remote)", "reason": "\(reason)"]
                        )
                    }
                )
            )
            let alpn = NIOTypedApplicationProtocolNegotiationHandler<
                NIONegotiatedHTTPVersion<HTTP1Channel.Value, HTTP2Channel.Value>
            > { result in
                switch result {
                case .negotiated("h2"):
                    return self.http2.setup(channel: channel, logger: logger).map { .http2($0) }
                case .negotiated("http/1.1"), .fallback:
                    return self.http1.setup(channel: channel, logger: logger).map { .http1_1($0) }
                case .negotiated:
                    return channel.close().flatMap { channel.eventLoop.makeFailedFuture(NIOHTTP2Errors.invalidALPNToken()) }
                }
            }
            try channel.pipeline.syncOperations.addHandler(alpn)
            // The HTTP idle timeout starts only once ALPN has picked HTTP/1.1 or HTTP/2, so a peer
            // that connects and never finishes the handshake would hold its socket for ever.
            let handshakeDeadline = channel.eventLoop.scheduleTask(in: handshakeTimeout) { channel.close(promise: nil) }
            alpn.protocolNegotiationResult.whenComplete { _ in handshakeDeadline.cancel() }
            // Register at handshake completion, so a revocation also reaches connections that
            // have not sent a request yet.
            alpn.protocolNegotiationResult.whenSuccess { _ in
                guard let chain = try? channel.pipeline.syncOperations.nioSSL_peerValidatedCertificateChain(),
                    let der = try? chain.leaf.toDERBytes(), let leaf = try? Certificate(derEncoded: der),
                    let identity = try? PeerIdentity(certificate: leaf)
                else { return }
                registry.register(channel, identity: identity, checked: generation)
            }
            channel.closeFuture.whenComplete { _ in handshakeDeadline.cancel() }
            return channel.eventLoop.makeSucceededFuture(Value(negotiated: alpn.protocolNegotiationResult, channel: channel))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1_1(let http1Value):
                await http1.handle(value: http1Value, logger: logger)
            case .http2(let http2Value):
                await http2.handle(value: http2Value, logger: logger)
            }
        } catch {
            logger.debug("connection ended before HTTP started", metadata: ["error": "\(error)"])
        }
    }
}
