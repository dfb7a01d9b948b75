import Logging
import Metrics

/// One structured log line per key operation, granted or refused.
///
/// Field names follow the audit fields of the design (`SPLITKEY_OP`, `SPLITKEY_USER`, ...) so the
/// journald and audit-chain work can reuse them unchanged.
struct KeyEvent: Sendable {
    var op: String
    var user: String
    var peer: String
    var region: String?
    var reason: String?
    var outcome: String
    var requestID: String
    var detail: String?

    func log(to logger: Logger) {
        Counter(label: "splitkey_key_operations_total", dimensions: [("op", op), ("outcome", outcome)]).increment()
        var metadata: Logger.Metadata = [
            "SPLITKEY_OP": .string(op),
            "SPLITKEY_USER": .string(user),
            "SPLITKEY_PEER": .string(peer),
            "SPLITKEY_OUTCOME": .string(outcome),
            "SPLITKEY_REQUEST_ID": .string(requestID),
        ]
        if let region, !region.isEmpty { metadata["SPLITKEY_REGION"] = .string(region) }
        if let reason { metadata["SPLITKEY_REASON"] = .string(reason) }
        if let detail { metadata["detail"] = .string(detail) }
        logger.notice("key operation", metadata: metadata)
    }
}
