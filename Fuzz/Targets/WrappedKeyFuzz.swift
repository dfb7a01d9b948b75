// libFuzzer target: the wrapped-key v1 parser, `WrappedKey(encoded:)` (Sources/Shared/Formats/WrappedKey.swift).
//
// Any input must give a typed `WrappedKeyError` or a parsed key; never a crash, trap or hang.
// Properties checked on success:
//   - parsing is strict, so the encoding is canonical: `encoded()` reproduces the input exactly;
//   - the parsed fields respect the format's limits (user id 1...128 bytes, KEK version >= 1, sizes);
//   - unwrapping with the fixture KEK returns a 32-byte key or a typed `CipherError` (the
//     committed seeds are wrapped under that KEK, so the success path is reached too).
import Crypto
import Shared

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let key: WrappedKey
    do {
        key = try WrappedKey(encoded: bytes)
    } catch {
        // Typed throws: `error` is a WrappedKeyError. Exercise its description too.
        _ = error.description
        if case .oversized(let n) = error { precondition(n == size && n > WrappedKey.maximumEncodedSize) }
        return 0
    }
    precondition(size <= WrappedKey.maximumEncodedSize)
    precondition(key.encoded() == bytes, "strict parser accepted a non-canonical encoding")
    precondition(key.version == WrappedKey.currentVersion)
    precondition((1...WrappedKey.maximumUserIDLength).contains(key.userID.utf8.count))
    precondition(key.kekVersion >= 1)
    precondition(key.sealed.nonce.count == AES256GCM.nonceSize)
    precondition(key.sealed.ciphertext.count == WrappedKey.dataKeySize)
    precondition(key.sealed.tag.count == AES256GCM.tagSize)
    do {
        let dataKey = try key.unwrap(kek: FuzzFixtures.kek, region: FuzzFixtures.region, context: FuzzFixtures.context)
        precondition(dataKey.bitCount == 256)
    } catch {
        precondition(error == .authenticationFailed, "unexpected unwrap error \(error)")
    }
    return 0
}
