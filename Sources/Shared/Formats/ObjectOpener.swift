import Crypto

/// Decrypts segments of one object blob, whole or by range, verifying each tag before any of
/// its plaintext is returned.
public struct ObjectOpener: Sendable {
    public let header: ObjectHeader
    public let plaintextSize: Int64
    public let segmentCount: Int64
    private let key: SymmetricKey

    /// - Parameters:
    ///   - expectedWriteID: the write id the metadata recorded; a blob from another write (an
    ///     older version restored from backup, say) is refused even though it would decrypt.
    public init(
        dataKey: SymmetricKey,
        header: ObjectHeader,
        blobSize: Int64,
        userID: String,
        objectKey: String,
        expectedWriteID: [UInt8]
    ) throws(ObjectFormatError) {
        guard header.writeID == expectedWriteID else { throw .writeIDMismatch }
        let layout = try header.layout(blobSize: blobSize)
        self.header = header
        self.plaintextSize = layout.plaintextSize
        self.segmentCount = layout.segments
        do {
            self.key = try ObjectKeys.derive(dataKey: dataKey, header: header, userID: userID, objectKey: objectKey)
        } catch {
            throw .integrity(segment: 0)
        }
    }

    /// Byte offset and length of segment `index` inside the blob.
    public func sealedRange(segment index: Int64) -> (offset: Int64, length: Int) {
        let sealedSegment = Int64(header.segmentSize + AES256GCM.tagSize)
        let offset = Int64(ObjectHeader.encodedSize) + index * sealedSegment
        let isLast = index == segmentCount - 1
        let plain = isLast ? Int(plaintextSize - index * Int64(header.segmentSize)) : header.segmentSize
        return (offset, plain + AES256GCM.tagSize)
    }

    /// Segments that hold plaintext bytes `range` (half-open), in order.
    public func segments(covering range: Range<Int64>) throws(ObjectFormatError) -> ClosedRange<Int64> {
        guard range.lowerBound >= 0, range.upperBound <= plaintextSize, !range.isEmpty else {
            if range.isEmpty && plaintextSize == 0 { return 0...0 }
            throw .rangeNotSatisfiable
        }
        let seg = Int64(header.segmentSize)
        return (range.lowerBound / seg)...((range.upperBound - 1) / seg)
    }

    /// Opens one sealed segment read from ``sealedRange(segment:)``.
    public func open(segment index: Int64, sealed: [UInt8]) throws(ObjectFormatError) -> [UInt8] {
        guard index >= 0, index < segmentCount, sealed.count == sealedRange(segment: index).length else {
            throw .integrity(segment: index)
        }
        let nonce = header.nonce(segment: index, final: index == segmentCount - 1)
        let split = sealed.count - AES256GCM.tagSize
        do {
            return try AES256GCM.open(
                .init(nonce: nonce, ciphertext: Array(sealed[..<split]), tag: Array(sealed[split...])),
                key: key,
                authenticating: [UInt8]()
            )
        } catch {
            throw .integrity(segment: index)
        }
    }
}
