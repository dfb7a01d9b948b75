import CSystemd
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A swift-log handler that writes native journald entries through `sd_journal_sendv`.
///
/// Each entry carries `MESSAGE`, `PRIORITY` (syslog levels mapped from the log level),
/// `SYSLOG_IDENTIFIER` (the logger's label), `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, and every
/// metadata key as a field of its own (see ``fieldName(_:)``), so operators filter with
/// `journalctl SPLITKEY_USER=alice` instead of grepping text. Entries whose metadata has
/// `SPLITKEY_OP` are key-operation audit events and get ``AuditMessageID/keyOperation`` as
/// `MESSAGE_ID`.
///
/// If journald cannot be reached (`sd_journal_sendv` fails), that entry goes to the readable
/// stderr handler instead, and the first such failure is explained there once: a log line must
/// never be lost silently.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }

        let fields = Self.fields(
            label: label,
            level: event.level,
            message: event.message.description,
            metadata: merged,
            file: event.file,
            function: event.function,
            line: event.line
        )
        let result = Self.send(fields)
        if result < 0 {
            Self.fallBack(event: event, label: label, level: logLevel, metadata: merged, errno: -result)
        }
    }

    /// The journal fields of one entry, each as `NAME=value`.
    static func fields(
        label: String,
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        file: String,
        function: String,
        line: UInt
    ) -> [String] {
        var fields = [
            "MESSAGE=\(message)",
            "PRIORITY=\(priority(level))",
            "SYSLOG_IDENTIFIER=\(label)",
            "CODE_FILE=\(file)",
            "CODE_LINE=\(line)",
            "CODE_FUNC=\(function)",
        ]
        if metadata[AuditMessageID.marker] != nil {
            fields.append("MESSAGE_ID=\(AuditMessageID.keyOperation)")
        }
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            fields.append("\(fieldName(key))=\(value)")
        }
        return fields
    }

    /// syslog priorities (`PRIORITY=`): 2 crit, 3 err, 4 warning, 5 notice, 6 info, 7 debug.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Fields the handler sets itself; a metadata key that maps onto one of them is prefixed
    /// with `META_` rather than overwrite it.
    static let reserved: Set<String> = [
        "MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
    ]

    /// A metadata key as a journal field name: upper-cased, every character other than A-Z and
    /// 0-9 turned into `_` (`request.id` -> `REQUEST_ID`, `SPLITKEY_OP` unchanged).
    ///
    /// journald drops fields whose names start with `_` (reserved for trusted fields) or a digit,
    /// or are longer than 64 characters, so such names get a `META_` prefix and are cut to 64.
    public static func fieldName(_ key: String) -> String {
        var name = String(
            key.uppercased().unicodeScalars.map { scalar -> Character in
                switch scalar {
                case "A"..."Z", "0"..."9": return Character(scalar)
                default: return "_"
                }
            }
        )
        if name.isEmpty || name.first == "_" || name.first!.isNumber || reserved.contains(name) {
            name = "META_" + name
        }
        return String(name.prefix(64))
    }

    /// Sends one entry; returns `sd_journal_sendv`'s result (negative errno on failure).
    ///
    /// All fields live in one byte buffer for the duration of the call, and the iovecs point into
    /// it; values may contain newlines (libsystemd then uses the binary-safe serialisation).
    static func send(_ fields: [String]) -> Int32 {
        var storage: [UInt8] = []
        var ranges: [(offset: Int, count: Int)] = []
        for field in fields {
            let start = storage.count
            storage.append(contentsOf: field.utf8)
            ranges.append((start, storage.count - start))
        }
        return storage.withUnsafeMutableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress else { return -EINVAL }
            let vectors = ranges.map { iovec(iov_base: base + $0.offset, iov_len: $0.count) }
            return vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }

    private static let explainedFallback = Atomic<Bool>(false)

    private static func fallBack(event: LogEvent, label: String, level: Logger.Level, metadata: Logger.Metadata, errno: Int32) {
        var stderrHandler = StreamLogHandler.standardError(label: label, metadataProvider: nil)
        stderrHandler.logLevel = level
        if !explainedFallback.exchange(true, ordering: .relaxed) {
            stderrHandler.log(
                event: LogEvent(
                    level: .warning,
                    message: "\(SystemdError.journalUnreachable(errno: errno))",
                    metadata: nil,
                    source: "Shared",
                    file: #fileID,
                    function: #function,
                    line: #line
                )
            )
        }
        stderrHandler.metadata = metadata
        stderrHandler.log(event: event)
    }
}
