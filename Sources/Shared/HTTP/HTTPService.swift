import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTPS listener of a daemon, as one service.
///
/// Normally a Hummingbird `Application` that binds the configured host and port. Under systemd
/// socket activation (a socket named `https`, or the only one passed) the same mutual-TLS child
/// channel and router serve on the socket systemd opened instead, so the port is held across
/// restarts and the daemon needs no privilege to bind it.
public enum HTTPService {
    public static func make(
        router: Router<SplitKeyRequestContext>,
        tls: ServerTLSStore,
        connections: ConnectionRegistry,
        idleTimeout: Duration,
        handshakeTimeout: Duration = .seconds(10),
        host: String,
        port: Int,
        logger: Logger,
        onRunning: @escaping @Sendable (any Channel) async -> Void
    ) throws -> any Service {
        let sockets = try ListenFDs.take()
        if let socket = sockets.first(where: { $0.name == "https" }) ?? sockets.first {
            logger.notice("using the socket passed by systemd", metadata: ["fd": "\(socket.fd)", "name": "\(socket.name)"])
            let child = MutualTLSHTTPChannel(
                store: tls,
                registry: connections,
                idleTimeout: idleTimeout,
                handshakeTimeout: handshakeTimeout,
                logger: logger,
                responder: responder(router.buildResponder(), logger: logger)
            )
            return SocketActivatedServer(fd: socket.fd, child: child, logger: logger, onRunning: onRunning)
        }
        return Application(
            router: router,
            server: MutualTLSHTTPChannel.builder(
                store: tls, registry: connections, idleTimeout: idleTimeout, handshakeTimeout: handshakeTimeout, logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: onRunning,
            logger: logger
        )
    }

    /// What Hummingbird's `Application` does per request: build the context, run the router,
    /// turn a stray error into a 500, write the response.
    static func responder<R: HTTPResponder>(_ responder: R, logger: Logger) -> HTTPChannelHandler.Responder
    where R.Context == SplitKeyRequestContext {
        { request, responseWriter, channel in
            let context = SplitKeyRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
            let response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                logger.error("unhandled error", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            let writer = try await responseWriter.writeHead(response.head)
            try await response.body.write(writer)
        }
    }
}
