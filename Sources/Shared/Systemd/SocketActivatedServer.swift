import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle

/// Serves a child channel on a listening socket passed by systemd, with Hummingbird's graceful
/// shutdown semantics: on shutdown the socket stops accepting and open connections finish their
/// requests (NIOExtras' quiescing helper), then the service returns.
struct SocketActivatedServer<Child: ServerChildChannel>: Service {
    let fd: Int32
    let child: Child
    let logger: Logger
    let onRunning: @Sendable (any Channel) async -> Void

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let quiescing = ServerQuiescingHelper(group: group)
        let child = self.child
        let logger = self.logger
        let server = try await ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .bind(fd, serverBackPressureStrategy: nil) { channel in
                child.setup(channel: channel, logger: logger)
            }
        await withGracefulShutdownHandler {
            await onRunning(server.channel)
            await withDiscardingTaskGroup { tasks in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            tasks.addTask { await child.handle(value: connection, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("socket-activated listener failed", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            let done = server.channel.eventLoop.makePromise(of: Void.self)
            quiescing.initiateShutdown(promise: done)
        }
    }
}
