import Logging

/// Opens the configured ``KeyStore``; the one place that knows the implementations.
enum KeyStoreFactory {
    /// `migrate`: apply missing schema migrations (the daemon at start, `keyservice migrate`).
    static func open(_ settings: KeyStoreSettings, migrate: Bool = true, logger: Logger) async throws(KeyStoreError) -> any KeyStore {
        switch settings {
        case .sqlite(let directory):
            return try SQLiteKeyStore(directory: directory)
        case .postgres(let postgres):
            return try await PostgresKeyStore.open(postgres, migrate: migrate, logger: logger)
        }
    }
}
