import Crypto
import Shared

extension KEKSealer {
    /// Associated data of a sealed external key: its own domain, so a sealed KEK copied into
    /// the external keys' table (or the other way round) does not open.
    static func associatedData(xksKeyID: String) -> [UInt8] {
        var w = ByteWriter()
        w.append(lengthPrefixed: "splitkey/sealed-xks-key/v1")
        w.append(lengthPrefixed: xksKeyID)
        return w.bytes
    }

    func seal(xksKey key: SymmetricKey, id: String) throws(CipherError) -> [UInt8] {
        let sealed = try AES256GCM.seal(key.rawBytes, key: rootKey.key, authenticating: Self.associatedData(xksKeyID: id))
        return sealed.nonce + sealed.ciphertext + sealed.tag
    }

    func open(xksKey blob: [UInt8], id: String) throws(CipherError) -> SymmetricKey {
        let (n, t) = (AES256GCM.nonceSize, AES256GCM.tagSize)
        guard blob.count == n + 32 + t else { throw .authenticationFailed }
        let raw = try AES256GCM.open(
            .init(nonce: Array(blob[0..<n]), ciphertext: Array(blob[n..<(blob.count - t)]), tag: Array(blob[(blob.count - t)...])),
            key: rootKey.key, authenticating: Self.associatedData(xksKeyID: id))
        return SymmetricKey(data: raw)
    }
}
