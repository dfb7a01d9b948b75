import Foundation
import Logging

/// Log output for the daemons and CLIs: native journald entries with structured fields under
/// systemd, otherwise stderr with structured metadata as `key=value`.
///
/// `SPLITKEY_LOG=journal` or `SPLITKEY_LOG=stderr` forces a destination; without it the journal
/// is chosen when systemd connected stderr to it (`$JOURNAL_STREAM` names stderr's device and
/// inode, see systemd.exec(5)), so `keyservice serve` run by hand, piped or redirected still
/// writes readable lines. The journal handler falls back to stderr per entry if journald is gone.
public enum LogSetup {
    public enum Destination: String, Sendable {
        case journal
        case stderr
    }

    public static func bootstrap(level: Logger.Level) {
        let destination = destination(environment: ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { label in
            switch destination {
            case .journal:
                var handler = JournaldLogHandler(label: label)
                handler.logLevel = level
                return handler
            case .stderr:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }

    /// Where logs go for this environment; an unknown `SPLITKEY_LOG` is reported on stderr and
    /// treated as unset.
    public static func destination(environment: [String: String]) -> Destination {
        if let forced = environment["SPLITKEY_LOG"], !forced.isEmpty {
            if let destination = Destination(rawValue: forced) { return destination }
            FileHandle.standardError.write(
                Data("SPLITKEY_LOG='\(forced)' is neither 'journal' nor 'stderr'; choosing by JOURNAL_STREAM\n".utf8)
            )
        }
        return stderrIsJournal(environment["JOURNAL_STREAM"]) ? .journal : .stderr
    }

    /// Whether `journalStream` (`DEVICE:INODE`, both decimal) is the file open as stderr: systemd
    /// sets it for a unit whose output goes to the journal, and it stays in the environment of
    /// children whose stderr was redirected elsewhere, so the identity check is what counts.
    public static func stderrIsJournal(_ journalStream: String?) -> Bool {
        guard let parts = journalStream?.split(separator: ":"), parts.count == 2,
            let device = UInt64(parts[0]), let inode = UInt64(parts[1])
        else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
