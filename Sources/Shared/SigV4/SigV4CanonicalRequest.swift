/// The canonical request of SigV4: method, canonical URI, canonical query, canonical headers,
/// signed-header list and payload hash, one per line. Signer and verifier both build it here, so
/// they cannot disagree about a rule.
public struct SigV4CanonicalRequest: Sendable, Equatable {
    public var method: String
    public var uri: String
    public var query: String
    /// One `name:value\n` line per signed header.
    public var headers: String
    public var signedHeaders: String
    public var payloadHash: String

    /// The text whose SHA-256 the string to sign carries.
    public var text: String {
        "\(method)\n\(uri)\n\(query)\n\(headers)\n\(signedHeaders)\n\(payloadHash)"
    }

    /// - Parameters:
    ///   - signedHeaders: lower-case, sorted, distinct names; each must be in the request.
    ///   - normalizePath: non-S3 rules (see ``canonicalURI(_:normalizePath:)``).
    ///   - omittingQueryKey: a query parameter left out (`X-Amz-Signature` when verifying a presigned URL).
    public init(
        _ request: SigV4Request, signedHeaders: [String], payloadHash: String, normalizePath: Bool,
        omittingQueryKey: String? = nil
    ) throws(SigV4Error) {
        method = request.method
        uri = try Self.canonicalURI(request.path, normalizePath: normalizePath)
        query = try Self.canonicalQuery(request.query, omitting: omittingQueryKey)
        headers = try Self.canonicalHeaders(request.headers, signed: signedHeaders)
        self.signedHeaders = signedHeaders.joined(separator: ";")
        self.payloadHash = payloadHash
    }

    /// The canonical URI of a raw (percent-encoded) path.
    ///
    /// - `normalizePath: true`, every service but S3 (botocore's `SigV4Auth`): dot segments and
    ///   empty segments are removed as RFC 3986 section 5.2.4 does (AWS also collapses `//`), then
    ///   every byte but the unreserved ones and `/` is encoded again, so `%20` on the wire becomes
    ///   `%2520` here (AWS's "encode twice").
    /// - `normalizePath: false`, S3: the path as sent, its `%XX` escapes kept as they are (no
    ///   double encoding, no dot-segment removal), as botocore's `S3SigV4Auth` signs it. Only bytes
    ///   RFC 3986 does not allow in a path (space, controls, non-ASCII, quote, angle and square
    ///   brackets, braces, caret, backtick, bar, backslash) are encoded,
    ///   so a path on the wire is unchanged and the suite's unencoded paths are encoded once.
    ///
    /// An empty path is `/`. A `%` without two hex digits is refused in both modes.
    public static func canonicalURI(_ path: String, normalizePath: Bool) throws(SigV4Error) -> String {
        let bytes = Array(path.utf8)
        _ = try SigV4Encoding.decode(bytes, part: "path")  // validates the escapes
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        if normalizePath {
            SigV4Encoding.encode(removeDotSegments(bytes), keepSlash: true, into: &out)
        } else {
            var i = 0
            while i < bytes.count {
                let byte = bytes[i]
                if byte == UInt8(ascii: "%") {
                    out.append(contentsOf: bytes[i..<(i + 3)])  // validated above
                    i += 3
                    continue
                }
                if SigV4Encoding.isPathCharacter(byte) {
                    out.append(byte)
                } else {
                    SigV4Encoding.appendEscaped(byte, to: &out)
                }
                i += 1
            }
        }
        return out.isEmpty ? "/" : String(decoding: out, as: UTF8.self)
    }

    /// Removes `.` and empty segments and resolves `..` (never above the root), keeping a leading
    /// `/` and a trailing one when segments remain: the rule of botocore's `remove_dot_segments`.
    static func removeDotSegments(_ path: [UInt8]) -> [UInt8] {
        guard !path.isEmpty else { return [UInt8(ascii: "/")] }
        var kept: [ArraySlice<UInt8>] = []
        for segment in path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if segment.elementsEqual([UInt8(ascii: ".")]) { continue }
            if segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                if !kept.isEmpty { kept.removeLast() }
                continue
            }
            kept.append(segment)
        }
        var out: [UInt8] = path.first == UInt8(ascii: "/") ? [UInt8(ascii: "/")] : []
        for (n, segment) in kept.enumerated() {
            if n > 0 { out.append(UInt8(ascii: "/")) }
            out.append(contentsOf: segment)
        }
        if path.last == UInt8(ascii: "/") && !kept.isEmpty { out.append(UInt8(ascii: "/")) }
        return out
    }

    /// The canonical query: each `key=value` pair decoded and re-encoded (unreserved characters
    /// kept, everything else `%XX` upper-case), a key without `=` given an empty value, empty
    /// pairs (`&&`) dropped, sorted by encoded key and then encoded value (byte order).
    ///
    /// `+` is a literal plus (`%2B`), not a space: SigV4 clients encode spaces as `%20`.
    public static func canonicalQuery(_ query: String, omitting omitted: String? = nil) throws(SigV4Error) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(key: [UInt8], value: [UInt8])] = []
        let omittedBytes = omitted.map { Array($0.utf8) }
        for part in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = part.firstIndex(of: UInt8(ascii: "="))
            let rawKey = equals.map { part[part.startIndex..<$0] } ?? part[...]
            let rawValue = equals.map { part[part.index(after: $0)...] } ?? part[part.endIndex...]
            let key = try SigV4Encoding.decode(rawKey, part: "query")
            let value = try SigV4Encoding.decode(rawValue, part: "query")
            if let omittedBytes, key == omittedBytes { continue }
            var encodedKey: [UInt8] = []
            var encodedValue: [UInt8] = []
            SigV4Encoding.encode(key, keepSlash: false, into: &encodedKey)
            SigV4Encoding.encode(value, keepSlash: false, into: &encodedValue)
            pairs.append((encodedKey, encodedValue))
        }
        pairs.sort { a, b in
            a.key == b.key ? a.value.lexicographicallyPrecedes(b.value) : a.key.lexicographicallyPrecedes(b.key)
        }
        var out: [UInt8] = []
        for (n, pair) in pairs.enumerated() {
            if n > 0 { out.append(UInt8(ascii: "&")) }
            out.append(contentsOf: pair.key)
            out.append(UInt8(ascii: "="))
            out.append(contentsOf: pair.value)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical header lines of the `signed` names: each value trimmed and its inner runs of
    /// whitespace (space, tab, and the CR LF of a folded line) collapsed to one space, the values
    /// of a repeated name joined by `,` in request order.
    public static func canonicalHeaders(_ headers: [(name: String, value: String)], signed: [String]) throws(SigV4Error) -> String {
        // Keyed by bytes, not String: String equality is Unicode canonical equivalence, under
        // which a non-ASCII header name could stand for an ASCII one.
        var valuesByName: [[UInt8]: [String]] = [:]
        for header in headers {
            valuesByName[lowercasedBytes(header.name), default: []].append(header.value)
        }
        var out = ""
        for name in signed {
            guard let values = valuesByName[Array(name.utf8)] else { throw .signedHeaderMissing(name) }
            out += name + ":" + values.map(collapsingWhitespace).joined(separator: ",") + "\n"
        }
        return out
    }

    /// The value trimmed, with every inner run of space, tab, CR or LF made one space.
    static func collapsingWhitespace(_ value: String) -> String {
        var out: [UInt8] = []
        var pendingSpace = false
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                pendingSpace = !out.isEmpty
            default:
                if pendingSpace { out.append(UInt8(ascii: " ")) }
                pendingSpace = false
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// ASCII lower case, as bytes; header names are ASCII tokens, and Unicode case mapping could
    /// turn another name into one of them.
    static func lowercasedBytes(_ name: String) -> [UInt8] {
        name.utf8.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }
    }

    static func lowercased(_ name: String) -> String {
        String(decoding: lowercasedBytes(name), as: UTF8.self)
    }
}
