import ArgumentParser
import Foundation
import Shared

/// `keyservice`: the offshore key holder's daemon and its operator commands.
@main
struct KeyServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyservice",
        abstract: "SplitKey KeyService: holds per-user KEKs, wraps and unwraps data keys for authorised StorageNodes.",
        version: SplitKeyVersion.current,
        subcommands: [Serve.self, Migrate.self, PKI.self, InitRootKey.self, Audit.self, Admin.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the KeyService daemon (SIGHUP reloads certificates and policy, SIGTERM drains and exits)."
    )

    @Option(name: .long, help: "Path of the YAML config file.")
    var config: String

    func run() async throws {
        do {
            try await KeyServiceDaemon.run(configPath: config)
        } catch {
            // One line an operator can act on, instead of a stack of Swift error dumps.
            FileHandle.standardError.write(Data("keyservice: cannot start: \(error)\n".utf8))
            // A trail that does not match its head is EX_DATAERR, an unwritable one EX_IOERR.
            if let audit = error as? AuditError { throw ExitCode(audit.exitStatus) }
            throw ExitCode(78)  // EX_CONFIG: systemd will not loop on a config error faster than RestartSec
        }
    }
}

struct PKI: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Development PKI helpers.",
        subcommands: [Init.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a dev CA, certificates for every role, a root key and ready-to-run configs on loopback."
        )

        @Option(name: .long, help: "Folder to write into (created if missing).")
        var dir: String
        @Option(name: .long, help: "SPIFFE trust domain of every identity.")
        var trustDomain = "splitkey.local"
        @Option(name: .long, parsing: .upToNextOption, help: "Regions, one StorageNode identity each.")
        var regions: [String] = ["eu-west", "us-east"]
        @Option(name: .long, parsing: .upToNextOption, help: "Demo end users, one client certificate each.")
        var users: [String] = ["alice", "bob", "carol"]
        @Option(name: .long, help: "KeyService port in the written config.")
        var port = 8443
        @Option(name: .long, help: "Port of the first StorageNode; further regions count up from it.")
        var nodePort = 9443
        @Flag(name: .long, help: "Replace an existing dev PKI in --dir.")
        var force = false
        @Option(name: .long, help: "Write configs for KeyService replicas sharing this PostgreSQL database (postgres://USER@HOST:PORT/DB).")
        var postgres: String?
        @Option(name: .long, help: "Number of KeyService replicas with --postgres (ports count up from --port).")
        var replicas = 2

        func validate() throws {
            for region in regions where !Identifiers.isValidRegion(region) {
                throw ValidationError("'\(region)' is not a valid region (a-z, 0-9, '-', starting with a letter)")
            }
            for user in users where !Identifiers.isValidUserID(user) {
                throw ValidationError("'\(user)' is not a valid user id")
            }
            if let postgres {
                _ = try PostgresSettings.parse(url: postgres, key: "--postgres", path: "the command line")
                guard (1...16).contains(replicas) else { throw ValidationError("--replicas must be 1-16") }
            }
            guard SPIFFEID("spiffe://\(trustDomain)") != nil else {
                throw ValidationError("'\(trustDomain)' is not a valid SPIFFE trust domain (lower-case letters, digits, '-', '.', '_')")
            }
        }

        func run() throws {
            let dir = URL(fileURLWithPath: dir).standardizedFileURL.path
            let pki = DevPKI(
                directory: dir,
                trustDomain: trustDomain,
                regions: regions,
                users: users,
                keyServicePort: port,
                firstNodePort: nodePort,
                force: force,
                postgresURL: postgres,
                replicas: replicas
            )
            let written = try pki.write()
            print("Wrote a development PKI for trust domain \(trustDomain) to \(dir):")
            for item in written {
                print("  \(item.path.replacingOccurrences(of: dir + "/", with: ""))\t\(item.what)")
            }
            print("")
            if postgres != nil {
                print(
                    "Next: keyservice migrate --config \(dir)/keyservice-1.yaml, then keyservice serve --config \(dir)/keyservice-N.yaml for each replica"
                )
            } else {
                print("Next: keyservice serve --config \(dir)/keyservice.yaml")
            }
        }
    }
}

struct InitRootKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-root-key",
        abstract: "Create a new random 256-bit root key file (mode 0600); refuses to overwrite."
    )

    @Option(name: .long, help: "Path of the key file to create.")
    var out: String

    func run() throws {
        try RootKey.create(at: out)
        print("Wrote a new root key to \(out) (mode 0600). Keep a sealed backup: without it every KEK is lost.")
        print("Under systemd: systemd-creds encrypt --name=root-key \(out) /etc/credstore.encrypted/root-key")
    }
}
