import Logging
import Shared

/// The one place that knows the blob store backends: the config names one (`blobs.backend`),
/// and the daemon gets it from here as an ``BlobStore``, never as a concrete type.
enum BlobStoreFactory {
    /// The values `blobs.backend` may take.
    enum Backend: String, Sendable, CaseIterable {
        /// ``FileBlobStore`` in `blobs/` and `tmp/` under `stateDirectory` (the default).
        case folder
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
        }
    }
}
