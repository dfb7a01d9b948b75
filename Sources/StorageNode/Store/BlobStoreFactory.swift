import Logging
import Shared

/// The one place that knows the blob store backends: the config names one (`blobs.backend`),
/// and the daemon gets it from here as an ``BlobStore``, never as a concrete type.
enum BlobStoreFactory {
    /// The values `blobs.backend` may take.
    enum Backend: String, Sendable, CaseIterable {
        /// ``FileBlobStore`` in `blobs/` and `tmp/` under `stateDirectory` (the default).
        case folder
        /// ``S3BlobStore`` in the bucket of the `blobs.s3.*` keys: nodes of a region can share it.
        case s3
    }

    /// The config error for a `blobs.backend` value that names no backend.
    static func backend(_ text: String, configPath: String) throws(ConfigurationError) -> Backend {
        guard let backend = Backend(rawValue: text) else {
            let choices = Backend.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalid("blobs.backend", configPath, "'\(text)' is not a blob store backend; set one of: \(choices)")
        }
        return backend
    }

    /// Opens the configured store for the node that serves from it, after the backend's own
    /// start-up recovery (the folder's leftovers in `tmp/`, which only a crashed upload of this
    /// node can have left).
    static func open(_ config: StorageNodeConfig, logger: Logger) async throws(BlobStoreError) -> any BlobStore {
        switch config.blobBackend {
        case .folder:
            let store = try FileBlobStore(root: config.stateDirectory)
            let removed = await store.removeUnfinishedUploads()
            if removed > 0 {
                logger.notice("removed leftovers of unfinished writes", metadata: ["temporary": "\(removed)"])
            }
            return store
        case .s3:
            guard let s3 = config.blobS3 else { throw .io("blobs.backend is s3 but no blobs.s3.* settings were loaded") }
            var storeLogger = logger
            storeLogger[metadataKey: "bucket"] = .string(s3.settings.bucket)
            let client = S3Client(settings: s3.settings, logger: storeLogger)
            return S3BlobStore(client: client, prefix: s3.prefix, partSize: s3.partSize, logger: storeLogger)
        }
    }

    /// Releases what `store` holds (an S3 client's connections); the daemon calls it on the way out.
    static func close(_ store: any BlobStore) async {
        if let s3 = store as? S3BlobStore { await s3.shutdown() }
    }
}
