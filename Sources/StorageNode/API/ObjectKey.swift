import Foundation
import Shared

/// Object names, as clients send them in the path after `/v1/objects/`.
///
/// The rules: valid UTF-8 after percent-decoding, 1...1024 bytes, no NUL or other control
/// characters, no empty, `.` or `..` path segments, no leading `/`. Keys are never used as file
/// names (blobs have random names), but the rules keep listings and mirrors to file systems sane.
///
/// Every rule is checked on the key's UTF-8 bytes (or scalars), never on `Character`s: Swift
/// splits and compares strings by grapheme cluster, so `/` or `.` followed by a combining mark
/// (`/\u{0301}`) is one character equal to neither, and `a/../\u{0301}b` would pass a split on
/// characters although a file system or a mirror sees a `..` segment in it.
enum ObjectKey {
    static let maximumLength = 1024

    static func parse(rawPath: Substring) throws(APIError) -> String {
        guard let decoded = String(rawPath).removingPercentEncoding else {
            throw APIError.badRequest("object key is not valid percent-encoded UTF-8", code: .invalidKey)
        }
        try validate(decoded)
        return decoded
    }

    static func validate(_ key: String) throws(APIError) {
        guard (1...maximumLength).contains(key.utf8.count) else {
            throw APIError.badRequest("object key must be 1-\(maximumLength) bytes of UTF-8", code: .invalidKey)
        }
        guard !key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw APIError.badRequest("object key must not contain NUL or control characters", code: .invalidKey)
        }
        let dot = UInt8(ascii: ".")
        for segment in key.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard !segment.isEmpty, !segment.elementsEqual([dot]), !segment.elementsEqual([dot, dot]) else {
                throw APIError.badRequest("object key must not have empty, '.' or '..' segments", code: .invalidKey)
            }
        }
    }
}
