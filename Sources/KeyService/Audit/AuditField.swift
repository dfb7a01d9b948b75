import Crypto
import Shared

/// Bounds on what one audit record may carry, so that no request can make the trail (or
/// journald) store more than a bounded record, whatever it sends.
enum AuditField {
    /// Longest field kept as it is; user ids are at most 128 bytes, SPIFFE IDs at most 2,048
    /// by spec but ours are short, request ids 16.
    static let maximumLength = 160

    /// `text` if it is short and printable ASCII-safe, else `sha256:HEX len=N`: an auditor can
    /// still match a known value against it, and the record stays under 1 KiB.
    static func bounded(_ text: String) -> String {
        let bytes = Array(text.utf8)
        if bytes.count <= maximumLength, bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7f }) {
            return text
        }
        return "sha256:\(Hex.encode(Array(SHA256.hash(data: bytes)))) len=\(bytes.count)"
    }
}
