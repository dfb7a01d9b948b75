import Logging
import Synchronization

/// A logger whose records a test can read back: to count what code under test logged (retries,
/// error answers) and to check what it did not log. Records every level.
public final class RecordedLog: Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let store = Mutex<[Entry]>([])

    public init() {}

    public var logger: Logger {
        var logger = Logger(label: "test.recorded") { _ in Handler(log: self) }
        logger.logLevel = .trace
        return logger
    }

    public var entries: [Entry] { store.withLock { $0 } }

    /// The entries whose message is `message`.
    public func entries(_ message: String) -> [Entry] { entries.filter { $0.message == message } }

    fileprivate func append(_ entry: Entry) { store.withLock { $0.append(entry) } }

    private struct Handler: LogHandler {
        let log: RecordedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            all.merge(event.metadata ?? [:]) { _, new in new }
            log.append(Entry(level: event.level, message: "\(event.message)", metadata: all.mapValues { "\($0)" }))
        }
    }
}
