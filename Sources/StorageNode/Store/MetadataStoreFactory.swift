import Logging
import Shared
import SplitKeyPostgres

/// The one place that knows the metadata store backends (`metadata.backend`): the daemon and
/// `storagenode rewrap` get the store from here as a ``MetadataStore``.
enum MetadataStoreFactory {
    /// What `metadata.backend` names, with its settings.
    enum Backend: Sendable, Equatable {
        /// ``SQLiteMetadataStore`` in `stateDirectory` (the default): one node only.
        case sqlite
        /// ``PostgresMetadataStore`` on the `metadata.*` database: nodes of a region share it.
        case postgres(PostgresSettings)
    }

    static let backendNames = ["sqlite", "postgres"]

    static let knownKeys: Set<String> = Set(["metadata.backend"]).union(PostgresSettings.knownKeys(prefix: "metadata"))

    /// Reads `metadata.backend` and, for `postgres`, the `metadata.*` keys.
    static func backend(_ source: ConfigSource, path: String, environment: [String: String]) throws(ConfigurationError)
        -> Backend
    {
        let name = source.string("metadata.backend", default: "sqlite")
        switch name {
        case "sqlite":
            return .sqlite
        case "postgres":
            return .postgres(
                try PostgresSettings.load(
                    source, prefix: "metadata", passwordCredential: "metadata-password", path: path,
                    credentialsDirectory: environment["CREDENTIALS_DIRECTORY"]))
        default:
            throw .invalid(
                "metadata.backend", path, "'\(name)' is not a metadata backend; set one of: \(backendNames.joined(separator: ", "))")
        }
    }

    /// Opens the configured store; `migrate` brings a PostgreSQL schema up to date (the daemon)
    /// instead of refusing an old one.
    static func open(_ config: StorageNodeConfig, migrate: Bool = true, logger: Logger) async throws(StorageError)
        -> any MetadataStore
    {
        switch config.metadataBackend {
        case .sqlite:
            return try SQLiteMetadataStore(directory: config.stateDirectory)
        case .postgres(let settings):
            return try await PostgresMetadataStore.open(settings, migrate: migrate, logger: logger)
        }
    }

    /// Releases what `store` holds (a PostgreSQL pool's connections).
    static func close(_ store: any MetadataStore) async {
        if let postgres = store as? PostgresMetadataStore { await postgres.close() }
    }
}
