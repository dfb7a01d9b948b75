import Shared
import Testing

@testable import StorageNode

/// The object-key rules, checked on the key's UTF-8 bytes.
///
/// Swift compares and splits `String`s by grapheme cluster, so a `/` or `.` followed by a
/// combining mark (U+0301) is one character that is neither `/` nor `.`: a split on characters
/// used to let `a/../\u{0301}b` through although its bytes hold a `..` segment between slashes.
struct ObjectKeyRuleTests {
    func refused(_ key: String) -> Bool {
        do {
            try ObjectKey.validate(key)
            return false
        } catch {
            return error.code == .invalidKey
        }
    }

    @Test(arguments: [
        "a/../\u{0301}b", "/\u{0301}x", "a//\u{0301}b", "a/./\u{0301}b", "a/.\u{0301}/../b",
    ])
    func combiningMarksDoNotHideSeparators(_ key: String) {
        #expect(refused(key), "\(key.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test(arguments: [
        "", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "./a", "a/..", "a\u{0}b", "a\u{1f}b", "a\u{7f}b", "a\nb",
        String(repeating: "x", count: 1025),
    ])
    func existingRulesStillRefuse(_ key: String) {
        #expect(refused(key), "\(key.prefix(40))")
    }

    @Test(arguments: [
        "a", "notes/diary.txt", "a/b/c", "...", ".a", "a.", "a/.b/..c", "\u{0301}", "é/\u{0301}x", "x/\u{0301}", "日本/語",
        String(repeating: "x", count: 1024),
    ])
    func validKeysPass(_ key: String) {
        #expect(!refused(key), "\(key.prefix(40))")
    }
}
