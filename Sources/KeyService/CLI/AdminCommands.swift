import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// `keyservice admin ...`: the key holder's lifecycle and kill-switch commands, run against a
/// KeyService over mutual TLS with an admin certificate.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage users, their keys and node identities on a running KeyService (admin certificate).",
        subcommands: [UserCommands.self, NodeCommands.self, XKSKeyCommands.self]
    )
}

/// Where the KeyService is and which certificate to present.
struct AdminConnection: ParsableArguments {
    @Option(name: .long, help: "KeyService base URL.")
    var url = "https://localhost:8443"
    @Option(name: .long, help: "Admin client certificate (PEM).")
    var cert: String
    @Option(name: .long, help: "Private key of the certificate (PEM, mode 0600).")
    var key: String
    @Option(name: .long, help: "CA bundle that issued the KeyService's certificate.")
    var ca: String

    /// Sends one request and prints the JSON answer; a refusal prints its error and exits 1.
    func send(_ method: HTTPMethod, _ path: String, body: (any Encodable)? = nil) async throws {
        let files = try TLSFiles(certificate: cert, privateKey: key, ca: ca).load()
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: .splitKeyClient(files)))
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let status: HTTPResponseStatus
        let payload: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            status = response.status
            payload = try await response.body.collect(upTo: 16 << 20)
        } catch {
            try? await client.shutdown()
            throw ValidationError("cannot reach the KeyService at \(url): \(error)")
        }
        try await client.shutdown()
        let data = Data(buffer: payload)
        guard (200..<300).contains(Int(status.code)) else {
            if let error = try? JSONDecoder().decode(ErrorBody.self, from: data) {
                FileHandle.standardError.write(
                    Data("error \(status.code) \(error.error.code): \(error.error.message) (request \(error.error.requestId))\n".utf8)
                )
            } else {
                FileHandle.standardError.write(Data("error \(status.code)\n".utf8))
            }
            throw ExitCode(1)
        }
        if let object = try? JSONSerialization.jsonObject(with: data),
            let pretty = try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        {
            print(String(decoding: pretty, as: UTF8.self))
        }
    }
}

struct UserCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Users and their KEKs.",
        subcommands: [
            Create.self, Show.self, ListUsers.self, Rotate.self, Disable.self, Enable.self, MinVersion.self,
            ScheduleDestroy.self, CancelDestroy.self, Destroy.self, ClearLockout.self,
        ]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user homed in a region, with KEK v1.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        @Option(name: .long, help: "Home region; only StorageNodes of this region get the user's keys.") var region: String
        func run() async throws {
            try await connection.send(.POST, KeyServiceAPI.Path.users, body: KeyServiceAPI.CreateUserRequest(id: id, homeRegion: region))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a user's state and KEK versions.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.GET, KeyServiceAPI.Path.users + "/" + id) }
    }

    struct ListUsers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List users (one page).")
        @OptionGroup var connection: AdminConnection
        @Option(name: .long) var after: String?
        @Option(name: .long) var limit = 100
        func run() async throws {
            var path = KeyServiceAPI.Path.users + "?limit=\(limit)"
            if let after { path += "&after=\(after)" }
            try await connection.send(.GET, path)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a new KEK version; new wraps use it, older versions still unwrap.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, KeyServiceAPI.Path.user(id, .rotate)) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suspend a user: every wrap and unwrap is refused until enabled.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, KeyServiceAPI.Path.user(id, .disable)) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reactivate a suspended user.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, KeyServiceAPI.Path.user(id, .enable)) }
    }

    struct MinVersion: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "min-version",
            abstract: "Refuse unwraps of keys wrapped under KEK versions below this one (after a rewrap)."
        )
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        @Argument var version: UInt32
        func run() async throws {
            try await connection.send(
                .POST, KeyServiceAPI.Path.user(id, .minVersion), body: KeyServiceAPI.MinVersionRequest(version: version))
        }
    }

    struct ScheduleDestroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "schedule-destroy",
            abstract: "Deactivate a user and allow its destruction after a waiting period (cancellable)."
        )
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        @Option(name: .long, help: "Waiting period in seconds (default: the KeyService's lifecycle.destroyDelay, 7 days).")
        var delay: Int?
        func run() async throws {
            try await connection.send(
                .POST,
                KeyServiceAPI.Path.user(id, .scheduleDestruction),
                body: KeyServiceAPI.ScheduleDestructionRequest(delaySeconds: delay)
            )
        }
    }

    struct CancelDestroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel-destroy", abstract: "Cancel a scheduled destruction.")
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, KeyServiceAPI.Path.user(id, .cancelDestruction)) }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase every KEK version of a user whose waiting period is over (crypto-shredding; irreversible)."
        )
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, KeyServiceAPI.Path.user(id, .destroy)) }
    }

    struct ClearLockout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clear-lockout",
            abstract: "Unlock a user's unwraps after its unwrap budget was exceeded."
        )
        @OptionGroup var connection: AdminConnection
        @Argument var id: String
        func run() async throws { try await connection.send(.POST, KeyServiceAPI.Path.user(id, .clearLockout)) }
    }
}

struct NodeCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "The kill switch: revoke node (or any) identities at once.",
        subcommands: [Revoke.self, Unrevoke.self, Revoked.self]
    )

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refuse an identity from now on and close its open connections (SPIFFE ID, ID/* or spki-sha256:HEX)."
        )
        @OptionGroup var connection: AdminConnection
        @Argument var identity: String
        func run() async throws {
            try await connection.send(.POST, KeyServiceAPI.Path.revokedIdentities, body: KeyServiceAPI.RevokeRequest(identity: identity))
        }
    }

    struct Unrevoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a revocation made with `node revoke`.")
        @OptionGroup var connection: AdminConnection
        @Argument var identity: String
        func run() async throws {
            try await connection.send(.DELETE, KeyServiceAPI.Path.revokedIdentities, body: KeyServiceAPI.RevokeRequest(identity: identity))
        }
    }

    struct Revoked: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List identities revoked with `node revoke`.")
        @OptionGroup var connection: AdminConnection
        func run() async throws { try await connection.send(.GET, KeyServiceAPI.Path.revokedIdentities) }
    }
}
