import Crypto

/// A request as the server received it (or as a client is about to send it), in wire form.
///
/// The path and query stay percent-encoded exactly as sent: SigV4 signs the encoding, so decoding
/// before verification would make different requests look alike. Header order matters for
/// repeated names (their values are joined in order); HTTP/2 callers pass `:authority` as `host`.
public struct SigV4Request: Sendable {
    public var method: String
    /// The raw path as sent, percent-encoded, without the query.
    public var path: String
    /// The raw query string without `?`; may be empty.
    public var query: String
    public var headers: [(name: String, value: String)]

    public init(method: String, path: String, query: String = "", headers: [(name: String, value: String)]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }

    /// The values of every header named `name` (ASCII case-insensitive), in order.
    public func values(of name: String) -> [String] {
        let wanted = SigV4CanonicalRequest.lowercasedBytes(name)
        return headers.filter { SigV4CanonicalRequest.lowercasedBytes($0.name) == wanted }.map(\.value)
    }
}

/// What stands in the canonical request's last line: the body's SHA-256, or one of the markers
/// S3 clients send in `x-amz-content-sha256` instead.
public enum SigV4Payload {
    /// The body is not covered by the signature (S3 presigned URLs, some S3 uploads over TLS).
    public static let unsigned = "UNSIGNED-PAYLOAD"
    /// Prefix of the chunked-upload markers (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, ...): each
    /// chunk carries its own signature, which this module does not check.
    public static let streamingPrefix = "STREAMING-"
    /// The header S3 clients send the payload hash in (the XKS proxy's clients do not).
    public static let contentSHA256Header = "x-amz-content-sha256"
    /// SHA-256 of the empty body.
    public static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The lower-case hex SHA-256 of `body`.
    public static func hash<Bytes: Sequence<UInt8>>(_ body: Bytes) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(body))
        return Hex.encode(hasher.finalize())
    }

    /// Whether `text` is 64 lower-case hexadecimal digits.
    public static func isHexDigest(_ text: String) -> Bool {
        text.utf8.count == 64
            && text.utf8.allSatisfy {
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
            }
    }
}
