import Foundation
import Shared

/// Object names, as clients send them in the path after `/v1/objects/`.
///
/// The rules: valid UTF-8 after percent-decoding, 1...1024 bytes, no NUL or other control
/// characters, no empty, `.` or `..` path segments, no leading `/`. Keys are never used as file
/// names (blobs have random names), but the rules keep listings and mirrors to file systems sane.
enum ObjectKey {
    static let maximumLength = 1024

    static func parse(rawPath: Substring) throws(APIError) -> String {
        guard let decoded = String(rawPath).removingPercentEncoding else {
            throw APIError.badRequest("object key is not valid percent-encoded UTF-8", code: "invalid_key")
        }
        try validate(decoded)
        return decoded
    }

    static func validate(_ key: String) throws(APIError) {
        guard (1...maximumLength).contains(key.utf8.count) else {
            throw APIError.badRequest("object key must be 1-\(maximumLength) bytes of UTF-8", code: "invalid_key")
        }
        guard !key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw APIError.badRequest("object key must not contain NUL or control characters", code: "invalid_key")
        }
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty, segment != ".", segment != ".." else {
                throw APIError.badRequest("object key must not have empty, '.' or '..' segments", code: "invalid_key")
            }
        }
    }
}
