import ArgumentParser
import Foundation
import Logging
import Shared

/// `storagenode migrate`: brings the metadata database's schema up to date and exits, the command
/// a node or `storagenode rewrap` names when it finds an older schema. `serve` migrates too; this
/// is for an upgrade done before the nodes are restarted. Safe while nodes run: the migrator
/// holds an advisory lock, and every migration is one transaction.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the metadata store's schema migrations (PostgreSQL or SQLite) and exit; safe while nodes run."
    )

    @Option(name: .long, help: "The StorageNode's config file.")
    var config: String

    func run() async throws {
        do {
            let config = try await StorageNodeConfig.load(path: config)
            LogSetup.bootstrap(level: .notice)
            let store = try await MetadataStoreFactory.open(config, migrate: true, logger: Logger(label: "storagenode-migrate"))
            let id = try? await store.storeID()
            await MetadataStoreFactory.close(store)
            switch config.metadataBackend {
            case .sqlite:
                print("metadata store \(config.stateDirectory)/\(SQLiteMetadataStore.fileName): schema up to date (database \(id ?? "?"))")
            case .postgres(let postgres):
                print(
                    "metadata store \(postgres.redacted): schema at version \(PostgresMetadataMigrations.migrator.latest) (database \(id ?? "?"))"
                )
            }
        } catch {
            FileHandle.standardError.write(Data("storagenode: migrate failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
