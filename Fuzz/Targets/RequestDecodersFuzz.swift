// libFuzzer target: what the daemons parse from a request before any operation runs.
//
// The first byte selects the parser (byte % 3), so seeds stay readable text ('0', '1', '2'):
//   0  the rest is a KeyService JSON body, decoded with `JSONDecoder()` exactly as
//      `Request.decodeJSON` does into `KeyServiceAPI.UnwrapRequest`, `BatchUnwrapRequest`,
//      `GenerateRequest` and `CreateUserRequest` (Sources/Shared/Wire/KeyServiceAPI.swift). A
//      decoded value must re-encode and decode to the same JSON; the unwrap path's follow-up
//      checks (base64, `WrappedKey(encoded:)`, `Identifiers`) run on what decoded.
//   1  the rest is a `Range` header value for `ByteRange.parse` (Sources/StorageNode/API/ByteRange.swift),
//      resolved against object sizes 0, 1, 1000 and Int64.max: a result must be a non-empty
//      range inside the object; a refusal must be a 400 `invalid_range` or 416.
//   2  the rest is the raw path after `/v1/objects/USER/` for `ObjectKey.parse(rawPath:)`
//      (Sources/StorageNode/API/ObjectKey.swift): an accepted key must obey the documented rules,
//      checked on its UTF-8 bytes (never on grapheme clusters).
// Never a crash, trap or hang.
import Foundation
import HTTPTypes
import Shared

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let rest = UnsafeBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 3 {
    case 0: fuzzJSON(Data(buffer: rest))
    case 1: fuzzRange(String(decoding: rest, as: UTF8.self))
    default: fuzzObjectKey(String(decoding: rest, as: UTF8.self))
    }
    return 0
}

private func fuzzJSON(_ body: Data) {
    if let request = roundTrip(KeyServiceAPI.UnwrapRequest.self, body) {
        checkUnwrap(request)
    }
    if let batch = roundTrip(KeyServiceAPI.BatchUnwrapRequest.self, body) {
        for item in batch.items.prefix(KeyServiceAPI.maximumBatchSize) { checkUnwrap(item) }
    }
    if let generate = roundTrip(KeyServiceAPI.GenerateRequest.self, body) {
        _ = Identifiers.isValidUserID(generate.user)
        _ = generate.context.utf8.count <= KeyServiceAPI.maximumContextLength
    }
    if let create = roundTrip(KeyServiceAPI.CreateUserRequest.self, body) {
        _ = Identifiers.isValidUserID(create.id)
        _ = Identifiers.isValidRegion(create.homeRegion)
    }
}

/// Decodes as the daemons do; a decoded value must survive encode -> decode -> encode unchanged.
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

/// What `KeyOperations.unwrap` does with a decoded body before it touches the key store.
private func checkUnwrap(_ request: KeyServiceAPI.UnwrapRequest) {
    let userOK = Identifiers.isValidUserID(request.user)
    _ = request.context.utf8.count <= KeyServiceAPI.maximumContextLength
    guard let blob = Data(base64Encoded: request.wrapped) else { return }
    guard let wrapped = try? WrappedKey(encoded: Array(blob)) else { return }
    _ = userOK && wrapped.userID == request.user
}

private let rangeSizes: [Int64] = [0, 1, 1000, .max]

private func fuzzRange(_ header: String) {
    for size in rangeSizes {
        do {
            guard let range = try ByteRange.parse(header, size: size) else {
                preconditionFailure("a present header parsed as absent")
            }
            precondition(
                !range.isEmpty && range.lowerBound >= 0 && range.upperBound <= size,
                "Range \(header.debugDescription) resolved to \(range) for size \(size)")
        } catch {
            switch error.status {
            case .badRequest: precondition(error.code == .invalidRange)
            case .rangeNotSatisfiable:
                precondition(error.code == .rangeNotSatisfiable && error.headers["Content-Range"] == "bytes */\(size)")
            default: preconditionFailure("unexpected Range refusal \(error)")
            }
        }
    }
}

private func fuzzObjectKey(_ raw: String) {
    let key: String
    do {
        key = try ObjectKey.parse(rawPath: raw[...])
    } catch {
        precondition(error.status == .badRequest && error.code == .invalidKey)
        return
    }
    // Checked on the UTF-8 bytes, as a file system or a mirror sees the key: split on
    // `Character`s, `/` or `.` followed by a combining mark (`a/../\u{0301}b`) is one grapheme
    // cluster equal to neither, and a `..` segment would pass unseen.
    let bytes = Array(key.utf8)
    precondition((1...ObjectKey.maximumLength).contains(bytes.count))
    precondition(!bytes.contains { $0 < 0x20 || $0 == 0x7f })
    let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
    for segment in bytes.split(separator: slash, omittingEmptySubsequences: false) {
        precondition(!segment.isEmpty && !segment.elementsEqual([dot]) && !segment.elementsEqual([dot, dot]))
    }
    // Accepting is idempotent: the decoded key, validated again, is still accepted.
    do { try ObjectKey.validate(key) } catch { preconditionFailure("accepted key fails validation: \(error)") }
}
