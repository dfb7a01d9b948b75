import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One S3 request as ``S3Client`` means it, before it is addressed and signed: the same value is
/// signed again (with a fresh date) for every attempt.
struct S3Request: Sendable {
    /// The S3 API's name for it (`PutObject`), for logs.
    var operation: String
    var method: HTTPMethod
    /// The object key; nil for a request on the bucket itself.
    var key: String?
    /// Query parameters, unencoded; a nil value is a bare name (`?uploads`).
    var query: [(name: String, value: String?)]
    /// Extra headers to send and sign (`Range`, `Content-Type`).
    var headers: [(name: String, value: String)]
    /// Held in memory, so it can be sent again on a retry.
    var body: ByteBuffer?
    /// Error codes the caller treats as success (`BucketAlreadyOwnedByYou` for CreateBucket):
    /// logged at debug level, not as warnings.
    var expectedErrorCodes: Set<String> = []
    /// The body's hex SHA-256, signed and sent as `x-amz-content-sha256` (S3 checks it against
    /// the bytes it receives); computed once, not per attempt.
    let payloadHash: String

    init(
        operation: String, method: HTTPMethod, key: String?, query: [(name: String, value: String?)] = [],
        headers: [(name: String, value: String)] = [], body: ByteBuffer? = nil
    ) {
        self.operation = operation
        self.method = method
        self.key = key
        self.query = query
        self.headers = headers
        self.body = body
        if let body, body.readableBytes > 0 {
            payloadHash =
                body.readableBytesView.withContiguousStorageIfAvailable { SigV4Payload.hash($0) }
                ?? SigV4Payload.hash(body.readableBytesView)
        } else {
            payloadHash = SigV4Payload.emptyHash
        }
    }

    /// Where the request goes: the URL to send to, and the `Host`, path and query it is signed with
    /// (path and query percent-encoded exactly as sent).
    struct Target: Equatable {
        var url: String
        var host: String
        var path: String
        var query: String
    }

    func target(_ settings: S3Settings) -> Target {
        let endpoint = settings.endpoint
        let scheme = endpoint.scheme?.lowercased() ?? "https"
        var host = endpoint.host ?? ""
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }  // an IPv6 literal
        var path: String
        switch settings.addressing {
        case .path:
            path = "/" + SigV4Encoding.encode(settings.bucket)
            if let key { path += "/" + SigV4Encoding.encode(key, keepSlash: true) }
        case .virtualHost:
            host = settings.bucket + "." + host
            path = "/" + (key.map { SigV4Encoding.encode($0, keepSlash: true) } ?? "")
        }
        if let port = endpoint.port, !(scheme == "http" && port == 80) && !(scheme == "https" && port == 443) {
            host += ":\(port)"
        }
        let query = query.map { pair in
            SigV4Encoding.encode(pair.name) + (pair.value.map { "=" + SigV4Encoding.encode($0) } ?? "")
        }.joined(separator: "&")
        return Target(url: "\(scheme)://\(host)\(path)" + (query.isEmpty ? "" : "?\(query)"), host: host, path: path, query: query)
    }

    /// The request for AsyncHTTPClient, signed at `date` over `Host`, the extra headers,
    /// `x-amz-date` and `x-amz-content-sha256`. (AsyncHTTPClient adds `Content-Length`, which is
    /// not signed, as AWS's own SDKs do not sign it either.)
    func signed(with signer: SigV4Signer, settings: S3Settings, date: Date) throws(S3Error) -> HTTPClientRequest {
        let target = target(settings)
        let unsigned = SigV4Request(
            method: method.rawValue, path: target.path, query: target.query, headers: [(name: "Host", value: target.host)] + headers)
        let signed: SigV4SignedRequest
        do {
            signed = try signer.sign(unsigned, payloadHash: payloadHash, date: date, sendContentSHA256: true)
        } catch {
            throw .invalidRequest("it could not be signed: \(error)")
        }
        var request = HTTPClientRequest(url: target.url)
        request.method = method
        for header in signed.request.headers { request.headers.add(name: header.name, value: header.value) }
        if let body {
            request.body = .bytes(body)
        } else if method == .PUT || method == .POST {
            request.body = .bytes(ByteBuffer())  // S3 wants `Content-Length: 0` rather than none
        }
        return request
    }
}
