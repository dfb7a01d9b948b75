// libFuzzer target: what the KeyService's AWS KMS XKS proxy listener parses from the bytes a
// caller sends, before and around the key operation (Sources/KeyService/XKS/XKSPath.swift,
// XKSValidation.swift, XKSCipher.swift, XKSErrorMapping.swift and Sources/Shared/Wire/XKSAPI.swift,
// compiled in as they are; XKSResponder and XKSOperations import Hummingbird and the key store,
// so their few lines between these calls are mirrored here).
//
// The first byte selects the mode (byte % 3), so seeds stay readable text ('0', '1', '2'):
//   0  the rest is the path after the configured URI path, for `XKSPath.route`: an accepted
//      route is `/health` (no key id) or `/keys/<id>/<metadata|encrypt|decrypt>` with
//      `XKSAPI.isValidKeyID(id)`, the path rebuilt from it is the input byte for byte, and a
//      path of that shape (checked here on the UTF-8 bytes, with the spec's key-id alphabet) is
//      never refused.
//   1  the rest is a JSON body, decoded with `JSONDecoder()` as `XKSResponder.decode` does into
//      `MetadataOnlyRequest`, `EncryptRequest` and `DecryptRequest`: a decoded body round-trips
//      through JSON; then the validation of `XKSOperations.encrypt`/`decrypt` (algorithm, every
//      base64 field through `XKSValidation.base64` with its limit, decrypt's metadata <= 20
//      bytes, IV 12 or 16 bytes, tag 16): a refusal is a ValidationException (400),
//      UnsupportedOperationException (501, only for a field over its limit) or
//      InvalidCiphertextException (400, only for metadata over 20 bytes) with a printable
//      message; an accepted field is at most its limit and, where the text is RFC 4648 base64,
//      the bytes a strict decoder here reads. A decrypt that passes runs `XKSCipher.decrypt`
//      under the fixture XKS key: `.authenticationFailed` or a plaintext of the ciphertext's
//      length, nothing else; an encrypt that passes is encrypted and decrypted back.
//   2  a round trip: bytes 1-2 pick a byte position, byte 3 an XOR mask, byte 4 where the rest
//      splits into AAD and plaintext. `XKSCipher.encrypt` under the fixture key gives a 12-byte
//      IV (fresh per call), a ciphertext of the plaintext's length, a 16-byte tag and metadata
//      `[1]`; `decrypt` gives the plaintext back, and so does AES-GCM opened here with the spec's
//      AAD (`len16(aad) || aad || len8(metadata) || metadata`); flipping the chosen byte of AAD,
//      metadata, IV, ciphertext or tag, moving the metadata into the AAD, a 16-byte IV, or a
//      ciphertext one byte shorter or longer makes decrypt throw `.authenticationFailed`;
//      `integrityValue` is SHA-256 of `aad || metadata || iv || ciphertext || tag`.
// Never a crash, trap, leak or hang.
//
// Known and tolerated: `XKSValidation.base64` decodes with Foundation's `Data(base64Encoded:)`,
// which accepts some text that is not RFC 4648 base64 ("====" as one zero byte, "AA=A",
// "AAAA===="). The bytes it yields are still bounded by the limit and authenticated, so this
// target checks only that direction (strict base64 must decode to the same bytes).
import Crypto
import Foundation
import HTTPTypes
import Shared

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 3 {
    case 0: fuzzPath(String(decoding: rest, as: UTF8.self))
    case 1: fuzzBody(Data(rest))
    default: fuzzRoundTrip(rest)
    }
    return 0
}

// MARK: - 0: the path

private func fuzzPath(_ rest: String) {
    let expected = expectedRoute(Array(rest.utf8))
    guard let (op, id) = XKSPath.route(rest) else {
        precondition(expected == nil, "refused \(rest.debugDescription), which names \(expected!)")
        return
    }
    let rebuilt: String
    if op == .health {
        precondition(id == nil, "health route with a key id")
        rebuilt = "/health"
    } else {
        guard let id else { preconditionFailure("\(op) route without a key id") }
        precondition(XKSAPI.isValidKeyID(id), "routed to an invalid key id \(id.debugDescription)")
        rebuilt = "/keys/\(id)/\(op.rawValue)"
    }
    precondition(Array(rebuilt.utf8) == Array(rest.utf8), "route of \(rest.debugDescription) rebuilds as \(rebuilt.debugDescription)")
    precondition(expected?.op == op && expected?.id == id, "routed \(rest.debugDescription) to \(op) \(id ?? "-")")
}

/// The route the spec gives a path, read on its bytes: `/health`, or `/keys/` + 1-128 of
/// `A-Za-z0-9-._` + `/` + an operation.
private func expectedRoute(_ bytes: [UInt8]) -> (op: XKSAPI.Operation, id: String?)? {
    if bytes == Array("/health".utf8) { return (.health, nil) }
    let prefix = Array("/keys/".utf8)
    guard bytes.starts(with: prefix), let slash = bytes.lastIndex(of: UInt8(ascii: "/")), slash >= prefix.count else { return nil }
    let id = bytes[prefix.count..<slash]
    let opName = String(decoding: bytes[(slash + 1)...], as: UTF8.self)
    guard (1...128).contains(id.count), id.allSatisfy(isKeyIDByte),
        let op = [XKSAPI.Operation.metadata, .encrypt, .decrypt].first(where: { Array($0.rawValue.utf8) == Array(opName.utf8) })
    else { return nil }
    return (op, String(decoding: id, as: UTF8.self))
}

private func isKeyIDByte(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
    case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"): true
    default: false
    }
}

// MARK: - 1: the JSON bodies

private func fuzzBody(_ body: Data) {
    if let request = roundTrip(XKSAPI.MetadataOnlyRequest.self, body) {
        _ = request.requestMetadata?.kmsRequestId?.utf8.count
    }
    if let request = roundTrip(XKSAPI.EncryptRequest.self, body) {
        checkEncrypt(request)
    }
    if let request = roundTrip(XKSAPI.DecryptRequest.self, body) {
        checkDecrypt(request)
    }
}

/// Decodes as `XKSResponder.decode` does; a decoded value survives encode -> decode -> encode.
private func roundTrip<T: Codable>(_ type: T.Type, _ body: Data) -> T? {
    guard let value = try? JSONDecoder().decode(T.self, from: body) else { return nil }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do {
        let once = try encoder.encode(value)
        let twice = try encoder.encode(try JSONDecoder().decode(T.self, from: once))
        precondition(once == twice, "\(T.self) does not round-trip through JSON")
    } catch {
        preconditionFailure("\(T.self) decoded but does not re-encode/decode: \(error)")
    }
    return value
}

/// `XKSOperations.encrypt`'s validate step, then what it does with the key.
private func checkEncrypt(_ request: XKSAPI.EncryptRequest) {
    let input: (plaintext: [UInt8], aad: [UInt8], integrity: Bool)
    do throws(APIError) {
        try checkAlgorithm(request.encryptionAlgorithm)
        let plaintext = try base64(request.plaintext, "plaintext", limit: XKSAPI.maximumPlaintextBytes, required: true)
        let aad = try base64(
            request.additionalAuthenticatedData, "additionalAuthenticatedData", limit: XKSAPI.maximumAADBytes, required: false)
        if let algorithm = request.ciphertextDataIntegrityValueAlgorithm, algorithm != XKSAPI.integrityAlgorithm {
            throw XKSValidation.invalid("ciphertextDataIntegrityValueAlgorithm must be \(XKSAPI.integrityAlgorithm)")
        }
        input = (plaintext ?? [], aad ?? [], request.ciphertextDataIntegrityValueAlgorithm != nil)
    } catch {
        checkRefusal(error, allowed: [.validationException, .unsupportedOperationException])
        return
    }
    let encrypted: XKSCipher.Encrypted
    let decrypted: [UInt8]
    do throws(CipherError) {
        encrypted = try XKSCipher.encrypt(input.plaintext, aad: input.aad, key: FuzzFixtures.xksKey)
        decrypted = try XKSCipher.decrypt(encrypted, aad: input.aad, key: FuzzFixtures.xksKey)
    } catch {
        preconditionFailure("a validated encrypt failed: \(error)")
    }
    precondition(decrypted == input.plaintext, "a validated encrypt does not decrypt to its plaintext")
    checkIntegrityValue(encrypted, aad: input.aad)
}

/// `XKSOperations.decrypt`'s validate step, then `XKSCipher.decrypt` under the fixture key.
private func checkDecrypt(_ request: XKSAPI.DecryptRequest) {
    let encrypted: XKSCipher.Encrypted
    let aad: [UInt8]
    do throws(APIError) {
        try checkAlgorithm(request.encryptionAlgorithm)
        let ciphertext = try base64(request.ciphertext, "ciphertext", limit: XKSAPI.maximumPlaintextBytes, required: true)
        let additional = try base64(
            request.additionalAuthenticatedData, "additionalAuthenticatedData", limit: XKSAPI.maximumAADBytes, required: false)
        let metadata = try base64(request.ciphertextMetadata, "ciphertextMetadata", limit: 1 << 16, required: false)
        guard (metadata?.count ?? 0) <= XKSAPI.maximumCiphertextMetadataBytes else {
            throw APIError.badRequest("ciphertextMetadata is longer than 20 bytes", code: .xksInvalidCiphertext)
        }
        let iv = try base64(request.initializationVector, "initializationVector", limit: 16, required: true) ?? []
        let tag = try base64(request.authenticationTag, "authenticationTag", limit: 16, required: true) ?? []
        guard iv.count == 12 || iv.count == 16 else { throw XKSValidation.invalid("initializationVector must be 12 or 16 bytes") }
        guard tag.count == 16 else { throw XKSValidation.invalid("authenticationTag must be 16 bytes") }
        encrypted = .init(iv: iv, ciphertext: ciphertext ?? [], tag: tag, metadata: metadata ?? [])
        aad = additional ?? []
    } catch {
        checkRefusal(error, allowed: [.validationException, .unsupportedOperationException, .invalidCiphertextException])
        return
    }
    do throws(CipherError) {
        let plaintext = try XKSCipher.decrypt(encrypted, aad: aad, key: FuzzFixtures.xksKey)
        precondition(
            plaintext.count == encrypted.ciphertext.count, "decrypt gave \(plaintext.count) bytes for \(encrypted.ciphertext.count)")
        // Only this proxy's construction decrypts: metadata [1] and a 12-byte IV.
        precondition(encrypted.metadata == XKSCipher.metadataV1 && encrypted.iv.count == 12, "decrypted a foreign construction")
    } catch {
        precondition(error == .authenticationFailed, "decrypt of a validated request failed with \(error)")
    }
}

private func checkAlgorithm(_ algorithm: String?) throws(APIError) {
    guard let algorithm else { throw XKSValidation.invalid("encryptionAlgorithm is required") }
    guard algorithm == XKSAPI.encryptionAlgorithm else {
        throw XKSValidation.invalid("encryptionAlgorithm must be \(XKSAPI.encryptionAlgorithm)")
    }
}

/// `XKSValidation.base64`, with what it must do checked against a strict decoder.
private func base64(_ text: String?, _ what: String, limit: Int, required: Bool) throws(APIError) -> [UInt8]? {
    let strict = text.flatMap(strictBase64)
    let result: [UInt8]?
    do throws(APIError) {
        result = try XKSValidation.base64(text, what, limit: limit, required: required)
    } catch {
        switch error.code {
        case .xksValidation:
            precondition(error.status.code == 400, "a malformed field is not a 400: \(error)")
            precondition(text == nil ? required : strict == nil, "refused the base64 \(text?.debugDescription ?? "nil") of \(what)")
        case .xksUnsupported:
            precondition(error.status.code == 501, "a field over its limit is not a 501: \(error)")
            let size = text.flatMap { Data(base64Encoded: $0) }?.count
            precondition(size.map { $0 > limit } ?? false, "\(what) refused as over \(limit) bytes at \(size.map(String.init) ?? "nil")")
        default:
            preconditionFailure("\(what) refused with \(error)")
        }
        throw error
    }
    guard let text else {
        precondition(result == nil && !required, "an absent \(what) gave \(String(describing: result))")
        return nil
    }
    guard let result else { preconditionFailure("a present \(what) decoded as absent") }
    precondition(result.count <= limit, "\(what) of \(result.count) bytes accepted over its limit \(limit)")
    if let strict { precondition(strict == result, "\(what) \(text.debugDescription) decoded as \(result), not \(strict)") }
    return result
}

/// RFC 4648 section 4 base64: the standard alphabet, padded to a multiple of four characters,
/// `=` only at the end (pad bits may be non-zero, as section 3.5 lets decoders accept).
private func strictBase64(_ text: String) -> [UInt8]? {
    let chars = Array(text.utf8)
    guard chars.count % 4 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(chars.count / 4 * 3)
    var i = 0
    while i < chars.count {
        let last = i + 4 == chars.count
        var values: [UInt32] = []
        for j in 0..<4 {
            let c = chars[i + j]
            if c == UInt8(ascii: "=") {
                guard last, j >= 2, j == 3 || chars[i + 3] == UInt8(ascii: "=") else { return nil }
                break
            }
            guard let v = base64Value(c) else { return nil }
            values.append(UInt32(v))
        }
        var word: UInt32 = 0
        for (j, v) in values.enumerated() { word |= v << (18 - 6 * UInt32(j)) }
        let bytes = [UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)]
        out += bytes.prefix(values.count - 1)
        i += 4
    }
    return out
}

private func base64Value(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"): c - UInt8(ascii: "A")
    case UInt8(ascii: "a")...UInt8(ascii: "z"): c - UInt8(ascii: "a") + 26
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0") + 52
    case UInt8(ascii: "+"): 62
    case UInt8(ascii: "/"): 63
    default: nil
    }
}

/// A refusal is one of the spec's names for malformed input, with its status and a printable message.
private func checkRefusal(_ error: APIError, allowed: Set<XKSAPI.ErrorName>) {
    let body = XKSErrorMapping.body(for: error)
    precondition(allowed.contains(body.errorName), "refused as \(body.errorName): \(error)")
    precondition(body.errorName.status == Int(error.status.code), "\(body.errorName) carries status \(error.status.code)")
    if body.errorName == .invalidCiphertextException {
        precondition(error.message.hasPrefix("ciphertextMetadata"), "InvalidCiphertext before decrypt for \(error)")
    }
    let message = body.errorMessage ?? ""
    precondition(message.utf8.count < 512 && message.utf8.allSatisfy { (0x20...0x7E).contains($0) }, "unprintable message")
}

// MARK: - 2: encrypt/decrypt round trip

private func fuzzRoundTrip(_ input: [UInt8]) {
    let header = Array(input.prefix(4)) + [UInt8](repeating: 0, count: max(0, 4 - input.count))
    let position = Int(header[0]) | Int(header[1]) << 8
    let mask = header[2] == 0 ? 0x80 : header[2]
    let payload = Array(input.dropFirst(4))
    let aadCount = min(Int(header[3]) % (payload.count + 1), XKSAPI.maximumAADBytes)
    let aad = Array(payload[..<aadCount])
    let plaintext = Array(payload[aadCount...])
    let key = FuzzFixtures.xksKey

    let encrypted: XKSCipher.Encrypted
    let again: XKSCipher.Encrypted
    let decrypted: [UInt8]
    do throws(CipherError) {
        encrypted = try XKSCipher.encrypt(plaintext, aad: aad, key: key)
        again = try XKSCipher.encrypt(plaintext, aad: aad, key: key)
        decrypted = try XKSCipher.decrypt(encrypted, aad: aad, key: key)
    } catch {
        preconditionFailure("encrypt or decrypt of a fresh ciphertext failed: \(error)")
    }
    precondition(encrypted.iv.count == 12 && encrypted.tag.count == 16 && encrypted.metadata == [0x01], "unexpected shape")
    precondition(encrypted.ciphertext.count == plaintext.count, "ciphertext length differs from the plaintext's")
    precondition(encrypted.iv != again.iv, "two encryptions used the same IV")
    precondition(decrypted == plaintext, "decrypt did not give the plaintext back")
    // The spec's AAD construction, opened here with swift-crypto directly.
    let specAAD = [UInt8(aad.count >> 8), UInt8(aad.count & 0xFF)] + aad + [UInt8(encrypted.metadata.count)] + encrypted.metadata
    precondition(XKSCipher.gcmAAD(aad: aad, metadata: encrypted.metadata) == specAAD, "gcmAAD is not the spec's construction")
    let opened: [UInt8]
    do {
        let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: encrypted.iv), ciphertext: encrypted.ciphertext, tag: encrypted.tag)
        opened = Array(try AES.GCM.open(box, using: key, authenticating: specAAD))
    } catch {
        preconditionFailure("AES-GCM with the spec's AAD does not open the ciphertext: \(error)")
    }
    precondition(opened == plaintext, "AES-GCM with the spec's AAD gives another plaintext")
    checkIntegrityValue(encrypted, aad: aad)

    // One flipped byte anywhere in what decrypt authenticates.
    var (flipped, flippedAAD) = (encrypted, aad)
    var at = position % (aad.count + 1 + 12 + plaintext.count + 16)
    if at < aad.count {
        flippedAAD[at] ^= mask
    } else if at - aad.count < 1 {
        flipped.metadata[0] ^= mask
    } else {
        at -= aad.count + 1
        if at < 12 {
            flipped.iv[at] ^= mask
        } else if at - 12 < plaintext.count {
            flipped.ciphertext[at - 12] ^= mask
        } else {
            flipped.tag[at - 12 - plaintext.count] ^= mask
        }
    }
    refused(flipped, aad: flippedAAD, "a flipped byte at \(position)")
    // The metadata moved into the AAD (the spec's example of why the lengths are included).
    var moved = encrypted
    moved.metadata = []
    refused(moved, aad: aad + encrypted.metadata, "metadata moved into the AAD")
    var longIV = encrypted
    longIV.iv += header.prefix(4)
    refused(longIV, aad: aad, "a 16-byte IV")
    var shorter = encrypted
    if !shorter.ciphertext.isEmpty {
        shorter.ciphertext.removeLast()
        refused(shorter, aad: aad, "a ciphertext one byte shorter")
    }
    var longer = encrypted
    longer.ciphertext.append(mask)
    refused(longer, aad: aad, "a ciphertext one byte longer")
}

private func refused(_ encrypted: XKSCipher.Encrypted, aad: [UInt8], _ what: String) {
    do throws(CipherError) {
        _ = try XKSCipher.decrypt(encrypted, aad: aad, key: FuzzFixtures.xksKey)
        preconditionFailure("\(what) still decrypts")
    } catch {
        precondition(error == .authenticationFailed, "\(what) failed with \(error), not .authenticationFailed")
    }
}

/// Spec appendix C: SHA-256 over `aad || metadata || iv || ciphertext || tag`, no lengths.
private func checkIntegrityValue(_ encrypted: XKSCipher.Encrypted, aad: [UInt8]) {
    let expected = Array(SHA256.hash(data: aad + encrypted.metadata + encrypted.iv + encrypted.ciphertext + encrypted.tag))
    precondition(XKSCipher.integrityValue(encrypted, aad: aad) == expected, "integrity value is not SHA-256 of the fields")
}
