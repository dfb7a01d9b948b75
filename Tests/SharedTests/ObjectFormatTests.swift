import Crypto
import Foundation
import Shared
import Testing

struct ObjectFormatTests {
    static let segment = 1024
    let dek = SymmetricKey(size: .bits256)

    func seal(_ plaintext: [UInt8], user: String = "alice", key: String = "a/b", chunk: Int = 700) throws -> (ObjectHeader, [UInt8]) {
        let header = ObjectHeader.fresh(segmentSize: Self.segment, dataKeyID: 7)
        var sealer = try ObjectSealer(dataKey: dek, header: header, userID: user, objectKey: key)
        var blob: [UInt8] = []
        var offset = 0
        while offset < plaintext.count {
            let end = min(plaintext.count, offset + chunk)
            blob += try sealer.append(plaintext[offset..<end])
            offset = end
        }
        blob += try sealer.finish()
        #expect(Int64(blob.count) == header.blobSize(plaintextSize: Int64(plaintext.count)))
        return (header, blob)
    }

    func open(_ blob: [UInt8], user: String = "alice", key: String = "a/b", writeID: [UInt8]? = nil, range: Range<Int64>? = nil) throws
        -> [UInt8]
    {
        let header = try ObjectHeader(encoded: blob)
        let opener = try ObjectOpener(
            dataKey: dek,
            header: header,
            blobSize: Int64(blob.count),
            userID: user,
            objectKey: key,
            expectedWriteID: writeID ?? header.writeID
        )
        let wanted = range ?? 0..<opener.plaintextSize
        if opener.plaintextSize == 0 {
            _ = try opener.open(segment: 0, sealed: Array(blob[ObjectHeader.encodedSize...]))
            return []
        }
        var out: [UInt8] = []
        for index in try opener.segments(covering: wanted) {
            let r = opener.sealedRange(segment: index)
            let plain = try opener.open(segment: index, sealed: Array(blob[Int(r.offset)..<Int(r.offset) + r.length]))
            let segStart = index * Int64(Self.segment)
            let lo = Int(max(wanted.lowerBound, segStart) - segStart)
            let hi = Int(min(wanted.upperBound, segStart + Int64(plain.count)) - segStart)
            out += plain[lo..<hi]
        }
        return out
    }

    @Test(arguments: [0, 1, 1023, 1024, 1025, 3072, 3077])
    func roundTrips(size: Int) throws {
        let plaintext = RandomBytes.bytes(size)
        for chunk in [1, 700, 1024, 5000] {
            let (_, blob) = try seal(plaintext, chunk: chunk)
            #expect(try open(blob) == plaintext)
        }
    }

    @Test func rangeReadsAcrossSegmentBoundaries() throws {
        let plaintext = RandomBytes.bytes(5000)
        let (_, blob) = try seal(plaintext)
        for (lo, hi) in [(0, 1), (1000, 1100), (1023, 1025), (2048, 5000), (4999, 5000), (0, 5000)] {
            #expect(try open(blob, range: Int64(lo)..<Int64(hi)) == Array(plaintext[lo..<hi]))
        }
        #expect(throws: ObjectFormatError.rangeNotSatisfiable) { try open(blob, range: 4000..<5001) }
    }

    @Test func everyFlippedBitIsDetected() throws {
        let (_, blob) = try seal(RandomBytes.bytes(1500))
        for index in blob.indices {
            for bit in 0..<8 {
                var tampered = blob
                tampered[index] ^= UInt8(1 << bit)
                #expect(throws: ObjectFormatError.self, "bit \(bit) of byte \(index)") { try open(tampered) }
            }
        }
    }

    @Test func truncationExtensionReorderAndSpliceFail() throws {
        let plaintext = RandomBytes.bytes(3 * Self.segment + 10)
        let (header, blob) = try seal(plaintext)
        let sealedSeg = Self.segment + 16
        let h = ObjectHeader.encodedSize
        // Dropping the last segment leaves a blob whose new last segment was sealed as non-final.
        #expect(throws: ObjectFormatError.self) { try open(Array(blob[..<(h + 3 * sealedSeg)])) }
        #expect(throws: ObjectFormatError.self) { try open(Array(blob[..<(h + 2 * sealedSeg)])) }
        #expect(throws: ObjectFormatError.self) { try open(Array(blob.dropLast())) }
        #expect(throws: ObjectFormatError.self) { try open(blob + [0]) }
        #expect(throws: ObjectFormatError.self) { try open(blob + Array(blob[h..<(h + sealedSeg)])) }
        var swapped = blob
        swapped.replaceSubrange(h..<(h + sealedSeg), with: blob[(h + sealedSeg)..<(h + 2 * sealedSeg)])
        swapped.replaceSubrange((h + sealedSeg)..<(h + 2 * sealedSeg), with: blob[h..<(h + sealedSeg)])
        #expect(throws: ObjectFormatError.self) { try open(swapped) }
        // A segment spliced in from another object of the same user, key and data key.
        let (_, other) = try seal(RandomBytes.bytes(plaintext.count))
        var spliced = blob
        spliced.replaceSubrange((h + sealedSeg)..<(h + 2 * sealedSeg), with: other[(h + sealedSeg)..<(h + 2 * sealedSeg)])
        #expect(throws: ObjectFormatError.self) { try open(spliced) }
        // The same blob under another name or user, or claimed by another write, does not open.
        #expect(throws: ObjectFormatError.self) { try open(blob, key: "a/c") }
        #expect(throws: ObjectFormatError.self) { try open(blob, user: "bob") }
        #expect(throws: ObjectFormatError.writeIDMismatch) { try open(blob, writeID: RandomBytes.bytes(16)) }
        #expect(try open(blob, writeID: header.writeID) == plaintext)
    }

    @Test func headerParserIsStrict() throws {
        let (_, blob) = try seal([1, 2, 3])
        #expect(throws: ObjectFormatError.truncated) { try ObjectHeader(encoded: Array(blob.prefix(71))) }
        var version = blob
        version[4] = 9
        #expect(throws: ObjectFormatError.unknownVersion(9)) { try ObjectHeader(encoded: version) }
        var size = blob
        size[5...8] = [0xff, 0xff, 0xff, 0xff]
        #expect(throws: ObjectFormatError.invalidSegmentSize(Int(UInt32.max))) { try ObjectHeader(encoded: size) }
    }
}
