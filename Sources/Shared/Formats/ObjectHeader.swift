/// The header of an encrypted object blob: object format v1.
///
/// Layout (big-endian), 72 bytes:
///
/// | bytes | field |
/// | --- | --- |
/// | 4 | magic `SKOB` |
/// | 1 | format version (1) |
/// | 4 | plaintext segment size (1 KiB ... 16 MiB) |
/// | 32 | HKDF salt, random per object |
/// | 7 | nonce prefix, random per object |
/// | 16 | write id, random per write; the metadata row names it too |
/// | 8 | id of the data key (DEK) the object key is derived from |
///
/// Segments follow, each AES-256-GCM sealed: ciphertext then 16-byte tag. The object key is
/// HKDF-SHA-256(DEK, salt, info = "splitkey/object/v1" | user | object key | header), so a blob
/// opens only under its user and name, with its own header; the per-segment nonce is
/// `prefix | u32 segment index | u8 final flag`, so reordering, truncation and extension fail.
/// This is the construction of Tink's streaming AEAD and MinIO's DARE v2.
public struct ObjectHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("SKOB".utf8)
    public static let currentVersion: UInt8 = 1
    public static let encodedSize = 72
    public static let defaultSegmentSize = 64 * 1024
    public static let segmentSizeRange = 1024...(16 << 20)
    public static let noncePrefixSize = 7

    public var version: UInt8
    public var segmentSize: Int
    public var salt: [UInt8]
    public var noncePrefix: [UInt8]
    public var writeID: [UInt8]
    public var dataKeyID: UInt64

    public init(
        version: UInt8 = ObjectHeader.currentVersion,
        segmentSize: Int,
        salt: [UInt8],
        noncePrefix: [UInt8],
        writeID: [UInt8],
        dataKeyID: UInt64
    ) {
        self.version = version
        self.segmentSize = segmentSize
        self.salt = salt
        self.noncePrefix = noncePrefix
        self.writeID = writeID
        self.dataKeyID = dataKeyID
    }

    /// A header with fresh random salt, nonce prefix and write id.
    public static func fresh(segmentSize: Int = defaultSegmentSize, dataKeyID: UInt64) -> ObjectHeader {
        ObjectHeader(
            segmentSize: segmentSize,
            salt: RandomBytes.bytes(32),
            noncePrefix: RandomBytes.bytes(noncePrefixSize),
            writeID: RandomBytes.bytes(16),
            dataKeyID: dataKeyID
        )
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.encodedSize)
        w.append(raw: Self.magic)
        w.append(version)
        w.append(UInt32(segmentSize))
        w.append(raw: salt)
        w.append(raw: noncePrefix)
        w.append(raw: writeID)
        w.append(dataKeyID)
        return w.bytes
    }

    public init(encoded bytes: [UInt8]) throws(ObjectFormatError) {
        guard bytes.count >= Self.encodedSize else { throw .truncated }
        var r = ByteReader(bytes.prefix(Self.encodedSize))
        do {
            guard try r.read(count: 4) == Self.magic else { throw ObjectFormatError.badMagic }
            let version = try r.readUInt8()
            guard version == Self.currentVersion else { throw ObjectFormatError.unknownVersion(version) }
            let segmentSize = Int(try r.readUInt32())
            guard Self.segmentSizeRange.contains(segmentSize) else { throw ObjectFormatError.invalidSegmentSize(segmentSize) }
            self.init(
                version: version,
                segmentSize: segmentSize,
                salt: try r.read(count: 32),
                noncePrefix: try r.read(count: Self.noncePrefixSize),
                writeID: try r.read(count: 16),
                dataKeyID: try r.readUInt64()
            )
        } catch let error as ObjectFormatError {
            throw error
        } catch {
            throw .truncated
        }
    }

    /// Size of the sealed blob for `plaintextSize` bytes.
    public func blobSize(plaintextSize: Int64) -> Int64 {
        let seg = Int64(segmentSize)
        let segments = max(1, (plaintextSize + seg - 1) / seg)
        return Int64(Self.encodedSize) + plaintextSize + segments * Int64(AES256GCM.tagSize)
    }

    /// The plaintext size and segment count of a blob of `blobSize` bytes, or an error if no
    /// plaintext size gives exactly that blob size.
    public func layout(blobSize: Int64) throws(ObjectFormatError) -> (plaintextSize: Int64, segments: Int64) {
        let body = blobSize - Int64(Self.encodedSize)
        let sealedSegment = Int64(segmentSize + AES256GCM.tagSize)
        guard body >= Int64(AES256GCM.tagSize) else { throw .truncated }
        let segments = max(1, (body + sealedSegment - 1) / sealedSegment)
        let last = body - (segments - 1) * sealedSegment
        guard last >= Int64(AES256GCM.tagSize) else { throw .truncated }
        // A final segment with no plaintext exists only for the empty object.
        guard last > Int64(AES256GCM.tagSize) || segments == 1 else { throw .truncated }
        return (body - segments * Int64(AES256GCM.tagSize), segments)
    }

    func nonce(segment index: Int64, final: Bool) -> [UInt8] {
        var w = ByteWriter(capacity: 12)
        w.append(raw: noncePrefix)
        w.append(UInt32(truncatingIfNeeded: index))
        w.append(final ? UInt8(1) : UInt8(0))
        return w.bytes
    }
}

/// Why an object blob cannot be read. Integrity failures never say which byte was wrong.
public enum ObjectFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case badMagic
    case unknownVersion(UInt8)
    case invalidSegmentSize(Int)
    case tooManySegments
    case writeIDMismatch
    case integrity(segment: Int64)
    case rangeNotSatisfiable

    public var description: String {
        switch self {
        case .truncated: "object blob is truncated or has a size no object can have"
        case .badMagic: "not a SplitKey object blob (bad magic)"
        case .unknownVersion(let v): "object format version \(v) is not supported (this build reads version 1)"
        case .invalidSegmentSize(let s): "object blob declares segment size \(s), outside 1 KiB...16 MiB"
        case .tooManySegments: "object is too large for one key (2^32 segments)"
        case .writeIDMismatch: "object blob belongs to another write than its metadata (replaced or rolled back)"
        case .integrity(let i): "object segment \(i) failed authentication: the stored data was altered"
        case .rangeNotSatisfiable: "range is outside the object"
        }
    }
}
