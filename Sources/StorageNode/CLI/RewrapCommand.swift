import ArgumentParser
import Foundation
import Logging
import Shared

/// `storagenode rewrap`: moves every stored wrapped data key (of one user, or all) to the
/// user's newest KEK version, through the KeyService's rewrap call.
///
/// Safe to interrupt and to run while the node serves: each key is replaced in its own
/// transaction and only if it did not change meanwhile, and the data key itself is unchanged,
/// so objects and cached keys are unaffected. Running it again continues where it stopped
/// (keys already at the newest version come back unchanged).
struct Rewrap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrap stored data keys under the newest KEK version (after `keyservice admin user rotate`)."
    )

    @Option(name: .long, help: "The StorageNode's config file (for its state directory, certificate and KeyService URL).")
    var config: String
    @Option(name: .long, help: "Only this user's data keys.")
    var user: String?

    func run() async throws {
        let config = try await StorageNodeConfig.load(path: config)
        LogSetup.bootstrap(level: .warning)
        let logger = Logger(label: "storagenode-rewrap")
        // The store the node uses, so a rewrap reaches the data keys of a shared PostgreSQL too.
        let metadata = try await MetadataStoreFactory.open(config, migrate: false, logger: logger)
        let keyService: KeyServiceClient
        do {
            keyService = try KeyServiceClient(config: config, configPath: self.config, logger: logger)
        } catch {
            await MetadataStoreFactory.close(metadata)
            throw error
        }
        var after: Int64 = 0
        var (checked, rewrapped, failed) = (0, 0, 0)
        do {
            while true {
                let page = try await metadata.dataKeys(user: user, afterID: after, limit: 100)
                guard let last = page.last else { break }
                after = last.id
                for record in page {
                    checked += 1
                    do {
                        let fresh = try await keyService.rewrap(user: record.userID, wrapped: record.wrapped)
                        guard fresh.kekVersion != record.kekVersion || fresh.wrapped != record.wrapped else { continue }
                        if try await metadata.replaceWrapped(
                            id: record.id, old: record.wrapped, new: fresh.wrapped, kekVersion: fresh.kekVersion)
                        {
                            rewrapped += 1
                            print("data key \(record.id) of \(record.userID): KEK v\(record.kekVersion) -> v\(fresh.kekVersion)")
                        }
                    } catch {
                        failed += 1
                        print("data key \(record.id) of \(record.userID): not rewrapped: \(error)")
                    }
                }
            }
        } catch {
            await keyService.shutdown()
            await MetadataStoreFactory.close(metadata)
            throw error
        }
        await keyService.shutdown()
        await MetadataStoreFactory.close(metadata)
        print("rewrap: \(checked) data keys checked, \(rewrapped) rewrapped, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}
