/// The percent-encoding of SigV4 canonical requests (RFC 3986 section 2).
///
/// Works on UTF-8 bytes, not on `String` characters: a canonical request is a byte string, and
/// grapheme-level processing would merge a combining mark into the character before it.
enum SigV4Encoding {
    private static let upperHex = Array("0123456789ABCDEF".utf8)

    /// RFC 3986's unreserved characters, the only ones SigV4 leaves unencoded (besides `/` in paths).
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// A byte RFC 3986 allows unencoded in a path: unreserved, sub-delims, `:`, `@` and `/`.
    static func isPathCharacter(_ byte: UInt8) -> Bool {
        isUnreserved(byte) || Array("!$&'()*+,;=:@/".utf8).contains(byte)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Appends `byte` as `%XX` (upper-case hex).
    static func appendEscaped(_ byte: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "%"))
        out.append(upperHex[Int(byte >> 4)])
        out.append(upperHex[Int(byte & 0x0f)])
    }

    /// Every byte except the unreserved ones (and `/` when `keepSlash`) as `%XX`.
    static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes, keepSlash: Bool, into out: inout [UInt8]) {
        for byte in bytes {
            if isUnreserved(byte) || (keepSlash && byte == UInt8(ascii: "/")) {
                out.append(byte)
            } else {
                appendEscaped(byte, to: &out)
            }
        }
    }

    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out: [UInt8] = []
        encode(text.utf8, keepSlash: keepSlash, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes `%XX` escapes stand for. `+` stays `+` (SigV4 does not use form encoding), and a
    /// `%` without two hex digits after it is refused rather than guessed at, so two different
    /// wire forms never share one canonical form.
    static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes, part: String) throws(SigV4Error) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i != bytes.endIndex {
            let byte = bytes[i]
            bytes.formIndex(after: &i)
            guard byte == UInt8(ascii: "%") else {
                out.append(byte)
                continue
            }
            guard i != bytes.endIndex, let high = hexValue(bytes[i]) else { throw .invalidPercentEncoding(part) }
            bytes.formIndex(after: &i)
            guard i != bytes.endIndex, let low = hexValue(bytes[i]) else { throw .invalidPercentEncoding(part) }
            bytes.formIndex(after: &i)
            out.append(high << 4 | low)
        }
        return out
    }
}
