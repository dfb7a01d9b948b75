// libFuzzer target: the object-format reader, `ObjectHeader(encoded:)` and `ObjectOpener`
// (Sources/Shared/Formats/ObjectHeader.swift, ObjectOpener.swift).
//
// The input is a whole object blob. Parse its header; if that succeeds, open it as the
// StorageNode's GET does (blob size = input size, write id taken from the header, the fixture
// data key, user and object key) and open every segment from the rest of the input. Any input
// must give a typed `ObjectFormatError` or plaintext; never a crash, trap or hang. Also checked:
//   - a parsed header re-encodes to the input's first 72 bytes;
//   - `layout(blobSize:)` and `blobSize(plaintextSize:)` are inverse for the input size and for
//     a second, input-derived blob size up to 2^48 (blob sizes come from the file system);
//   - every sealed segment range lies inside the blob, in order, with the last ending at its end;
//   - `segments(covering:)` stays inside 0..<segmentCount; out-of-range segment indices and wrong
//     lengths are refused with `.integrity`.
import Crypto
import Shared

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let header: ObjectHeader
    do {
        header = try ObjectHeader(encoded: bytes)
    } catch {
        _ = error.description
        return 0
    }
    precondition(header.encoded() == Array(bytes.prefix(ObjectHeader.encodedSize)))
    precondition(ObjectHeader.segmentSizeRange.contains(header.segmentSize))

    // A second blob size, from the input's last bytes: the pure size arithmetic must hold for
    // any size a file can have.
    var other: Int64 = 0
    for b in bytes.suffix(6) { other = other << 8 | Int64(b) }
    checkLayout(header, blobSize: other)
    checkLayout(header, blobSize: Int64(size))

    // The wrong write id is refused before anything else.
    var otherWriteID = header.writeID
    otherWriteID[0] ^= 1
    do {
        _ = try ObjectOpener(dataKey: FuzzFixtures.dataKey, header: header, blobSize: Int64(size),
                             userID: FuzzFixtures.userID, objectKey: FuzzFixtures.objectKey, expectedWriteID: otherWriteID)
        preconditionFailure("opener accepted a foreign write id")
    } catch {
        precondition(error == .writeIDMismatch)
    }

    let opener: ObjectOpener
    do {
        opener = try ObjectOpener(dataKey: FuzzFixtures.dataKey, header: header, blobSize: Int64(size),
                                  userID: FuzzFixtures.userID, objectKey: FuzzFixtures.objectKey, expectedWriteID: header.writeID)
    } catch {
        _ = error.description
        return 0
    }
    precondition(opener.segmentCount >= 1 && opener.plaintextSize >= 0)

    var expectedOffset = Int64(ObjectHeader.encodedSize)
    var plaintext: [UInt8] = []
    var allOpened = true
    for index in 0..<opener.segmentCount {
        let range = opener.sealedRange(segment: index)
        precondition(range.offset == expectedOffset, "segments not contiguous")
        precondition(range.length >= AES256GCM.tagSize && range.length <= header.segmentSize + AES256GCM.tagSize)
        precondition(range.offset + Int64(range.length) <= Int64(size), "segment \(index) runs past the blob")
        expectedOffset += Int64(range.length)
        let sealed = Array(bytes[Int(range.offset)..<Int(range.offset) + range.length])
        do {
            let plain = try opener.open(segment: index, sealed: sealed)
            precondition(plain.count == range.length - AES256GCM.tagSize)
            plaintext += plain
        } catch {
            precondition(error == .integrity(segment: index), "unexpected error \(error)")
            allOpened = false
        }
        // A wrong length for the same segment is refused.
        do {
            _ = try opener.open(segment: index, sealed: sealed + [0])
            preconditionFailure("opened a segment of the wrong length")
        } catch {
            precondition(error == .integrity(segment: index))
        }
    }
    precondition(expectedOffset == Int64(size), "segments do not end at the end of the blob")
    if allOpened { precondition(Int64(plaintext.count) == opener.plaintextSize) }

    for index in [-1, opener.segmentCount, Int64.max, Int64.min] {
        do {
            _ = try opener.open(segment: index, sealed: [UInt8](repeating: 0, count: AES256GCM.tagSize))
            preconditionFailure("opened segment \(index) outside 0..<\(opener.segmentCount)")
        } catch {
            precondition(error == .integrity(segment: index))
        }
    }

    // Plaintext ranges as the GET route would ask for them.
    let a = Int64(bytes[ObjectHeader.encodedSize - 2]) * 131
    let b = Int64(bytes[ObjectHeader.encodedSize - 1]) * 977
    for wanted in [0..<opener.plaintextSize, min(a, b)..<max(a, b), a..<(a + 1), opener.plaintextSize..<(opener.plaintextSize + 1)] {
        do {
            let segments = try opener.segments(covering: wanted)
            precondition(segments.lowerBound >= 0 && segments.upperBound < opener.segmentCount)
        } catch {
            precondition(error == .rangeNotSatisfiable)
        }
    }
    return 0
}

private func checkLayout(_ header: ObjectHeader, blobSize: Int64) {
    do {
        let layout = try header.layout(blobSize: blobSize)
        precondition(layout.plaintextSize >= 0 && layout.segments >= 1)
        precondition(header.blobSize(plaintextSize: layout.plaintextSize) == blobSize,
                     "layout(blobSize: \(blobSize)) is not the inverse of blobSize(plaintextSize:)")
    } catch {
        precondition(error == .truncated)
    }
}
