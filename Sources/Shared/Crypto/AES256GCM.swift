import Crypto
import Foundation

/// AES-256-GCM with 96-bit nonces and 128-bit tags, the only AEAD parameters SplitKey uses.
///
/// Every other key, nonce or tag size is refused up front so that no caller can drift into
/// a weaker mode (GHASH-derived nonces, truncated tags) by accident.
public enum AES256GCM {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16

    /// A sealed message: nonce, ciphertext and tag kept apart, as the formats store them.
    public struct Sealed: Sendable, Equatable {
        public var nonce: [UInt8]
        public var ciphertext: [UInt8]
        public var tag: [UInt8]

        public init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) {
            self.nonce = nonce
            self.ciphertext = ciphertext
            self.tag = tag
        }
    }

    /// Encrypts `plaintext` under `key`, with a fresh random nonce unless one is given.
    ///
    /// Pass an explicit nonce only where the format guarantees uniqueness (segment counters).
    public static func seal(
        _ plaintext: some DataProtocol,
        key: SymmetricKey,
        nonce: [UInt8]? = nil,
        authenticating aad: some DataProtocol
    ) throws(CipherError) -> Sealed {
        try checkKey(key)
        let gcmNonce: AES.GCM.Nonce
        if let nonce {
            gcmNonce = try makeNonce(nonce)
        } else {
            gcmNonce = AES.GCM.Nonce()
        }
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: gcmNonce, authenticating: aad)
            return Sealed(nonce: Array(gcmNonce), ciphertext: Array(box.ciphertext), tag: Array(box.tag))
        } catch {
            // Sealing with a checked key and nonce cannot fail short of a broken library.
            preconditionFailure("AES-GCM seal failed unexpectedly: \(error)")
        }
    }

    /// Decrypts and verifies; any altered byte of nonce, ciphertext, tag or `aad` fails.
    public static func open(
        _ sealed: Sealed,
        key: SymmetricKey,
        authenticating aad: some DataProtocol
    ) throws(CipherError) -> [UInt8] {
        try checkKey(key)
        let gcmNonce = try makeNonce(sealed.nonce)
        guard sealed.tag.count == tagSize else { throw .invalidTagSize(sealed.tag.count) }
        do {
            let box = try AES.GCM.SealedBox(nonce: gcmNonce, ciphertext: sealed.ciphertext, tag: sealed.tag)
            return Array(try AES.GCM.open(box, using: key, authenticating: aad))
        } catch {
            throw .authenticationFailed
        }
    }

    static func checkKey(_ key: SymmetricKey) throws(CipherError) {
        guard key.bitCount == keySize * 8 else { throw .invalidKeySize(key.bitCount / 8) }
    }

    static func makeNonce(_ bytes: [UInt8]) throws(CipherError) -> AES.GCM.Nonce {
        guard bytes.count == nonceSize else { throw .invalidNonceSize(bytes.count) }
        do {
            return try AES.GCM.Nonce(data: bytes)
        } catch {
            throw .invalidNonceSize(bytes.count)
        }
    }
}
