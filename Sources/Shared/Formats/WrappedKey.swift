import Crypto

/// A data key wrapped under one version of a user's KEK: wrapped-key format v1.
///
/// Layout (big-endian):
///
/// | bytes | field |
/// | --- | --- |
/// | 4 | magic `SKWK` |
/// | 1 | format version (1) |
/// | 2 + n | user id, UTF-8, length-prefixed, 1...128 bytes |
/// | 4 | KEK version (>= 1) |
/// | 12 | AES-GCM nonce |
/// | 32 | wrapped data key |
/// | 16 | tag |
///
/// The blob names the user and KEK version it needs, so the KeyService can pick the right KEK
/// without a side table and rotation needs no flag day. Region and caller context are not
/// stored: they enter only the associated data (see ``associatedData(region:context:)``), so
/// a blob presented for another region or context fails to open.
public struct WrappedKey: Sendable, Equatable {
    public static let magic: [UInt8] = Array("SKWK".utf8)
    public static let currentVersion: UInt8 = 1
    public static let maximumUserIDLength = 128
    public static let dataKeySize = 32

    public var version: UInt8
    public var userID: String
    public var kekVersion: UInt32
    public var sealed: AES256GCM.Sealed

    public init(version: UInt8 = WrappedKey.currentVersion, userID: String, kekVersion: UInt32, sealed: AES256GCM.Sealed) {
        self.version = version
        self.userID = userID
        self.kekVersion = kekVersion
        self.sealed = sealed
    }

    /// Largest encoded size of a v1 wrapped key; anything longer is refused before parsing.
    public static var maximumEncodedSize: Int {
        magic.count + 1 + 2 + maximumUserIDLength + 4 + AES256GCM.nonceSize + dataKeySize + AES256GCM.tagSize
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.maximumEncodedSize)
        w.append(raw: Self.magic)
        w.append(version)
        w.append(lengthPrefixed: userID)
        w.append(kekVersion)
        w.append(raw: sealed.nonce)
        w.append(raw: sealed.ciphertext)
        w.append(raw: sealed.tag)
        return w.bytes
    }

    /// Parses a v1 blob strictly: exact lengths, known version, no trailing bytes.
    public init(encoded bytes: [UInt8]) throws(WrappedKeyError) {
        guard bytes.count <= Self.maximumEncodedSize else { throw .oversized(bytes.count) }
        var r = ByteReader(bytes)
        do {
            guard try r.read(count: 4) == Self.magic else { throw WrappedKeyError.badMagic }
            let version = try r.readUInt8()
            guard version == Self.currentVersion else { throw WrappedKeyError.unknownVersion(version) }
            let idBytes = try r.readLengthPrefixed()
            guard !idBytes.isEmpty, idBytes.count <= Self.maximumUserIDLength,
                let userID = String(validating: idBytes, as: UTF8.self)
            else { throw WrappedKeyError.invalidUserID }
            let kekVersion = try r.readUInt32()
            guard kekVersion >= 1 else { throw WrappedKeyError.invalidKEKVersion }
            let nonce = try r.read(count: AES256GCM.nonceSize)
            let ciphertext = try r.read(count: Self.dataKeySize)
            let tag = try r.read(count: AES256GCM.tagSize)
            guard r.remaining == 0 else { throw WrappedKeyError.trailingBytes(r.remaining) }
            self.init(
                version: version,
                userID: userID,
                kekVersion: kekVersion,
                sealed: .init(nonce: nonce, ciphertext: ciphertext, tag: tag)
            )
        } catch let error as WrappedKeyError {
            throw error
        } catch {
            throw .truncated
        }
    }

    /// The associated data that binds a wrap to its format version, user, KEK version, the
    /// user's home region and the caller's context.
    public static func associatedData(
        version: UInt8 = currentVersion,
        userID: String,
        kekVersion: UInt32,
        region: String,
        context: String
    ) -> [UInt8] {
        var w = ByteWriter(capacity: 128)
        w.append(lengthPrefixed: "splitkey/wrapped-dek")
        w.append(version)
        w.append(lengthPrefixed: userID)
        w.append(kekVersion)
        w.append(lengthPrefixed: region)
        w.append(lengthPrefixed: context)
        return w.bytes
    }

    /// Wraps `dataKey` under `kek`.
    public static func wrap(
        dataKey: SymmetricKey,
        kek: SymmetricKey,
        userID: String,
        kekVersion: UInt32,
        region: String,
        context: String
    ) throws(CipherError) -> WrappedKey {
        let aad = associatedData(userID: userID, kekVersion: kekVersion, region: region, context: context)
        let sealed = try AES256GCM.seal(dataKey.rawBytes, key: kek, authenticating: aad)
        return WrappedKey(userID: userID, kekVersion: kekVersion, sealed: sealed)
    }

    /// Unwraps with `kek`; fails unless region and context are the ones used to wrap.
    public func unwrap(kek: SymmetricKey, region: String, context: String) throws(CipherError) -> SymmetricKey {
        let aad = Self.associatedData(
            version: version,
            userID: userID,
            kekVersion: kekVersion,
            region: region,
            context: context
        )
        let plain = try AES256GCM.open(sealed, key: kek, authenticating: aad)
        return SymmetricKey(data: plain)
    }
}

/// Why a wrapped key could not be parsed.
public enum WrappedKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case oversized(Int)
    case badMagic
    case unknownVersion(UInt8)
    case invalidUserID
    case invalidKEKVersion
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated: "wrapped key is truncated"
        case .oversized(let n): "wrapped key is \(n) bytes, more than format v1 allows (\(WrappedKey.maximumEncodedSize))"
        case .badMagic: "not a SplitKey wrapped key (bad magic)"
        case .unknownVersion(let v): "wrapped key format version \(v) is not supported (this build reads version 1)"
        case .invalidUserID: "wrapped key carries an empty, oversized or non-UTF-8 user id"
        case .invalidKEKVersion: "wrapped key names KEK version 0, which never exists"
        case .trailingBytes(let n): "wrapped key has \(n) unexpected trailing bytes"
        }
    }
}
