import Crypto
import Foundation
import Shared
import Testing

struct WrappedKeyFormatTests {
    let kek = SymmetricKey(size: .bits256)
    let dek = SymmetricKey(size: .bits256)

    func sample() throws -> WrappedKey {
        try WrappedKey.wrap(dataKey: dek, kek: kek, userID: "alice", kekVersion: 3, region: "eu-west", context: "objects")
    }

    @Test func roundTripsThroughItsEncoding() throws {
        let wrapped = try sample()
        let parsed = try WrappedKey(encoded: wrapped.encoded())
        #expect(parsed == wrapped)
        #expect(parsed.userID == "alice")
        #expect(parsed.kekVersion == 3)
        let opened = try parsed.unwrap(kek: kek, region: "eu-west", context: "objects")
        #expect(opened.rawBytes == dek.rawBytes)
    }

    @Test func opensOnlyForItsRegionAndContext() throws {
        let wrapped = try sample()
        #expect(throws: CipherError.authenticationFailed) { try wrapped.unwrap(kek: kek, region: "us-east", context: "objects") }
        #expect(throws: CipherError.authenticationFailed) { try wrapped.unwrap(kek: kek, region: "eu-west", context: "other") }
        #expect(throws: CipherError.authenticationFailed) {
            try wrapped.unwrap(kek: SymmetricKey(size: .bits256), region: "eu-west", context: "objects")
        }
        var otherUser = wrapped
        otherUser.userID = "bob"
        #expect(throws: CipherError.authenticationFailed) { try otherUser.unwrap(kek: kek, region: "eu-west", context: "objects") }
        var otherVersion = wrapped
        otherVersion.kekVersion = 2
        #expect(throws: CipherError.authenticationFailed) { try otherVersion.unwrap(kek: kek, region: "eu-west", context: "objects") }
    }

    /// Every single-bit flip anywhere in the blob is caught, by the parser or by the tag.
    @Test func everyFlippedBitIsDetected() throws {
        let bytes = try sample().encoded()
        for index in bytes.indices {
            for bit in 0..<8 {
                var tampered = bytes
                tampered[index] ^= UInt8(1 << bit)
                let opened: SymmetricKey? = try? WrappedKey(encoded: tampered).unwrap(kek: kek, region: "eu-west", context: "objects")
                #expect(opened == nil, "flip of bit \(bit) at byte \(index) went unnoticed")
            }
        }
    }

    @Test func strictParserRefusesMalformedInput() throws {
        let bytes = try sample().encoded()
        for length in 0..<bytes.count {
            #expect(throws: WrappedKeyError.self) { try WrappedKey(encoded: Array(bytes.prefix(length))) }
        }
        #expect(throws: WrappedKeyError.trailingBytes(1)) { try WrappedKey(encoded: bytes + [0]) }
        #expect(throws: WrappedKeyError.oversized(WrappedKey.maximumEncodedSize + 1)) {
            try WrappedKey(encoded: [UInt8](repeating: 0, count: WrappedKey.maximumEncodedSize + 1))
        }
        var badMagic = bytes
        badMagic[0] = UInt8(ascii: "X")
        #expect(throws: WrappedKeyError.badMagic) { try WrappedKey(encoded: badMagic) }
        var newVersion = bytes
        newVersion[4] = 2
        #expect(throws: WrappedKeyError.unknownVersion(2)) { try WrappedKey(encoded: newVersion) }
        #expect(throws: WrappedKeyError.truncated) { try WrappedKey(encoded: []) }
    }

    @Test func layoutIsTheDocumentedOne() throws {
        let bytes = try sample().encoded()
        #expect(Array(bytes[0..<4]) == Array("SKWK".utf8))
        #expect(bytes[4] == 1)
        #expect(Array(bytes[5..<7]) == [0, 5])
        #expect(Array(bytes[7..<12]) == Array("alice".utf8))
        #expect(Array(bytes[12..<16]) == [0, 0, 0, 3])
        #expect(bytes.count == 4 + 1 + 2 + 5 + 4 + 12 + 32 + 16)
    }
}
