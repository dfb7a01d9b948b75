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
        logger[metadataKey: "replica"] = .string(config.replicaID)
        for failure in ProcessHardening.apply() { logger.warning("process hardening incomplete", metadata: ["error": "\(failure)"]) }

        let rootKey = try RootKey.load(
            credentialsDirectory: ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"],
            configuredFile: config.rootKeyFile
        )
        let store = try await KeyStoreFactory.open(config.keyStore, logger: logger)
        if case .postgres(let postgres) = config.keyStore {
            logger.info("key store", metadata: ["backend": "postgres", "database": "\(postgres.redacted)"])
        }
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
        let audit = try AuditLog(
            path: config.auditFile, key: SymmetricKeyBox(auditKey), segmentBytes: config.auditSegmentBytes, replica: config.replicaID,
            logger: logger)
        logger.info("audit trail", metadata: ["file": "\(config.auditFile)", "key": "\(auditKeyOrigin)"])

        let tlsStore = ServerTLSStore(try ServerTLS(files: config.tls))
        let stateStore = ServerStateStore(ServerState(policy: config.policy))
        let budget = UnwrapBudget(budget: config.limits.userUnwrapBudget, windowSeconds: config.limits.userUnwrapBudgetWindow)
        var authorizer = Authorizer(
            identityRequests: TokenBuckets(rate: config.limits.identityRequestsPerSecond, burst: config.limits.identityBurst),
            userUnwraps: TokenBuckets(rate: config.limits.userUnwrapsPerSecond, burst: config.limits.userUnwrapBurst),
            budget: budget,
            lifecycle: config.lifecycle
        )
        if let xks = config.xks { authorizer.xksRequests = TokenBuckets(rate: xks.requestsPerSecond, burst: xks.burst) }
        let revoked = try await store.revokedIdentities().compactMap(IdentityMatcher.init)
        stateStore.update { $0.revoked = revoked }
        let connections = ConnectionRegistry(maxConnections: config.maxConnections)
        let operations = KeyServiceOperations(
            audited: AuditedOperations(audit: audit, authorizer: authorizer),
            keys: KeyOperations(store: store, sealer: sealer, cacheTTL: config.cacheTTL, authorizer: authorizer),
            users: UserAdministration(store: store, sealer: sealer, lifecycle: config.lifecycle, budget: budget),
            revocations: IdentityRevocations(store: store, state: stateStore, connections: connections),
            store: store
        )

        let xksKeys = XKSKeyAdministration(audited: operations.audited, store: store, sealer: sealer)
        let router = DaemonHost.makeRouter(connections: connections)
        KeyServiceRoutes(
            state: stateStore, operations: operations, health: HealthCheck(store: store, audit: audit, replica: config.replicaID),
            xksKeys: xksKeys
        ).register(on: router)

        // The AWS KMS external key store proxy, on its own listener when configured.
        var xksServices: [any Service] = []
        var xksLive: XKSLiveState?
        if let xks = config.xks {
            let live = try XKSLiveState(settings: xks)
            let monitor = XKSHealthMonitor(
                store: store, audit: audit, replica: config.replicaID, backend: config.keyStore.backendName, logger: logger,
                interval: .seconds(xks.healthInterval))
            let xksOperations = XKSOperations(
                audited: operations.audited, store: store, sealer: sealer, health: monitor, policy: { live.policy })
            xksServices = [
                monitor,
                XKSListener.make(
                    settings: xks, live: live, operations: xksOperations, idleTimeout: .seconds(config.idleTimeout),
                    handshakeTimeout: .seconds(config.handshakeTimeout), maxConnections: config.maxConnections, logger: logger),
            ]
            xksLive = live
        }
        let liveXKS = xksLive

        let reloadLogger = logger
        var host = DaemonHost(
            name: "keyservice",
            tls: tlsStore,
            connections: connections,
            host: config.host,
            port: config.port,
            idleTimeout: .seconds(config.idleTimeout),
            metrics: config.metricsPort.map { (config.metricsHost, $0) },
            listeningMetadata: [:],
            logger: logger,
            prepareReload: {
                let fresh = try await KeyServiceConfig.load(path: configPath)
                if fresh.host != config.host || fresh.port != config.port || fresh.stateDirectory != config.stateDirectory {
                    reloadLogger.warning("listen address and state directory changes take effect only on restart")
                }
                if (fresh.xks == nil) != (liveXKS == nil) || fresh.xks?.port != config.xks?.port {
                    reloadLogger.warning("turning the XKS listener on or off or moving it takes effect only on restart")
                }
                let applyXKS = try fresh.xks.flatMap { settings in try liveXKS?.prepareReload(settings) }
                // The policy takes effect together with the TLS state, or not at all.
                return DaemonHost.PreparedReload(tls: fresh.tls) {
                    stateStore.update { $0.policy = fresh.policy }
                    applyXKS?()
                }
            }
        )
        host.handshakeTimeout = .seconds(config.handshakeTimeout)
        host.services =
            [
                StoreChangeFollower(store: store, state: stateStore, connections: connections, logger: logger),
                BudgetFlusher(budget: budget, store: store, logger: logger),
            ] + xksServices
        do {
            try await host.run(router: router)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        logger.notice("keyservice stopped")
    }
}
