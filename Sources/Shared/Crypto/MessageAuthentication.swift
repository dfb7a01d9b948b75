import Crypto

/// HMAC-SHA-256, the MAC of the audit chain.
///
/// Checked against every Wycheproof HMAC-SHA-256 vector (full and truncated tags), so the chain's
/// integrity rests on a primitive tested the same way as AES-GCM and HKDF.
public enum MessageAuthentication {
    /// The full 32-byte tag over the concatenation of `parts`.
    public static func hmacSHA256(key: SymmetricKey, _ parts: [UInt8]...) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: key)
        for part in parts { hmac.update(data: part) }
        return Array(hmac.finalize())
    }

    /// Whether `tag` is the HMAC-SHA-256 of `message`, truncated to `tag.count` bytes. Refuses
    /// tags shorter than 16 bytes (RFC 2104 section 5: at least half the hash) or longer than 32,
    /// and compares in constant time.
    public static func isValidHMACSHA256(tag: [UInt8], key: SymmetricKey, message: [UInt8]) -> Bool {
        guard (16...32).contains(tag.count) else { return false }
        return constantTimeEqual(Array(hmacSHA256(key: key, message).prefix(tag.count)), tag)
    }

    /// Whether two byte strings are equal, in time that depends only on their lengths, so a
    /// comparison of a secret tag leaks nothing about where it first differs.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
