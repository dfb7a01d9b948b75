import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import X509

/// Hummingbird child channel for a listener that serves callers outside the operator's PKI
/// (the AWS KMS External Key Store proxy API, S3 clients): TLS 1.2 or 1.3, HTTP/1.1 only,
/// a client certificate only if ``PublicTLSSettings/clientCA`` is set.
///
/// Like ``MutualTLSHTTPChannel``, each new connection takes the *current* ``PublicTLS`` from a
/// ``PublicTLSStore`` (so a reload swaps certificates without closing the listener), is counted
/// in a ``ConnectionRegistry`` (over its cap it is closed at once, before any TLS work) and must
/// finish its handshake within `handshakeTimeout`: the HTTP idle timeout only starts once
/// HTTP/1.1 is set up, so without it a peer that connects and sends nothing would hold a slot
/// of the cap for ever. KMS gives up on a request after 250 ms, so nothing here waits on I/O
/// beyond the handshake itself; the client certificate check is CPU only.
///
/// The router may use any request context type. To read the subject of a verified client
/// certificate in a handler, keep `ApplicationRequestContextSource.channel` in the context and
/// call ``clientSubject(of:)`` with it.
///
/// - Warning: Requests are not authenticated here unless mutual TLS is on; with it off,
///   ``clientSubject(of:)`` is always nil and the handlers must authenticate every request
///   themselves (SigV4). The registry only counts these connections: no identity is
///   registered, so its revocation checks do not apply to them. Give this listener a
///   ``ConnectionRegistry`` of its own: shared with the mutual-TLS listener, anyone on the
///   network could fill that listener's cap.
///
/// - Warning: The idle timeout restarts on every read, so a client that trickles bytes holds
///   its connection for as long as it likes; only the cap bounds how many do. Refusals (cap,
///   client certificate) are logged per connection, and anyone can cause them.
public struct PublicTLSHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    public struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<HTTP1Channel.Value>
        public let channel: any Channel
    }

    private let store: PublicTLSStore
    private let registry: ConnectionRegistry
    private let http1: HTTP1Channel
    private let logger: Logger
    private let handshakeTimeout: TimeAmount

    public var responder: HTTPChannelHandler.Responder { http1.responder }

    /// - Parameters:
    ///   - idleTimeout: An HTTP/1.1 connection with no request for this long is closed.
    ///   - handshakeTimeout: A connection whose TLS handshake has not completed by then is
    ///     closed; at most `idleTimeout`.
    public init(
        store: PublicTLSStore,
        registry: ConnectionRegistry,
        idleTimeout: Duration,
        handshakeTimeout: Duration = .seconds(10),
        logger: Logger,
        responder: @escaping HTTPChannelHandler.Responder
    ) {
        self.store = store
        self.registry = registry
        self.logger = logger
        self.handshakeTimeout = TimeAmount(min(handshakeTimeout, idleTimeout))
        self.http1 = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: TimeAmount(idleTimeout)))
    }

    /// A server builder for `Application(router:server:configuration:...)`, for a router of any
    /// request context type.
    public static func builder(
        store: PublicTLSStore, registry: ConnectionRegistry, idleTimeout: Duration, handshakeTimeout: Duration, logger: Logger
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            PublicTLSHTTPChannel(
                store: store, registry: registry, idleTimeout: idleTimeout, handshakeTimeout: handshakeTimeout, logger: logger,
                responder: responder)
        }
    }

    /// The subject common name of the verified client certificate of the connection `channel`
    /// is (`ApplicationRequestContextSource.channel`); nil when mutual TLS is off, or `channel`
    /// is not a connection of this listener.
    ///
    /// The name is recorded once, when the handshake completes, from the chain that
    /// ``PublicClientCertificateVerifier`` accepted, so it is one of the
    /// ``PublicTLSSettings/allowedClientSubjects`` of the generation that handshake used. Each
    /// call is one hop to the connection's event loop.
    public static func clientSubject(of channel: any Channel) async -> String? {
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: PublicTLSClientSubject.self).subject
        }.get()
    }

    /// The verified subject of a connection whose handshake just completed with mutual TLS on.
    ///
    /// A full handshake ran the verifier, which handed its validated chain to swift-nio-ssl. A
    /// resumed session skips the verifier and has no validated chain: its certificate is then
    /// the one the session recorded, which was verified when the session was made, by a
    /// verifier of the same context (sessions resume only on the `NIOSSLContext` that issued
    /// them, see ``PublicTLS``). The name is checked against the list of `verifier` either way.
    static func verifiedSubject(
        of channel: any Channel, verifier: PublicClientCertificateVerifier
    ) -> Result<String, PublicTLSListenerError> {
        let operations = channel.pipeline.syncOperations
        let leafCertificate: NIOSSLCertificate?
        if let chain = try? operations.nioSSL_peerValidatedCertificateChain() {
            leafCertificate = chain.leaf
        } else {
            leafCertificate = try? operations.nioSSL_peerCertificate()
        }
        guard let leafCertificate, let der = try? leafCertificate.toDERBytes(), let leaf = try? Certificate(derEncoded: der) else {
            return .failure(.noVerifiedClientCertificate)
        }
        let names = PublicClientCertificateVerifier.commonNames(of: leaf)
        guard names.count == 1, verifier.allowedSubjects.contains(names[0]) else {
            return .failure(.noVerifiedClientCertificate)
        }
        return .success(names[0])
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
        do {
            let sslHandler: NIOSSLServerHandler
            if let verifier = tls.verifier {
                sslHandler = NIOSSLServerHandler(
                    context: tls.sslContext,
                    configuration: .init(),
                    customVerificationCallbackWithMetadata: verifier.callback { reason in
                        refusalLogger.notice(
                            "refused client certificate",
                            metadata: ["peer.address": "\(remote)", "reason": "\(reason)"]
                        )
                    }
                )
            } else {
                sslHandler = NIOSSLServerHandler(context: tls.sslContext)
            }
            try channel.pipeline.syncOperations.addHandler(sslHandler)
            // ALPN can only pick http/1.1 (the only protocol offered); a client that sends no ALPN
            // or only other protocols gets HTTP/1.1 too. The negotiation result doubles as the
            // signal that the handshake completed.
            let alpn = NIOTypedApplicationProtocolNegotiationHandler<HTTP1Channel.Value> { result in
                switch result {
                case .negotiated("http/1.1"), .fallback:
                    if let verifier = tls.verifier {
                        switch Self.verifiedSubject(of: channel, verifier: verifier) {
                        case .success(let subject):
                            do {
                                try channel.pipeline.syncOperations.addHandler(PublicTLSClientSubject(subject: subject))
                            } catch {
                                return channel.eventLoop.makeFailedFuture(error)
                            }
                        case .failure(let error):
                            refusalLogger.error(
                                "connection closed: handshake completed without a verified client certificate",
                                metadata: ["peer.address": "\(remote)", "error": "\(error)"])
                            return channel.close().flatMap { channel.eventLoop.makeFailedFuture(error) }
                        }
                    }
                    return self.http1.setup(channel: channel, logger: logger)
                case .negotiated(let other):
                    return channel.close().flatMap {
                        channel.eventLoop.makeFailedFuture(PublicTLSListenerError.unexpectedALPN(other))
                    }
                }
            }
            try channel.pipeline.syncOperations.addHandler(alpn)
            let timeout = handshakeTimeout
            let handshakeDeadline = channel.eventLoop.scheduleTask(in: timeout) {
                refusalLogger.debug(
                    "connection closed: TLS handshake not completed in time",
                    metadata: ["peer.address": "\(remote)", "timeout": "\(timeout)"])
                channel.close(promise: nil)
            }
            alpn.protocolNegotiationResult.whenComplete { _ in handshakeDeadline.cancel() }
            channel.closeFuture.whenComplete { _ in handshakeDeadline.cancel() }
            return channel.eventLoop.makeSucceededFuture(Value(negotiated: alpn.protocolNegotiationResult, channel: channel))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        do {
            let http1Value = try await value.negotiated.get()
            await http1.handle(value: http1Value, logger: logger)
        } catch {
            logger.debug("connection ended before HTTP started", metadata: ["error": "\(error)"])
        }
    }
}

/// The verified client subject of one connection, kept in its pipeline from the handshake on
/// (see ``PublicTLSHTTPChannel/clientSubject(of:)``). It passes every event on unchanged
/// (NIO refuses a handler that is neither inbound nor outbound).
final class PublicTLSClientSubject: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    let subject: String

    init(subject: String) {
        self.subject = subject
    }
}

/// Why a connection of a public listener was dropped after its handshake. Neither should ever
/// happen: each means swift-nio-ssl or BoringSSL did not do what this listener relies on.
public enum PublicTLSListenerError: Error, Sendable, CustomStringConvertible {
    /// BoringSSL selected a protocol that was not offered.
    case unexpectedALPN(String)
    /// Mutual TLS is on, yet the completed handshake has no client certificate that the
    /// verifier accepted.
    case noVerifiedClientCertificate

    public var description: String {
        switch self {
        case .unexpectedALPN(let token):
            "ALPN selected '\(token)', which this listener does not offer (only http/1.1); please report this as a bug"
        case .noVerifiedClientCertificate:
            "the TLS handshake completed without a client certificate accepted by the verifier; please report this as a bug"
        }
    }
}
