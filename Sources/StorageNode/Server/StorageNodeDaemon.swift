import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Shared

/// Assembles and runs the StorageNode: config, metadata and blob stores (the blob store from
/// ``BlobStoreFactory``), the KeyService client and DEK cache, the object service and its
/// routes, the blob collector, the TLS listener.
enum StorageNodeDaemon {
    static func run(configPath: String) async throws {
        let config = try await StorageNodeConfig.load(path: configPath)
        LogSetup.bootstrap(level: Logger.Level(rawValue: config.logLevel) ?? .info)
        MetricsExport.bootstrap()
        var logger = Logger(label: "storagenode")
        logger[metadataKey: "service"] = "storagenode"
        logger[metadataKey: "region"] = .string(config.region)

        let blobs = try await BlobStoreFactory.open(config, logger: logger)
        let metadata: any MetadataStore
        do {
            metadata = try await MetadataStoreFactory.open(config, logger: logger)
        } catch {
            await BlobStoreFactory.close(blobs)
            throw error
        }
        // Closed on every way out: an S3 client dropped without its shutdown traps (debug builds).
        do {
            try await StoreBinding.establish(blobs: blobs, metadata: metadata, logger: logger)
            try await serve(config: config, configPath: configPath, blobs: blobs, metadata: metadata, logger: logger)
        } catch {
            await MetadataStoreFactory.close(metadata)
            await BlobStoreFactory.close(blobs)
            throw error
        }
        await MetadataStoreFactory.close(metadata)
        await BlobStoreFactory.close(blobs)
        logger.notice("storagenode stopped")
    }

    private static func serve(
        config: StorageNodeConfig, configPath: String, blobs: any BlobStore, metadata: any MetadataStore, logger: Logger
    ) async throws {
        let tlsStore = ServerTLSStore(try ServerTLS(files: config.tls))
        let keyService = try KeyServiceClient(config: config, configPath: configPath, logger: logger)
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

        let connections = ConnectionRegistry()
        let router = DaemonHost.makeRouter(connections: connections)
        let health = NodeHealth(metadata: metadata, blobs: blobs, keyService: keyService)
        router.get(RouterPath(StorageNodeAPI.Path.health)) { _, context in try await health.response(logger: context.logger) }
        let objects = ObjectService(
            metadata: metadata,
            blobs: blobs,
            dataKeys: dataKeys,
            users: UserResolver(prefix: prefix),
            maxObjectSize: config.maxObjectSize,
            segmentSize: config.segmentSize
        )
        ObjectRoutes(objects: objects).register(on: router)

        let reloadLogger = logger
        var host = DaemonHost(
            name: "storagenode",
            tls: tlsStore,
            connections: connections,
            host: config.host,
            port: config.port,
            idleTimeout: .seconds(config.idleTimeout),
            metrics: config.metricsPort.map { (config.metricsHost, $0) },
            listeningMetadata: [
                "keyService": "\(config.keyServiceURLs.joined(separator: ","))", "keyServiceIdentity": "\(keyService.identity.expected)",
            ],
            logger: logger,
            prepareReload: {
                let fresh = try await StorageNodeConfig.load(path: configPath)
                if fresh.keyServiceURLs != config.keyServiceURLs || fresh.keyServiceIdentity != config.keyServiceIdentity
                    || fresh.tls.certificate != config.tls.certificate
                {
                    reloadLogger.warning(
                        "the KeyService URLs and identity and the node's client certificate for them change only on restart")
                }
                return DaemonHost.PreparedReload(tls: fresh.tls)
            }
        )
        host.services.append(
            BlobCollector(
                blobs: blobs,
                metadata: metadata,
                grace: TimeInterval(config.blobOrphanGrace),
                interval: .seconds(config.blobCollectInterval),
                logger: logger
            ))
        // Probes every KeyService replica about once a second while the node runs, so requests
        // go to the healthy ones and a replica that comes back gets traffic again.
        let monitor = Task { await keyService.monitorHealth() }
        defer { monitor.cancel() }
        try await host.run(router: router)
        monitor.cancel()
        await monitor.value
        await keyService.shutdown()
    }
}
