import Crypto
import Shared

/// Seals user KEKs under the root key for storage, and opens them again.
///
/// Sealed form: nonce (12) || ciphertext (32) || tag (16), AES-256-GCM. The associated data binds
/// the user id and the KEK version, so a sealed KEK swapped between rows, users or versions in the
/// database fails to open instead of silently serving the wrong user's key.
struct KEKSealer: Sendable {
    let rootKey: RootKey

    static func associatedData(userID: String, version: UInt32) -> [UInt8] {
        var w = ByteWriter()
        w.append(lengthPrefixed: "splitkey/sealed-kek/v1")
        w.append(lengthPrefixed: userID)
        w.append(version)
        return w.bytes
    }

    func seal(kek: SymmetricKey, userID: String, version: UInt32) throws(CipherError) -> [UInt8] {
        let sealed = try AES256GCM.seal(
            kek.rawBytes,
            key: rootKey.key,
            authenticating: Self.associatedData(userID: userID, version: version)
        )
        return sealed.nonce + sealed.ciphertext + sealed.tag
    }

    func open(_ blob: [UInt8], userID: String, version: UInt32) throws(CipherError) -> SymmetricKey {
        let n = AES256GCM.nonceSize
        let t = AES256GCM.tagSize
        guard blob.count == n + 32 + t else { throw .authenticationFailed }
        let sealed = AES256GCM.Sealed(
            nonce: Array(blob[0..<n]),
            ciphertext: Array(blob[n..<(blob.count - t)]),
            tag: Array(blob[(blob.count - t)...])
        )
        let raw = try AES256GCM.open(sealed, key: rootKey.key, authenticating: Self.associatedData(userID: userID, version: version))
        return SymmetricKey(data: raw)
    }

    /// A fixed record sealed under the root key at first start; opening it later proves the
    /// configured root key is the one this database was made with.
    static let keyCheckPlaintext = Array("splitkey root key check v1".utf8)

    func makeKeyCheck() throws(CipherError) -> [UInt8] {
        let s = try AES256GCM.seal(Self.keyCheckPlaintext, key: rootKey.key, authenticating: Array("splitkey/key-check".utf8))
        return s.nonce + s.ciphertext + s.tag
    }

    func verifyKeyCheck(_ blob: [UInt8]) -> Bool {
        let n = AES256GCM.nonceSize
        let t = AES256GCM.tagSize
        guard blob.count > n + t else { return false }
        let sealed = AES256GCM.Sealed(
            nonce: Array(blob[0..<n]),
            ciphertext: Array(blob[n..<(blob.count - t)]),
            tag: Array(blob[(blob.count - t)...])
        )
        return (try? AES256GCM.open(sealed, key: rootKey.key, authenticating: Array("splitkey/key-check".utf8)))
            == Self.keyCheckPlaintext
    }
}
