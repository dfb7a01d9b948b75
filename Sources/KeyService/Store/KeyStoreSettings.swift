import Foundation
import Shared
import SplitKeyPostgres

/// Which engine holds users and sealed KEKs (`keyStore.backend`), and how to reach it.
enum KeyStoreSettings: Sendable, Equatable {
    /// One SQLite file in the state directory: the embedded default, one process only.
    case sqlite(directory: String)
    /// A PostgreSQL database shared by every replica.
    case postgres(PostgresSettings)

    static let knownKeys: Set<String> = [
        "keyStore.backend", "keyStore.url", "keyStore.passwordFile", "keyStore.ca", "keyStore.maxConnections",
        "keyStore.timeout",
    ]

    static func load(_ source: ConfigSource, path: String, stateDirectory: String, credentialsDirectory: String?)
        throws(ConfigurationError) -> KeyStoreSettings
    {
        switch source.string("keyStore.backend", default: "sqlite") {
        case "sqlite":
            return .sqlite(directory: stateDirectory)
        case "postgres":
            return .postgres(
                try PostgresSettings.load(
                    source, prefix: "keyStore", passwordCredential: "keystore-password", path: path,
                    credentialsDirectory: credentialsDirectory))
        case let other:
            throw .invalid("keyStore.backend", path, "'\(other)' is not one of sqlite, postgres")
        }
    }

    var backendName: String {
        switch self {
        case .sqlite: "sqlite"
        case .postgres: "postgres"
        }
    }
}

/// The shared type, as the KeyService's code and tests name it.
typealias PostgresSettings = SplitKeyPostgres.PostgresSettings
