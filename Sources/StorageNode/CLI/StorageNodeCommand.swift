import ArgumentParser
import Foundation
import Shared

/// `storagenode`: the in-region encrypted object store, and a client for it.
@main
struct StorageNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storagenode",
        abstract: "SplitKey StorageNode: stores only ciphertext and wrapped data keys; keys come from the KeyService.",
        version: SplitKeyVersion.current,
        subcommands: [Serve.self, Put.self, Get.self, Head.self, List.self, Remove.self, Rewrap.self, Migrate.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the StorageNode daemon (SIGHUP reloads certificates, SIGTERM drains and exits)."
    )

    @Option(name: .long, help: "Path of the YAML config file.")
    var config: String

    func run() async throws {
        do {
            try await StorageNodeDaemon.run(configPath: config)
        } catch {
            FileHandle.standardError.write(Data("storagenode: cannot start: \(error)\n".utf8))
            throw ExitCode(Self.exitStatus(for: error))
        }
    }

    /// 69 (EX_UNAVAILABLE) when a shared store the node needs did not answer at start: the
    /// unit restarts it after `RestartSec` until the database is back. 78 (EX_CONFIG) for
    /// everything else (a bad config, certificate or schema), which `RestartPreventExitStatus=78`
    /// keeps from looping.
    static func exitStatus(for error: any Error) -> Int32 {
        if case .unavailable = error as? StorageError { return 69 }
        if case .unavailable = error as? BlobStoreError { return 69 }
        return 78
    }
}
