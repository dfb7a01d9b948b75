import Logging

/// Log output for the daemons and CLIs: stderr, with structured metadata as `key=value`.
///
/// Native journald output (structured fields) replaces this under systemd; see the systemd issue.
public enum LogSetup {
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
