import Crypto

/// Key material from the system CSPRNG (swift-crypto draws on BoringSSL's RNG).
public enum RandomBytes {
    public static func key256() -> SymmetricKey {
        SymmetricKey(size: .bits256)
    }

    public static func bytes(_ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        return SymmetricKey(size: SymmetricKeySize(bitCount: count * 8)).withUnsafeBytes { Array($0) }
    }
}

extension SymmetricKey {
    /// The raw bytes; call only where the key must leave memory in a protected form (wrapping,
    /// a response to an authorised peer).
    public var rawBytes: [UInt8] {
        withUnsafeBytes { Array($0) }
    }
}
