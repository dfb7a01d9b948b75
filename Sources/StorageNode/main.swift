import ArgumentParser
import Shared

/// `storagenode`: the in-region encrypted object store. The daemon arrives with the StorageNode
/// issue; until then this binary says so instead of pretending to run.
struct StorageNodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storagenode",
        abstract: "SplitKey StorageNode: stores only ciphertext and wrapped data keys (not implemented in this release).",
        version: SplitKeyVersion.current,
        subcommands: [Serve.self]
    )
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the StorageNode daemon (not implemented yet).")

    @Option(name: .long, help: "Path of the YAML config file.")
    var config: String?

    func run() throws {
        print("storagenode serve: the StorageNode daemon is not part of this release yet; only the KeyService runs.")
        throw ExitCode(69)  // EX_UNAVAILABLE
    }
}

StorageNodeCommand.main()
