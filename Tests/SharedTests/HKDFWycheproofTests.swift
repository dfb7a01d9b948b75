import Crypto
import Foundation
import Shared
import Testing

struct HKDFWycheproofTests {
    struct Group: Decodable, Sendable {
        var keySize: Int
        var tests: [Vector]
    }

    struct Vector: Decodable, Sendable {
        var tcId: Int
        var ikm: String
        var salt: String
        var info: String
        var size: Int
        var okm: String
        var result: String
    }

    @Test func everyVectorGivesItsExpectedResult() throws {
        let file = try Wycheproof.load("hkdf_sha256_test.json", as: Group.self)
        var checked = 0
        var invalid = 0
        for group in file.testGroups {
            for v in group.tests {
                let derived = try? KeyDerivation.hkdfSHA256(
                    inputKeyMaterial: SymmetricKey(data: [UInt8](wycheproofHex: v.ikm)),
                    salt: [UInt8](wycheproofHex: v.salt),
                    info: [UInt8](wycheproofHex: v.info),
                    outputByteCount: v.size
                )
                if v.result == "valid" {
                    #expect(derived?.rawBytes == [UInt8](wycheproofHex: v.okm), "tcId \(v.tcId)")
                } else {
                    #expect(derived == nil, "tcId \(v.tcId) must be refused")
                    invalid += 1
                }
                checked += 1
            }
        }
        #expect(checked == file.numberOfTests)
        #expect(invalid == 3)
    }
}
