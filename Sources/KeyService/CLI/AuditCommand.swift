import ArgumentParser
import Foundation

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit trail tools.",
        subcommands: [Verify.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check an audit file's hash chain; exit 1 and name the first bad record if it was edited, reordered, cut or shortened."
        )

        @Argument(help: "The audit file (its head file FILE.head is used when present).")
        var file: String
        @Option(name: .long, help: "The audit HMAC key file (64 hex digits or 32 bytes), as given to the KeyService.")
        var keyFile: String

        func run() throws {
            let key = try RootKey.load(credentialsDirectory: nil, configuredFile: keyFile).key
            let head = file + ".head"
            let outcome = try AuditVerifier(key: key).verify(
                file: file,
                head: FileManager.default.fileExists(atPath: head) ? head : nil
            )
            print("\(file): \(outcome)")
            if case .broken = outcome { throw ExitCode(1) }
        }
    }
}
