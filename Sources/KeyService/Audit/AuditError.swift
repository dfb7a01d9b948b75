/// Why the audit trail cannot be written, or why the KeyService refuses to resume it.
///
/// The resume errors stop the daemon with `EX_DATAERR` (65): each is a trail that does not match
/// what the daemon last wrote, which an operator must look at (``AuditVerifier``) before any
/// further key operation is recorded after it.
enum AuditError: Error, Sendable, CustomStringConvertible {
    case unwritable(String, String)
    case unreadable(String, String)
    /// The head file is not a head sealed under this audit key.
    case headInvalid(String)
    /// A non-empty trail without its head: records may have been cut with the head removed.
    case headMissing(String)
    /// The trail does not reach, or does not match, the record the head names.
    case tailMismatch(String, String)
    /// The last line of the trail is incomplete (a crash mid-write, or an edit).
    case tornTail(String, offset: UInt64)
    /// A record that does not chain, does not verify or is not in canonical form.
    case broken(String, String)
    /// An earlier write failed and could not be cut back; nothing more is appended until restart.
    case wedged

    var description: String {
        switch self {
        case .unwritable(let path, let why): "audit file \(path) cannot be written: \(why)"
        case .unreadable(let path, let why): "audit file \(path) cannot be read: \(why)"
        case .headInvalid(let path):
            "audit head \(path) is not sealed under this audit key (edited, replaced, or from another key); "
                + "check the trail with `keyservice audit verify`, then reseal it with `keyservice audit repair`"
        case .headMissing(let path):
            "audit trail \(path) has records but its head file \(path).head is missing, so a cut tail could not be "
                + "detected; check it with `keyservice audit verify --allow-missing-head`, then `keyservice audit repair`"
        case .tailMismatch(let path, let why):
            "audit trail \(path) does not match its head (\(why)): records were cut or replaced; "
                + "check it with `keyservice audit verify`; the daemon will not append to it"
        case .tornTail(let path, let offset):
            "audit trail \(path) ends in an incomplete record at byte \(offset) (a crash mid-write or an edit); "
                + "check it with `keyservice audit verify`, then cut it with `keyservice audit repair --cut-torn-tail`"
        case .broken(let path, let why): "audit trail \(path) is broken: \(why)"
        case .wedged:
            "an audit write failed and the partial batch could not be cut back; key operations are refused until restart"
        }
    }

    /// `sysexits.h` status for a refused start: EX_DATAERR for a trail that does not match,
    /// EX_IOERR for one that cannot be read or written.
    var exitStatus: Int32 {
        switch self {
        case .unwritable, .unreadable, .wedged: 74
        case .headInvalid, .headMissing, .tailMismatch, .tornTail, .broken: 65
        }
    }
}
