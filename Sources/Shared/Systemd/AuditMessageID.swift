/// The journald `MESSAGE_ID` of every key-operation event, granted or refused.
///
/// A fixed 128-bit id (32 lower-case hex digits, as `journalctl --new-id128` prints) lets an
/// operator select the audit events alone, whatever the message text says:
/// `journalctl MESSAGE_ID=0764fb217a6849bd8c7b677310d90581 SPLITKEY_OUTCOME=refused`.
/// It must never change: saved queries and alerting rules depend on it.
public enum AuditMessageID {
    public static let keyOperation = "0764fb217a6849bd8c7b677310d90581"

    /// The metadata key that marks a log entry as a key-operation event.
    public static let marker = "SPLITKEY_OP"
}
