import Crypto
import Foundation
import Shared
import Testing

struct AES256GCMWycheproofTests {
    struct Group: Decodable, Sendable {
        var ivSize: Int
        var keySize: Int
        var tagSize: Int
        var tests: [Vector]
    }

    struct Vector: Decodable, Sendable {
        var tcId: Int
        var key: String
        var iv: String
        var aad: String
        var msg: String
        var ct: String
        var tag: String
        var result: String
    }

    static let file = try! Wycheproof.load("aes_gcm_test.json", as: Group.self)

    @Test func everyVectorIsCounted() {
        let count = Self.file.testGroups.reduce(0) { $0 + $1.tests.count }
        #expect(count == Self.file.numberOfTests)
        #expect(count == 316)
    }

    /// 256-bit key, 96-bit nonce, 128-bit tag: the parameters SplitKey uses. Valid vectors seal
    /// to the expected bytes and open; invalid ones never open.
    @Test func supportedParametersGiveExpectedResults() throws {
        var checked = 0
        for group in Self.file.testGroups where group.keySize == 256 && group.ivSize == 96 && group.tagSize == 128 {
            for v in group.tests {
                let key = SymmetricKey(data: [UInt8](wycheproofHex: v.key))
                let iv = [UInt8](wycheproofHex: v.iv)
                let aad = [UInt8](wycheproofHex: v.aad)
                let sealed = AES256GCM.Sealed(nonce: iv, ciphertext: [UInt8](wycheproofHex: v.ct), tag: [UInt8](wycheproofHex: v.tag))
                let opened = try? AES256GCM.open(sealed, key: key, authenticating: aad)
                if v.result == "valid" {
                    #expect(opened == [UInt8](wycheproofHex: v.msg), "tcId \(v.tcId) should open")
                    let resealed = try AES256GCM.seal([UInt8](wycheproofHex: v.msg), key: key, nonce: iv, authenticating: aad)
                    #expect(resealed == sealed, "tcId \(v.tcId) should seal to the vector")
                } else {
                    #expect(opened == nil, "tcId \(v.tcId) must not open")
                }
                checked += 1
            }
        }
        #expect(checked == 66)
    }

    /// Every other nonce size, key size or tag size is refused by the API, never accepted.
    @Test func unsupportedParametersAreRefused() {
        var refused = 0
        for group in Self.file.testGroups where !(group.keySize == 256 && group.ivSize == 96 && group.tagSize == 128) {
            for v in group.tests {
                let key = SymmetricKey(data: [UInt8](wycheproofHex: v.key))
                let iv = [UInt8](wycheproofHex: v.iv)
                let sealed = AES256GCM.Sealed(nonce: iv, ciphertext: [UInt8](wycheproofHex: v.ct), tag: [UInt8](wycheproofHex: v.tag))
                let expected: CipherError = group.keySize != 256 ? .invalidKeySize(group.keySize / 8) : .invalidNonceSize(iv.count)
                #expect(throws: expected, "tcId \(v.tcId)") {
                    try AES256GCM.open(sealed, key: key, authenticating: [UInt8](wycheproofHex: v.aad))
                }
                #expect(throws: expected, "tcId \(v.tcId)") {
                    try AES256GCM.seal([UInt8](wycheproofHex: v.msg), key: key, nonce: iv, authenticating: [UInt8]())
                }
                refused += 1
            }
        }
        #expect(refused == 316 - 66)
    }

    @Test func randomNoncesDiffer() throws {
        let key = SymmetricKey(size: .bits256)
        let a = try AES256GCM.seal([1, 2, 3], key: key, authenticating: [UInt8]())
        let b = try AES256GCM.seal([1, 2, 3], key: key, authenticating: [UInt8]())
        #expect(a.nonce != b.nonce)
        #expect(a.nonce.count == 12)
    }
}
