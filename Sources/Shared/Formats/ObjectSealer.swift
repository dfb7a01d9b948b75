import Crypto

/// Encrypts an object as a stream of segments with memory bounded by two segments.
///
/// Feed plaintext with ``append(_:)`` in chunks of any size; each call returns the sealed bytes
/// ready to be written (the header first). ``finish()`` seals the last segment with the final
/// flag. A full segment is held back until more input arrives, because only then is it known
/// not to be the last one.
public struct ObjectSealer: Sendable {
    public let header: ObjectHeader
    private let key: SymmetricKey
    private var pending: [UInt8] = []
    private var nextIndex: Int64 = 0
    private var headerEmitted = false
    public private(set) var plaintextSize: Int64 = 0

    public init(dataKey: SymmetricKey, header: ObjectHeader, userID: String, objectKey: String) throws(CipherError) {
        self.header = header
        self.key = try ObjectKeys.derive(dataKey: dataKey, header: header, userID: userID, objectKey: objectKey)
        pending.reserveCapacity(header.segmentSize * 2)
    }

    public mutating func append(_ chunk: some Collection<UInt8>) throws(ObjectFormatError) -> [UInt8] {
        var out = takeHeader()
        plaintextSize += Int64(chunk.count)
        pending.append(contentsOf: chunk)
        let size = header.segmentSize
        // Seal every full segment that is certainly followed by more plaintext.
        var consumed = 0
        while pending.count - consumed > size {
            out += try seal(pending[consumed..<consumed + size], final: false)
            consumed += size
        }
        if consumed > 0 { pending.removeFirst(consumed) }
        return out
    }

    public mutating func finish() throws(ObjectFormatError) -> [UInt8] {
        var out = takeHeader()
        out += try seal(pending[...], final: true)
        pending = []
        return out
    }

    private mutating func takeHeader() -> [UInt8] {
        guard !headerEmitted else { return [] }
        headerEmitted = true
        return header.encoded()
    }

    private mutating func seal(_ plaintext: ArraySlice<UInt8>, final: Bool) throws(ObjectFormatError) -> [UInt8] {
        guard nextIndex <= Int64(UInt32.max) else { throw .tooManySegments }
        let nonce = header.nonce(segment: nextIndex, final: final)
        nextIndex += 1
        do {
            let sealed = try AES256GCM.seal(plaintext, key: key, nonce: nonce, authenticating: [UInt8]())
            return sealed.ciphertext + sealed.tag
        } catch {
            preconditionFailure("sealing with a derived 256-bit key and 12-byte nonce cannot fail: \(error)")
        }
    }
}

/// Derivation of per-object keys from a data key.
public enum ObjectKeys {
    public static func derive(dataKey: SymmetricKey, header: ObjectHeader, userID: String, objectKey: String) throws(CipherError)
        -> SymmetricKey
    {
        var info = ByteWriter(capacity: 256)
        info.append(lengthPrefixed: "splitkey/object/v1")
        info.append(lengthPrefixed: userID)
        info.append(lengthPrefixed: objectKey)
        info.append(raw: header.encoded())
        return try KeyDerivation.hkdfSHA256(inputKeyMaterial: dataKey, salt: header.salt, info: info.bytes, outputByteCount: 32)
    }
}
