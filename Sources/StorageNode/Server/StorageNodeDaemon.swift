import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Shared

/// Assembles and runs the StorageNode: config, metadata and blob stores (with the start-up
/// sweep of unfinished writes), the KeyService client and DEK cache, the TLS listener.
enum StorageNodeDaemon {
    static func run(configPath: String) async throws {
        let config = try await StorageNodeConfig.load(path: configPath)
        LogSetup.bootstrap(level: Logger.Level(rawValue: config.logLevel) ?? .info)
        MetricsExport.bootstrap()
        var logger = Logger(label: "storagenode")
        logger[metadataKey: "service"] = "storagenode"
        logger[metadataKey: "region"] = .string(config.region)

        let blobs = try FileBlobStore(root: config.stateDirectory)
        let metadata = try SQLiteMetadataStore(directory: config.stateDirectory)
        let swept = try await blobs.removeLeftovers(keeping: try await metadata.blobNames())
        if swept.temporary + swept.orphaned > 0 {
            logger.notice(
                "removed leftovers of unfinished writes",
                metadata: ["temporary": "\(swept.temporary)", "orphaned": "\(swept.orphaned)"]
            )
        }

        let tlsFiles = try config.tls.load()
        let tlsStore = ServerTLSStore(try ServerTLS(files: config.tls))
        let keyService = KeyServiceClient(
            baseURL: config.keyServiceURL,
            tls: tlsFiles,
            timeout: .seconds(config.keyServiceTimeout),
            logger: logger
        )
        let dataKeys = DataKeys(
            metadata: metadata,
            keyService: keyService,
            cache: DataKeyCache(capacity: config.dataKeyCacheEntries),
            maxAge: TimeInterval(config.dataKeyMaxAge),
            maxObjects: config.dataKeyMaxObjects
        )
        guard let prefix = SPIFFEID(config.userIdentityPrefix) else {
            throw ConfigurationError.invalid("users.identityPrefix", configPath, "not a SPIFFE ID")
        }

        let router = Router(context: SplitKeyRequestContext.self)
        router.add(middleware: MetricsMiddleware<SplitKeyRequestContext>())
        router.add(middleware: ErrorShapeMiddleware())
        let connections = ConnectionRegistry()
        router.add(middleware: PeerIdentityMiddleware(registry: connections))
        let health = NodeHealth(metadata: metadata, keyService: keyService)
        router.get(RouterPath(StorageNodeAPI.Path.health)) { _, _ in try await health.response() }
        ObjectRoutes(
            metadata: metadata,
            blobs: blobs,
            dataKeys: dataKeys,
            users: UserResolver(prefix: prefix),
            maxObjectSize: config.maxObjectSize,
            segmentSize: config.segmentSize
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
                    "storagenode listening",
                    metadata: ["address": "\(channel.localAddress?.description ?? "?")", "keyService": "\(config.keyServiceURL)"]
                )
                let address = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                notifier.ready(status: "listening on \(address)")
            }
        )
        let reloader = ReloadService(logger: logger) {
            let fresh = try await StorageNodeConfig.load(path: configPath)
            let tls = try ServerTLS(files: fresh.tls)
            tlsStore.replace(with: tls)
            let closed = connections.close(where: tls.revocations.isRevoked)
            for warning in tls.revocations.warnings { listenLogger.warning("\(warning)") }
            listenLogger.notice("CRLs applied", metadata: ["revokedSerials": "\(tls.revocations.count)", "connectionsClosed": "\(closed)"])
            if fresh.keyServiceURL != config.keyServiceURL || fresh.tls != config.tls {
                listenLogger.warning("the KeyService URL and the node's client certificate for it change only on restart")
            }
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
        await keyService.shutdown()
        logger.notice("storagenode stopped")
    }
}
