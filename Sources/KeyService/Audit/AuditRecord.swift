import Crypto
import Foundation
import Shared

/// One line of the audit file: a key operation, granted or refused, chained to the line before.
///
/// `mac` = HMAC-SHA-256(audit key, `prev` | the record's canonical JSON without `mac`), and
/// `prev` is the previous record's `mac` (64 zeros for the first). Editing a record breaks its
/// `mac`; deleting or reordering records breaks the next record's `prev` and `seq`; cutting the
/// tail is caught against the head file, which names the last record written.
struct AuditRecord: Codable, Sendable, Equatable {
    var seq: UInt64
    var time: String
    var op: String
    var user: String
    var peer: String
    var region: String?
    var reason: String?
    var outcome: String
    var requestId: String
    var detail: String?
    var prev: String
    var mac: String?

    static let genesis = String(repeating: "0", count: 64)

    /// The bytes the MAC covers: sorted-key JSON of every field but `mac`.
    func macInput() throws -> Data {
        var copy = self
        copy.mac = nil
        return try Self.canonicalEncoder.encode(copy)
    }

    /// One configured encoder for every record; encoding does not mutate it.
    private static let canonicalEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    func computeMAC(key: SymmetricKey) throws -> String {
        Hex.encode(MessageAuthentication.hmacSHA256(key: key, Array(prev.utf8), Array(try macInput())))
    }

    func line() throws -> Data {
        try Self.canonicalEncoder.encode(self) + Data("\n".utf8)
    }
}

/// The head file beside the audit file: the sequence number and MAC of the last record, so a
/// verifier can tell a cut-off tail from a complete file.
struct AuditHead: Codable, Sendable {
    var seq: UInt64
    var mac: String
}

/// The audit key: from `$CREDENTIALS_DIRECTORY/audit-key`, else the configured file, else
/// derived from the root key (then only holders of the root key can verify).
enum AuditKey {
    static let credentialName = "audit-key"

    static func load(credentialsDirectory: String?, configuredFile: String?, rootKey: RootKey) throws(RootKeyError) -> (
        SymmetricKey, String
    ) {
        if let dir = credentialsDirectory, FileManager.default.fileExists(atPath: dir + "/" + credentialName) {
            return (try RootKey.load(credentialsDirectory: nil, configuredFile: dir + "/" + credentialName).key, dir + "/" + credentialName)
        }
        if let configuredFile {
            return (try RootKey.load(credentialsDirectory: nil, configuredFile: configuredFile).key, configuredFile)
        }
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: rootKey.key,
            info: Array("splitkey/audit-hmac/v1".utf8),
            outputByteCount: 32
        )
        return (derived, "derived from the root key")
    }
}
