import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Shared

/// Assembles and runs the KeyService: configuration, root key, key store, TLS listener.
///
/// Start-up refuses to continue on anything an operator must fix (bad config, unreadable or
/// wrong root key, unusable TLS files), with one message naming the cause. SIGHUP reloads TLS
/// material and policy; SIGTERM or SIGINT drain in-flight requests and exit 0.
enum KeyServiceDaemon {
    static func run(configPath: String) async throws {
        let config = try await KeyServiceConfig.load(path: configPath)
        LogSetup.bootstrap(level: Logger.Level(rawValue: config.logLevel) ?? .info)
        MetricsExport.bootstrap()
        var logger = Logger(label: "keyservice")
        logger[metadataKey: "service"] = "keyservice"

        let rootKey = try RootKey.load(
            credentialsDirectory: ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"],
            configuredFile: config.rootKeyFile
        )
        let store = try SQLiteKeyStore(directory: config.stateDirectory)
        let sealer = KEKSealer(rootKey: rootKey)
        let check = try await store.keyCheck(orCreate: { try sealer.makeKeyCheck() })
        guard sealer.verifyKeyCheck(check) else { throw RootKeyError.mismatch }
        logger.info("root key loaded", metadata: ["origin": "\(rootKey.origin)"])
        let (auditKey, auditKeyOrigin) = try AuditKey.load(
            credentialsDirectory: ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"],
            configuredFile: config.auditKeyFile,
            rootKey: rootKey
        )
        try FileManager.default.createDirectory(
            atPath: (config.auditFile as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let audit = try AuditLog(path: config.auditFile, key: SymmetricKeyBox(auditKey), logger: logger)
        logger.info("audit trail", metadata: ["file": "\(config.auditFile)", "key": "\(auditKeyOrigin)"])

        let tlsStore = ServerTLSStore(try ServerTLS(files: config.tls))
        let stateStore = ServerStateStore(ServerState(policy: config.policy))
        let budget = UnwrapBudget(budget: config.limits.userUnwrapBudget, windowSeconds: config.limits.userUnwrapBudgetWindow)
        let operations = KeyOperations(
            store: store,
            sealer: sealer,
            cacheTTL: config.cacheTTL,
            lifecycle: config.lifecycle,
            userUnwraps: TokenBuckets(rate: config.limits.userUnwrapsPerSecond, burst: config.limits.userUnwrapBurst),
            budget: budget
        )
        let revoked = try await store.revokedIdentities().compactMap(IdentityMatcher.init)
        stateStore.update { $0.revoked = revoked }
        let connections = ConnectionRegistry()

        let router = Router(context: SplitKeyRequestContext.self)
        router.add(middleware: MetricsMiddleware<SplitKeyRequestContext>())
        router.add(middleware: ErrorShapeMiddleware())
        router.add(middleware: PeerIdentityMiddleware(registry: connections))
        KeyServiceRoutes(
            state: stateStore,
            operations: operations,
            administration: UserAdministration(store: store, sealer: sealer, lifecycle: config.lifecycle, budget: budget),
            health: HealthCheck(store: store, audit: audit),
            audit: audit,
            store: store,
            connections: connections,
            identityRequests: TokenBuckets(rate: config.limits.identityRequestsPerSecond, burst: config.limits.identityBurst)
        ).register(on: router)

        let listenLogger = logger
        let notifier = SystemdNotifier(logger: logger)
        let app = try HTTPService.make(
            router: router,
            tls: tlsStore,
            idleTimeout: .seconds(config.idleTimeout),
            host: config.host,
            port: config.port,
            logger: logger,
            onRunning: { channel in
                listenLogger.notice(
                    "keyservice listening",
                    metadata: ["address": "\(channel.localAddress?.description ?? "?")", "version": "\(SplitKeyVersion.current)"]
                )
                let address = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                notifier.ready(status: "listening on \(address)")
            }
        )
        let reloader = ReloadService(logger: logger) {
            let fresh = try await KeyServiceConfig.load(path: configPath)
            if fresh.host != config.host || fresh.port != config.port || fresh.stateDirectory != config.stateDirectory {
                listenLogger.warning("listen address and state directory changes take effect only on restart")
            }
            let tls = try ServerTLS(files: fresh.tls)
            tlsStore.replace(with: tls)
            let closed = connections.close(where: tls.revocations.isRevoked)
            for warning in tls.revocations.warnings { listenLogger.warning("\(warning)") }
            listenLogger.notice("CRLs applied", metadata: ["revokedSerials": "\(tls.revocations.count)", "connectionsClosed": "\(closed)"])
            stateStore.update { $0.policy = fresh.policy }
        }
        let group = ServiceGroup(
            configuration: .init(
                // Watchdog first (shut down last, so it keeps pinging while the listener drains),
                // STOPPING=1 last (the group signals graceful shutdown in reverse order).
                services: [
                    .init(service: SystemdWatchdogService(notifier: notifier, logger: logger)),
                    .init(service: app),
                    .init(service: reloader),
                ]
                    + (config.metricsPort.map {
                        [.init(service: MetricsExport.listener(host: config.metricsHost, port: $0, logger: logger))]
                    } ?? []) + [
                        .init(service: SystemdStoppingService(notifier: notifier))
                    ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        logger.notice("keyservice stopped")
    }
}
