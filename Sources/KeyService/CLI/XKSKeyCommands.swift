import ArgumentParser
import Shared

/// `keyservice admin xks-key ...`: the AWS KMS external keys this KeyService holds.
struct XKSKeyCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xks-key",
        abstract: "External keys of the AWS KMS external key store (XKS proxy).",
        subcommands: [Create.self, Show.self, ListKeys.self, Disable.self, Enable.self, Destroy.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an AES-256 external key; tell KMS its id (CreateKey --xks-key-id ID).")
        @OptionGroup var connection: AdminConnection
        @Argument(help: "External key id: 1-128 characters of A-Z a-z 0-9 - . _") var id: String
        @Option(name: .long, help: "What KMS may do with it: encrypt,decrypt (any subset; empty for neither).")
        var usage = "encrypt,decrypt"
        func run() async throws {
            let names = usage.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            try await connection.send(.POST, XKSAPI.AdminPath.keys, body: XKSAPI.CreateKeyRequest(id: id, usage: names))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an external key's usage and state.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.GET, XKSAPI.AdminPath.keys + "/" + id) }
    }

    struct ListKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List external keys (one page).")
        @OptionGroup var connection: AdminConnection
        @Option(name: .long) var after: String?
        @Option(name: .long) var limit = 100
        func run() async throws {
            var path = XKSAPI.AdminPath.keys + "?limit=\(limit)"
            if let after { path += "&after=\(after)" }
            try await connection.send(.GET, path)
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable an external key: KMS sees DISABLED and every encrypt and decrypt is refused.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, XKSAPI.AdminPath.keys + "/\(id)/\(XKSAPI.KeyAction.disable.rawValue)") }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled external key again.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, XKSAPI.AdminPath.keys + "/\(id)/\(XKSAPI.KeyAction.enable.rawValue)") }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase a disabled external key's material for good; what KMS encrypted under it can never be decrypted.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, XKSAPI.AdminPath.keys + "/\(id)/\(XKSAPI.KeyAction.destroy.rawValue)") }
    }
}
