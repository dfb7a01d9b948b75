import ArgumentParser
import Foundation
import Logging

/// `keyservice migrate`: brings the key store's schema to this binary's version and exits, so an
/// operator can upgrade the database before rolling new replicas (which also migrate at start,
/// under the same advisory lock).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the key store's schema migrations (PostgreSQL or SQLite) and exit; safe while replicas run."
    )

    @Option(name: .long, help: "Path of the YAML config file.")
    var config: String

    func run() async throws {
        do {
            let config = try await KeyServiceConfig.load(path: config)
            var logger = Logger(label: "keyservice")
            logger.logLevel = .notice
            let store = try await KeyStoreFactory.open(config.keyStore, migrate: true, logger: logger)
            await store.close()
            switch config.keyStore {
            case .sqlite(let directory): print("key store \(directory)/\(SQLiteKeyStore.fileName): schema up to date")
            case .postgres(let postgres):
                print("key store \(postgres.redacted): schema at version \(PostgresMigrations.latest)")
            }
        } catch {
            FileHandle.standardError.write(Data("keyservice: migrate failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
