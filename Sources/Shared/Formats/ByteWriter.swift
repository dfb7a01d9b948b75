/// Big-endian, length-prefixed encoding for the project's binary formats and associated data.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func append(_ value: UInt8) {
        bytes.append(value)
    }

    public mutating func append(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func append(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
        }
    }

    public mutating func append(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    public mutating func append(raw: some Sequence<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    /// A 16-bit length followed by the bytes, so adjacent fields can never run into each other.
    public mutating func append(lengthPrefixed raw: some Collection<UInt8>) {
        precondition(raw.count <= Int(UInt16.max), "field too long for a 16-bit length prefix")
        append(UInt16(raw.count))
        bytes.append(contentsOf: raw)
    }

    public mutating func append(lengthPrefixed string: String) {
        append(lengthPrefixed: Array(string.utf8))
    }
}
