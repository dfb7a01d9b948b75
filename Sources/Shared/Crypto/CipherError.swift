/// Failures of the project's cryptographic primitives.
///
/// Authentication failures deliberately carry no detail: an attacker probing with forged
/// ciphertexts learns only that the input did not verify.
public enum CipherError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The key is not 256 bits long.
    case invalidKeySize(Int)
    /// The nonce is not 96 bits long; SplitKey never uses other AES-GCM nonce sizes.
    case invalidNonceSize(Int)
    /// The tag is not 128 bits long.
    case invalidTagSize(Int)
    /// The ciphertext, its tag or its associated data did not verify.
    case authenticationFailed
    /// An HKDF request asked for more output than RFC 5869 allows (255 * 32 bytes).
    case invalidDerivedLength(Int)

    public var description: String {
        switch self {
        case .invalidKeySize(let n): "AES-256-GCM needs a 32-byte key, got \(n) bytes"
        case .invalidNonceSize(let n): "AES-GCM nonces must be 12 bytes, got \(n) bytes"
        case .invalidTagSize(let n): "AES-GCM tags must be 16 bytes, got \(n) bytes"
        case .authenticationFailed: "authentication failed: the data or its context was altered"
        case .invalidDerivedLength(let n): "HKDF-SHA-256 cannot derive \(n) bytes"
        }
    }
}
