/// Reads what ``ByteWriter`` wrote, refusing to read past the end.
public struct ByteReader: Sendable {
    /// Reading ran past the end of the input.
    public struct Truncated: Error, Sendable {}

    private let bytes: [UInt8]
    public private(set) var offset: Int = 0

    public init(_ bytes: some Sequence<UInt8>) {
        self.bytes = Array(bytes)
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func readUInt8() throws(Truncated) -> UInt8 {
        try read(count: 1)[0]
    }

    public mutating func readUInt16() throws(Truncated) -> UInt16 {
        let b = try read(count: 2)
        return UInt16(b[0]) << 8 | UInt16(b[1])
    }

    public mutating func readUInt32() throws(Truncated) -> UInt32 {
        try read(count: 4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func readUInt64() throws(Truncated) -> UInt64 {
        try read(count: 8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    public mutating func read(count: Int) throws(Truncated) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw Truncated() }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    public mutating func readLengthPrefixed() throws(Truncated) -> [UInt8] {
        let count = Int(try readUInt16())
        return try read(count: count)
    }
}
