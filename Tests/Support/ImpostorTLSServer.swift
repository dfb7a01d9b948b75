import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Shared
import Synchronization

/// A TLS 1.3 server on a free loopback port holding some certificate of the dev PKI (a node's,
/// say) and pretending to be whatever the client expects: it answers every HTTP request with
/// `answer` and counts the request bytes it got after the handshake.
///
/// It shows whether a client refuses a server that chains to the right CA but has the wrong
/// identity: a client that checks sends nothing, so ``receivedBytes`` stays 0.
public final class ImpostorTLSServer: Sendable {
    public let port: Int
    private let channel: any Channel
    private let counters: Counters

    /// Bytes of requests received, over all connections.
    public var receivedBytes: Int { counters.received.withLock { $0 } }
    /// TLS handshakes completed, over all connections.
    public var completedHandshakes: Int { counters.handshakes.withLock { $0 } }

    public var baseURL: String { "https://localhost:\(port)" }

    /// Serves `certificate`/`privateKey` (PEM files) and answers every request with `answer`
    /// as a 200 `application/json` body.
    public init(certificate: String, privateKey: String, answer: String) async throws {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem))
        )
        tls.minimumTLSVersion = .tlsv13
        tls.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: tls)
        let counters = Counters()
        self.counters = counters
        let response = Array(
            ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(answer.utf8.count)\r\n"
                + "Connection: close\r\n\r\n" + answer).utf8)
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try child.pipeline.syncOperations.addHandler(Answerer(counters: counters, response: response))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        port = channel.localAddress?.port ?? 0
    }

    public func close() async {
        try? await channel.close()
    }

    /// Shared by every connection's handler.
    final class Counters: Sendable {
        let received = Mutex(0)
        let handshakes = Mutex(0)
    }

    /// Counts request bytes and answers once a request head has arrived.
    final class Answerer: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used only on its channel's event loop, as NIO handlers are.
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let counters: Counters
        let response: [UInt8]
        var request: [UInt8] = []
        var answered = false

        init(counters: Counters, response: [UInt8]) {
            self.counters = counters
            self.response = response
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event { counters.handshakes.withLock { $0 += 1 } }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data).readableBytesView
            counters.received.withLock { $0 += bytes.count }
            request += bytes
            guard !answered, request.count >= 4, String(decoding: request, as: UTF8.self).contains("\r\n\r\n") else { return }
            answered = true
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: response))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
