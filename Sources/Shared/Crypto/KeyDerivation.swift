import Crypto
import Foundation

/// HKDF-SHA-256 (RFC 5869), used to derive per-object keys from a data key.
public enum KeyDerivation {
    /// The largest output HKDF-SHA-256 may produce.
    public static let maximumOutputLength = 255 * 32

    public static func hkdfSHA256(
        inputKeyMaterial: SymmetricKey,
        salt: some DataProtocol,
        info: some DataProtocol,
        outputByteCount: Int
    ) throws(CipherError) -> SymmetricKey {
        guard outputByteCount > 0, outputByteCount <= maximumOutputLength else {
            throw .invalidDerivedLength(outputByteCount)
        }
        return HKDF<SHA256>.deriveKey(
            inputKeyMaterial: inputKeyMaterial,
            salt: salt,
            info: info,
            outputByteCount: outputByteCount
        )
    }
}
