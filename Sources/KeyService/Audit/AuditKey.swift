import Crypto
import Foundation

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
