import Crypto
import Foundation
import Shared

/// The KeyService's root key: 256 bits that seal every user KEK in the database.
///
/// It is read at start from `$CREDENTIALS_DIRECTORY/root-key` (so systemd's
/// `LoadCredentialEncrypted=` can keep it sealed by a TPM or the host key) or, failing that,
/// from the configured file. It is never written to the database, never logged and never sent;
/// its `description` is redacted so string interpolation cannot leak it.
struct RootKey: Sendable, CustomStringConvertible {
    static let credentialName = "root-key"
    let key: SymmetricKey
    /// Where it came from, for the start-up log line.
    let origin: String

    var description: String { "RootKey(<redacted>, from \(origin))" }

    /// Accepts exactly 32 raw bytes, or 64 hex digits with an optional trailing newline.
    static func load(credentialsDirectory: String?, configuredFile: String?) throws(RootKeyError) -> RootKey {
        let path: String
        if let dir = credentialsDirectory, FileManager.default.fileExists(atPath: dir + "/" + credentialName) {
            path = dir + "/" + credentialName
        } else if let configuredFile {
            path = configuredFile
        } else {
            throw .notConfigured
        }
        let bytes: [UInt8]
        do {
            bytes = try SecretFile.read(path)
        } catch {
            throw .unusable(path, error.description)
        }
        return RootKey(key: try decode(bytes, path: path), origin: path)
    }

    static func decode(_ bytes: [UInt8], path: String) throws(RootKeyError) -> SymmetricKey {
        if bytes.count == 32 { return SymmetricKey(data: bytes) }
        var text = bytes
        while let last = text.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { text.removeLast() }
        if text.count == 64, let raw = [UInt8](hex: String(decoding: text, as: UTF8.self)) {
            return SymmetricKey(data: raw)
        }
        throw .unusable(path, "expected 32 raw bytes or 64 hex digits, found \(bytes.count) bytes (a short or damaged key)")
    }

    /// Creates a new random root key file with mode 0600, as 64 hex digits and a newline.
    static func create(at path: String) throws(SecretFileError) {
        let hex = RandomBytes.bytes(32).hexString + "\n"
        try SecretFile.write(Array(hex.utf8), to: path)
    }
}

enum RootKeyError: Error, Sendable, CustomStringConvertible {
    case notConfigured
    case unusable(String, String)
    case mismatch

    var description: String {
        switch self {
        case .notConfigured:
            "no root key: set rootKeyFile in the config or provide the systemd credential '\(RootKey.credentialName)'"
        case .unusable(let path, let why): "root key \(path) cannot be used: \(why)"
        case .mismatch:
            "the root key does not open this database's key-check record: wrong root key for this state directory"
        }
    }
}
