// libFuzzer target: SigV4 authentication as the XKS proxy and the S3 API will see it, on
// attacker-controlled requests (Sources/Shared/SigV4/, compiled in as they are).
//
// The input is split at its first three newlines into an `Authorization` header value, a raw
// query string and a raw path; the rest is header lines `name:value`, one per line. Then:
//   - `SigV4Authorization(header:)` on the first part: a typed error, or parts that obey the
//     grammar (64 lower-case hex digits for 32 signature bytes, sorted distinct lower-case signed
//     headers, an 8-digit scope date) and re-parse identically from their canonical spelling;
//   - `SigV4Authorization(presignedQuery:)` on the query: a typed error, or X-Amz-Expires in
//     1...604800 and an X-Amz-Date that parses;
//   - the canonical URI (both path modes) and canonical query: a typed error, or text made only
//     of the characters their encodings produce;
//   - `SigV4Verifier.verify` (the first part as Authorization, plus the header lines) and
//     `verifyPresigned` (the header lines only), service `service`, both path modes, under the
//     suite's key `AKIDEXAMPLE` at the suite's time: a typed error, or a result whose signature
//     the signer reproduces from the same request (so an accepted request is really signed).
// Never a crash, trap, leak or hang.
import Foundation
import Shared

private let secret = Array("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".utf8)
private let now = SigV4Date.parse("20150830T123600Z")!
private let verifiers = [true, false].map { normalize in
    SigV4Verifier(service: "service", normalizePath: normalize, maxSkew: 900) { $0 == "AKIDEXAMPLE" ? secret : nil }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parts = text.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
    let authorization = parts[0]
    let query = parts.count > 1 ? parts[1] : ""
    let path = parts.count > 2 ? parts[2] : "/"
    var headers: [(name: String, value: String)] = []
    if parts.count > 3 {
        for line in parts[3].split(separator: "\n", omittingEmptySubsequences: false).prefix(64) {
            let colon = line.firstIndex(of: ":") ?? line.endIndex
            headers.append((name: String(line[..<colon]), value: colon == line.endIndex ? "" : String(line[line.index(after: colon)...])))
        }
    }
    checkHeaderParser(authorization)
    checkPresignedParser(query)
    checkCanonicalForms(path: path, query: query)
    let signed = SigV4Request(method: "GET", path: path, query: query, headers: headers + [(name: "Authorization", value: authorization)])
    let presigned = SigV4Request(method: "GET", path: path, query: query, headers: headers)
    for (verifier, normalize) in zip(verifiers, [true, false]) {
        if let verified = try? verifier.verify(signed, payloadHash: SigV4Payload.emptyHash, now: now) {
            checkReproduced(verified, presigned, normalize: normalize)
        }
        if let verified = try? verifier.verifyPresigned(presigned, payloadHash: SigV4Payload.emptyHash, now: now) {
            precondition(verified.expires.map(SigV4Authorization.expiresRange.contains) == true, "presigned result without valid expiry")
            precondition(verified.signedHeaders.contains("host"), "presigned result without host signed")
        }
    }
    return 0
}

private func isLowerHex(_ text: String) -> Bool {
    text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
}

private func checkHeaderParser(_ header: String) {
    let auth: SigV4Authorization
    do {
        auth = try SigV4Authorization(header: header)
    } catch {
        _ = error.description  // typed by the signature; describing it must not trap either
        return
    }
    precondition(header.utf8.count <= SigV4Authorization.maximumLength, "accepted an over-long header")
    precondition(auth.signature.utf8.count == 64 && isLowerHex(auth.signature), "signature not 64 lower-case hex digits")
    precondition(auth.signatureBytes.count == 32 && Hex.encode(auth.signatureBytes) == auth.signature, "signature bytes differ from hex")
    precondition(!auth.signedHeaders.isEmpty, "empty SignedHeaders accepted")
    for (a, b) in zip(auth.signedHeaders, auth.signedHeaders.dropFirst()) {
        precondition(Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)), "SignedHeaders not strictly sorted")
    }
    precondition(auth.scope.date.utf8.count == 8 && SigV4Date.parse(auth.scope.date + "T000000Z") != nil, "bad scope date accepted")
    let canonical =
        "AWS4-HMAC-SHA256 Credential=\(auth.accessKeyID)/\(auth.scope.string), "
        + "SignedHeaders=\(auth.signedHeaders.joined(separator: ";")), Signature=\(auth.signature)"
    precondition((try? SigV4Authorization(header: canonical)) == auth, "canonical spelling does not re-parse to the same parts")
}

private func checkPresignedParser(_ query: String) {
    guard let auth = try? SigV4Authorization(presignedQuery: query) else { return }
    precondition(auth.expires.map(SigV4Authorization.expiresRange.contains) == true, "expiry outside 1...604800 accepted")
    precondition(auth.amzDate.flatMap(SigV4Date.parse) != nil, "invalid X-Amz-Date accepted")
    precondition(auth.signatureBytes.count == 32, "short signature accepted")
    if let date = auth.amzDate.flatMap(SigV4Date.parse) {
        precondition(SigV4Date.string(date) == auth.amzDate, "X-Amz-Date does not format back to itself")
    }
}

private func checkCanonicalForms(path: String, query: String) {
    let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%".utf8)
    if let uri = try? SigV4CanonicalRequest.canonicalURI(path, normalizePath: true) {
        precondition(uri.utf8.allSatisfy { unreserved.contains($0) || $0 == UInt8(ascii: "/") }, "normalized URI holds a raw reserved byte")
        precondition(!uri.contains("//") && !uri.hasSuffix("/.") && !uri.contains("/./") && !uri.contains("/../"), "URI not normalized")
    }
    if let uri = try? SigV4CanonicalRequest.canonicalURI(path, normalizePath: false) {
        precondition(uri.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "S3 URI holds a raw space, control or non-ASCII byte")
    }
    if let canonical = try? SigV4CanonicalRequest.canonicalQuery(query) {
        precondition(
            canonical.utf8.allSatisfy { unreserved.contains($0) || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "&") },
            "canonical query holds a raw reserved byte")
        precondition((try? SigV4CanonicalRequest.canonicalQuery(canonical)) == canonical, "canonical query is not a fixed point")
    }
}

/// An accepted header-form request: the signer, given the same request, key and signed headers,
/// must produce the signature the verifier accepted.
private func checkReproduced(_ verified: SigV4Verified, _ request: SigV4Request, normalize: Bool) {
    var unsigned = request
    unsigned.headers.removeAll { ["x-amz-date", "authorization"].contains($0.name.lowercased()) }
    let signer = SigV4Signer(
        credentials: SigV4Credentials(accessKeyID: verified.accessKeyID, secret: secret), region: verified.region,
        service: "service", normalizePath: normalize)
    guard
        let ours = try? signer.sign(
            unsigned, payloadHash: verified.payloadHash, date: verified.date, signedHeaders: verified.signedHeaders)
    else { preconditionFailure("the signer refuses a request the verifier accepted") }
    precondition(ours.signature == verified.signature, "accepted signature is not the one the signer computes")
}
