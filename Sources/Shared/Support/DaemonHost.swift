import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// What both daemons share once their routes exist: the mutual-TLS listener (bound, or on the
/// socket systemd passed), SIGHUP reloads of certificates and CRLs that also close connections of
/// newly revoked certificates, the optional metrics listener, and systemd notify, watchdog and
/// STOPPING=1, run as one service group until SIGTERM or SIGINT drain it.
public struct DaemonHost: Sendable {
    public var name: String
    public var tls: ServerTLSStore
    public var connections: ConnectionRegistry
    public var host: String
    public var port: Int
    public var idleTimeout: Duration
    /// A connection that has not finished its TLS handshake by then is closed.
    public var handshakeTimeout: Duration = .seconds(10)
    public var metrics: (host: String, port: Int)?
    /// Extra fields of the "listening" log line.
    public var listeningMetadata: Logger.Metadata
    public var logger: Logger
    /// Re-reads the daemon's config and returns the TLS files to load with what else it would
    /// change (policy, ...), applied only once the TLS state built from the files is complete:
    /// a reload is all or nothing, and throwing anywhere keeps the previous state.
    public var prepareReload: @Sendable () async throws -> PreparedReload
    /// The daemon's own long-running tasks (store followers, flushers); started before the
    /// listener and stopped after it has drained.
    public var services: [any Service] = []

    /// A reload built but not yet in force.
    public struct PreparedReload: Sendable {
        public var tls: TLSFiles
        public var apply: @Sendable () -> Void
        public init(tls: TLSFiles, apply: @escaping @Sendable () -> Void = {}) {
            self.tls = tls
            self.apply = apply
        }
    }

    public init(
        name: String,
        tls: ServerTLSStore,
        connections: ConnectionRegistry,
        host: String,
        port: Int,
        idleTimeout: Duration,
        metrics: (host: String, port: Int)?,
        listeningMetadata: Logger.Metadata,
        logger: Logger,
        prepareReload: @escaping @Sendable () async throws -> PreparedReload
    ) {
        self.name = name
        self.tls = tls
        self.connections = connections
        self.host = host
        self.port = port
        self.idleTimeout = idleTimeout
        self.metrics = metrics
        self.listeningMetadata = listeningMetadata
        self.logger = logger
        self.prepareReload = prepareReload
    }

    /// A router with the middleware every request passes: metrics, the error shape and request
    /// log line, and the peer identity (recorded in `connections`).
    public static func makeRouter(connections: ConnectionRegistry) -> Router<SplitKeyRequestContext> {
        let router = Router(context: SplitKeyRequestContext.self)
        router.add(middleware: MetricsMiddleware<SplitKeyRequestContext>())
        router.add(middleware: ErrorShapeMiddleware())
        router.add(middleware: PeerIdentityMiddleware(registry: connections))
        return router
    }

    public func run(router: Router<SplitKeyRequestContext>) async throws {
        let logger = self.logger
        for failure in ProcessHardening.apply() { logger.warning("process hardening incomplete", metadata: ["error": "\(failure)"]) }
        let notifier = SystemdNotifier(logger: logger)
        connections.apply(tls.current.revocations)
        let (name, metadata, tls, connections, prepareReload) = (
            self.name, self.listeningMetadata, self.tls, self.connections, self.prepareReload
        )
        let app = try HTTPService.make(
            router: router,
            tls: tls,
            connections: connections,
            idleTimeout: idleTimeout,
            handshakeTimeout: handshakeTimeout,
            host: host,
            port: port,
            logger: logger,
            onRunning: { channel in
                var fields = metadata
                fields["address"] = "\(channel.localAddress?.description ?? "?")"
                fields["version"] = "\(SplitKeyVersion.current)"
                logger.notice("\(name) listening", metadata: fields)
                let address = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                notifier.ready(status: "listening on \(address)")
            }
        )
        let reloader = ReloadService(logger: logger) {
            // Build everything first; only a complete new state is swapped in.
            let prepared = try await prepareReload()
            let fresh = try ServerTLS(files: prepared.tls)
            try fresh.revocations.checkSuccession(after: tls.current.revocations)
            prepared.apply()
            tls.replace(with: fresh)
            let closed = connections.apply(fresh.revocations)
            for warning in fresh.revocations.warnings { logger.warning("\(warning)") }
            logger.notice("CRLs applied", metadata: ["revokedSerials": "\(fresh.revocations.count)", "connectionsClosed": "\(closed)"])
        }
        // Watchdog first (shut down last, so it keeps pinging while the listener drains),
        // STOPPING=1 last (the group signals graceful shutdown in reverse order).
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: SystemdWatchdogService(notifier: notifier, logger: logger))
        ]
        services += self.services.map { .init(service: $0) }
        services += [
            .init(service: app),
            .init(service: reloader),
        ]
        if let metrics {
            services.append(.init(service: MetricsExport.listener(host: metrics.host, port: metrics.port, logger: logger)))
        }
        services.append(.init(service: SystemdStoppingService(notifier: notifier)))
        try await ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
    }
}
