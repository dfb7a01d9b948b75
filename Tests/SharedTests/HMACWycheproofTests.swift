import Crypto
import Foundation
import Shared
import Testing

/// HMAC-SHA-256 (the audit chain's MAC) against every Wycheproof vector: 32-byte and truncated
/// 16-byte tags, keys of 16, 32 and 65 bytes, and the modified tags that must be refused.
struct HMACWycheproofTests {
    struct Group: Decodable, Sendable {
        var keySize: Int
        var tagSize: Int
        var tests: [Vector]
    }

    struct Vector: Decodable, Sendable {
        var tcId: Int
        var key: String
        var msg: String
        var tag: String
        var result: String
    }

    @Test func everyVectorGivesItsExpectedResult() throws {
        let file = try Wycheproof.load("hmac_sha256_test.json", as: Group.self)
        var checked = 0
        var invalid = 0
        for group in file.testGroups {
            for v in group.tests {
                let key = SymmetricKey(data: [UInt8](wycheproofHex: v.key))
                let tag = [UInt8](wycheproofHex: v.tag)
                let accepted = MessageAuthentication.isValidHMACSHA256(tag: tag, key: key, message: [UInt8](wycheproofHex: v.msg))
                #expect(accepted == (v.result == "valid"), "tcId \(v.tcId) (\(v.result))")
                if v.result == "valid" && group.tagSize == 256 {
                    // The full tag is what the audit file stores.
                    #expect(MessageAuthentication.hmacSHA256(key: key, [UInt8](wycheproofHex: v.msg)) == tag, "tcId \(v.tcId)")
                }
                if v.result != "valid" { invalid += 1 }
                checked += 1
            }
        }
        #expect(checked == file.numberOfTests)
        #expect(invalid == 108)
    }

    @Test func tagsOutsideSixteenToThirtyTwoBytesAreRefused() {
        let key = SymmetricKey(data: [UInt8](repeating: 7, count: 32))
        let full = MessageAuthentication.hmacSHA256(key: key, [1, 2, 3])
        #expect(MessageAuthentication.isValidHMACSHA256(tag: full, key: key, message: [1, 2, 3]))
        #expect(!MessageAuthentication.isValidHMACSHA256(tag: Array(full.prefix(15)), key: key, message: [1, 2, 3]))
        #expect(!MessageAuthentication.isValidHMACSHA256(tag: [], key: key, message: [1, 2, 3]))
        #expect(!MessageAuthentication.isValidHMACSHA256(tag: full + [0], key: key, message: [1, 2, 3]))
    }
}
