import Crypto
import Foundation
import Shared

/// The XKS spec's AES-GCM construction, under one external key.
///
/// The AES-GCM associated data is `len16(aad) || aad || len8(metadata) || metadata`
/// (big-endian lengths), so a caller cannot move bytes between its AAD and the ciphertext
/// metadata and still decrypt. The metadata this proxy returns is one format byte; a
/// future construction gets another byte, and decrypt picks the construction by it.
enum XKSCipher {
    /// `ciphertextMetadata` of every ciphertext this proxy makes: construction 1 (the spec's
    /// length-prefixed AAD, 12-byte IV).
    static let metadataV1: [UInt8] = [0x01]

    struct Encrypted: Sendable, Equatable {
        var iv: [UInt8]
        var ciphertext: [UInt8]
        var tag: [UInt8]
        var metadata: [UInt8]
    }

    static func gcmAAD(aad: [UInt8], metadata: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(3 + aad.count + metadata.count)
        out.append(UInt8(truncatingIfNeeded: aad.count >> 8))
        out.append(UInt8(truncatingIfNeeded: aad.count))
        out += aad
        out.append(UInt8(truncatingIfNeeded: metadata.count))
        out += metadata
        return out
    }

    /// `aad` is at most ``XKSAPI/maximumAADBytes`` (the caller validated it), so its length fits 16 bits.
    static func encrypt(_ plaintext: [UInt8], aad: [UInt8], key: SymmetricKey) throws(CipherError) -> Encrypted {
        let sealed = try AES256GCM.seal(plaintext, key: key, authenticating: gcmAAD(aad: aad, metadata: metadataV1))
        return Encrypted(iv: sealed.nonce, ciphertext: sealed.ciphertext, tag: sealed.tag, metadata: metadataV1)
    }

    /// Any altered bit of IV, ciphertext, tag, AAD or metadata fails with `.authenticationFailed`.
    static func decrypt(_ encrypted: Encrypted, aad: [UInt8], key: SymmetricKey) throws(CipherError) -> [UInt8] {
        guard encrypted.metadata == metadataV1 else { throw .authenticationFailed }
        guard encrypted.iv.count == AES256GCM.nonceSize else { throw .authenticationFailed }
        return try AES256GCM.open(
            .init(nonce: encrypted.iv, ciphertext: encrypted.ciphertext, tag: encrypted.tag), key: key,
            authenticating: gcmAAD(aad: aad, metadata: encrypted.metadata))
    }

    /// The ciphertext data integrity value (spec appendix C): SHA-256 over
    /// `aad || metadata || iv || ciphertext || tag`, without lengths.
    static func integrityValue(_ encrypted: Encrypted, aad: [UInt8]) -> [UInt8] {
        var hash = SHA256()
        hash.update(data: aad)
        hash.update(data: encrypted.metadata)
        hash.update(data: encrypted.iv)
        hash.update(data: encrypted.ciphertext)
        hash.update(data: encrypted.tag)
        return Array(hash.finalize())
    }
}
