import ArgumentParser
import Foundation

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit trail tools.",
        subcommands: [Verify.self, Repair.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check audit trails (every segment and its authenticated head), one per replica; exit 1 and name the first bad record if one was edited, reordered, cut or shortened, or if two trails name the same replica."
        )

        @Argument(
            help:
                "Each replica's current audit file; rotated segments FILE.<seq> and the head FILE.head beside each are read too.")
        var files: [String]
        @Option(name: .long, help: "The audit HMAC key file (64 hex digits or 32 bytes), as given to the KeyService.")
        var keyFile: String
        @Flag(name: .long, help: "Accept a trail whose head file is missing or not sealed under the key (a cut tail then goes unnoticed).")
        var allowMissingHead = false

        func run() throws {
            let key = try RootKey.load(credentialsDirectory: nil, configuredFile: keyFile).key
            var failed = false
            var replicas: [String: String] = [:]
            for file in files {
                let outcome = try AuditVerifier(key: key).verify(file: file, allowMissingHead: allowMissingHead)
                print("\(file): \(outcome)")
                switch outcome {
                case .broken: failed = true
                case .intact(_, _, _, let replica?):
                    if let other = replicas[replica] {
                        print("\(file): names replica \(replica), as \(other) does: each replica must keep its own trail")
                        failed = true
                    }
                    replicas[replica] = file
                case .intact: break
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    /// The operator's way back after a refused start: only a trail whose records all verify gets
    /// a new head, and a torn last line is cut only when asked.
    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Verify the whole trail and write a new authenticated head naming its last record (run with the KeyService stopped)."
        )

        @Argument(help: "The current audit file.")
        var file: String
        @Option(name: .long, help: "The audit HMAC key file.")
        var keyFile: String
        @Flag(name: .long, help: "Cut an incomplete last record (left by a crash mid-write) before resealing.")
        var cutTornTail = false

        func run() throws {
            let key = try RootKey.load(credentialsDirectory: nil, configuredFile: keyFile).key
            let walk = try AuditVerifier(key: key).walk(file: file, allowMissingHead: true, tolerateTornTail: cutTornTail)
            guard case .intact = walk.outcome else {
                print("\(file): \(walk.outcome); not repaired")
                throw ExitCode(1)
            }
            if let torn = walk.tornAt {
                guard truncate(torn.path, off_t(torn.offset)) == 0 else {
                    print("cannot cut \(torn.path) at byte \(torn.offset): \(String(cString: strerror(errno)))")
                    throw ExitCode(74)
                }
                print("cut the incomplete record at byte \(torn.offset) of \(torn.path)")
            }
            let headFile = try AuditHeadFile(path: AuditSegments(current: file).head)
            defer { headFile.close() }
            try headFile.write(walk.end.head, key: key, sync: true)
            print("\(file): \(walk.outcome); head now names record \(walk.end.seq)")
        }
    }
}
