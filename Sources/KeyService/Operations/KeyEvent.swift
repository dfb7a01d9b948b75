import Logging
import Metrics
import Shared

/// One operation, granted, refused or failed: the audit record and the structured log line
/// carry the same fields.
///
/// Every text field is bounded on the way in (``AuditField``): an event is built from
/// validated values where they exist and from hashes of what the caller sent where they do
/// not, so a refused request with a megabyte user id costs the trail a record of a few hundred
/// bytes. Field names follow the audit fields of the design (`SPLITKEY_OP`, `SPLITKEY_USER`, ...).
struct KeyEvent: Sendable {
    let op: OperationName
    private(set) var user: String
    private(set) var peer: String
    private(set) var region: String?
    private(set) var reason: String?
    var outcome: Outcome
    let requestID: String
    private(set) var detail: String?
    /// AWS request metadata of an XKS call, each value bounded.
    private(set) var aws: [String: String]?

    init(
        op: OperationName, user: String?, peer: String, region: String?, reason: String?, outcome: Outcome, requestID: String,
        detail: String? = nil
    ) {
        self.op = op
        self.user = AuditField.bounded(user ?? "-")
        self.peer = AuditField.bounded(peer)
        self.region = region.flatMap { $0.isEmpty ? nil : AuditField.bounded($0) }
        self.reason = reason.map(AuditField.bounded)
        self.outcome = outcome
        self.requestID = AuditField.bounded(requestID)
        self.detail = detail.map(AuditField.bounded)
    }

    /// Attaches the AWS metadata of an XKS call (names as in ``AuditRecord/aws``).
    mutating func attach(aws fields: [String: String]) {
        aws = fields.isEmpty ? nil : fields.mapValues(AuditField.bounded)
    }

    /// Marks the event refused (or failed) with the error code that ended it.
    mutating func end(_ outcome: Outcome, code: ErrorCode) {
        self.outcome = outcome
        self.detail = AuditField.bounded(code.rawValue)
    }

    func record(seq: UInt64, time: String, prev: String, replica: String?) -> AuditRecord {
        AuditRecord(
            seq: seq, time: time, op: op.rawValue, user: user, peer: peer, region: region, reason: reason, outcome: outcome.rawValue,
            requestId: requestID, detail: detail, replica: replica, aws: aws, prev: prev, mac: nil)
    }

    /// `kmsRequestId` -> `KMS_REQUEST_ID`: journald field names are upper case.
    static func journalName(_ camel: String) -> String {
        var out = ""
        for c in camel {
            if c.isUppercase, !out.isEmpty { out.append("_") }
            out.append(c.uppercased())
        }
        return out
    }

    func log(to logger: Logger) {
        Counter(label: "splitkey_key_operations_total", dimensions: [("op", op.rawValue), ("outcome", outcome.rawValue)]).increment()
        var metadata: Logger.Metadata = [
            "SPLITKEY_OP": .string(op.rawValue),
            "SPLITKEY_USER": .string(user),
            "SPLITKEY_PEER": .string(peer),
            "SPLITKEY_OUTCOME": .string(outcome.rawValue),
            "SPLITKEY_REQUEST_ID": .string(requestID),
        ]
        if let region { metadata["SPLITKEY_REGION"] = .string(region) }
        if let reason { metadata["SPLITKEY_REASON"] = .string(reason) }
        if let detail { metadata["detail"] = .string(detail) }
        for (name, value) in aws ?? [:] { metadata["SPLITKEY_AWS_" + Self.journalName(name)] = .string(value) }
        logger.notice("key operation", metadata: metadata)
    }
}
