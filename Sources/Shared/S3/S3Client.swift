import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// A client for one bucket of an S3-compatible object store: the operations a blob store needs,
/// signed with SigV4 (``SigV4Signer``) and sent with AsyncHTTPClient.
///
/// Every request signs the SHA-256 of its body (`x-amz-content-sha256`), so the store refuses
/// bytes changed on the way; single PUTs and parts are also checked against the MD5 ETag the
/// store answers. Failures that may pass (500, 503, `SlowDown`, connection errors, timeouts)
/// are retried as ``S3Settings/retry`` allows, each attempt signed afresh; bodies are held in
/// memory (`ByteBuffer`), so every attempt can send them again.
///
/// Owns its HTTP client: call ``shutdown()`` before dropping it (AsyncHTTPClient traps in debug
/// builds on a client that was never shut down).
public final class S3Client: Sendable {
    public let settings: S3Settings
    private let transport: S3Transport

    /// Longest object key S3 accepts, in UTF-8 bytes.
    public static let maximumKeyLength = 1024
    /// The most keys one ListObjectsV2 page may ask for.
    public static let maximumListKeys = 1000

    public init(settings: S3Settings, logger: Logger) {
        var configuration = HTTPClient.Configuration()
        if settings.endpoint.scheme?.lowercased() == "https" {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            if let caFile = settings.caFile { tls.trustRoots = .file(caFile) }
            configuration.tlsConfiguration = tls
        }
        configuration.timeout = .init(
            connect: S3Transport.timeAmount(settings.timeouts.connect), read: S3Transport.timeAmount(settings.timeouts.read))
        // A redirect (S3's 301 for a bucket in another region) is an error to report, not a
        // reason to send a signed request somewhere else.
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        // A refused connection fails the request at once, so the retry policy (and its time
        // bound) decides what happens next, not the pool's own retries until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        // Below the idle limit of common stores and load balancers, so a pooled connection is
        // seldom one the server is closing just as a request goes out.
        configuration.connectionPool.idleTimeout = .seconds(15)
        configuration.decompression = .disabled
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let signer = SigV4Signer(credentials: settings.credentials, region: settings.region, service: "s3", normalizePath: false)
        self.settings = settings
        transport = S3Transport(http: http, settings: settings, signer: signer, logger: logger)
    }

    /// Closes the connections; no request may follow.
    public func shutdown() async throws {
        try await transport.http.shutdown()
    }

    // MARK: Bucket

    /// Creates the bucket (tests and first set-up); a bucket this access key already owns is fine.
    public func createBucket() async throws(S3Error) {
        var body: ByteBuffer?
        if settings.region != "us-east-1" {
            body = ByteBuffer(
                string: "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                    + "<LocationConstraint>\(Self.xmlEscaped(settings.region))</LocationConstraint></CreateBucketConfiguration>")
        }
        do {
            var request = S3Request(operation: "CreateBucket", method: .PUT, key: nil, body: body)
            request.expectedErrorCodes = ["BucketAlreadyOwnedByYou"]
            _ = try await transport.answer(request)
        } catch .server(status: 409, code: "BucketAlreadyOwnedByYou") {
            return
        }
    }

    // MARK: Writing

    /// Stores `body` under `key` in one PUT (up to 5 GiB; use a multipart upload above some
    /// megabytes, as the whole body is held and hashed). Returns the ETag.
    @discardableResult
    public func putObject(key: String, body: ByteBuffer) async throws(S3Error) -> String {
        try Self.checkKey(key)
        let answer = try await transport.answer(S3Request(operation: "PutObject", method: .PUT, key: key, body: body))
        let etag = answer.headers.first(name: "etag") ?? ""
        try Self.checkMD5(etag: etag, body: body, what: "object '\(key)'")
        return etag
    }

    /// Starts a multipart upload to `key`; the object appears only once it is completed.
    public func createMultipartUpload(key: String) async throws(S3Error) -> S3MultipartUpload {
        try Self.checkKey(key)
        let request = S3Request(operation: "CreateMultipartUpload", method: .POST, key: key, query: [("uploads", nil)])
        let answer = try await transport.answer(request)
        return try S3MultipartUpload.parseInitiate(try Self.xml(answer.body), key: key)
    }

    /// Uploads part `number` (1...10000) of `upload`. Every part but the last must have at least
    /// ``S3MultipartUpload/minimumPartSize`` bytes (the store refuses the completion otherwise).
    /// Sending a number again replaces that part.
    public func uploadPart(_ upload: S3MultipartUpload, number: Int, body: ByteBuffer) async throws(S3Error) -> S3UploadedPart {
        guard S3MultipartUpload.partNumbers.contains(number) else {
            throw .invalidRequest("part number \(number) is outside \(S3MultipartUpload.partNumbers)")
        }
        let request = S3Request(
            operation: "UploadPart", method: .PUT, key: upload.key,
            query: [("partNumber", "\(number)"), ("uploadId", upload.uploadID)], body: body)
        let answer = try await transport.answer(request)
        guard let etag = answer.headers.first(name: "etag"), !etag.isEmpty else {
            throw .invalidResponse("part \(number) of '\(upload.key)' was acknowledged without an ETag")
        }
        try Self.checkMD5(etag: etag, body: body, what: "part \(number) of '\(upload.key)'")
        return S3UploadedPart(number: number, etag: etag)
    }

    /// Completes `upload` from `parts` (ascending part numbers, as ``uploadPart(_:number:body:)``
    /// returned them); returns the object's ETag, checked against the parts' ETags when both
    /// are of S3's MD5 form.
    ///
    /// Safe to call again after a failure: if an earlier call (or a retried attempt) already
    /// completed it, the store no longer knows the upload, and the object is checked instead.
    @discardableResult
    public func completeMultipartUpload(_ upload: S3MultipartUpload, parts: [S3UploadedPart]) async throws(S3Error) -> String {
        guard !parts.isEmpty else { throw .invalidRequest("a multipart upload needs at least one part") }
        for (previous, next) in zip(parts, parts.dropFirst()) where previous.number >= next.number {
            throw .invalidRequest("part numbers must ascend: \(previous.number) is followed by \(next.number)")
        }
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(Self.xmlEscaped(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let request = S3Request(
            operation: "CompleteMultipartUpload", method: .POST, key: upload.key, query: [("uploadId", upload.uploadID)],
            headers: [("Content-Type", "application/xml")], body: ByteBuffer(string: xml))
        let expected = S3ETag.multipart(parts)
        let settings = settings
        let etag: String
        do {
            etag = try await transport.answer(request) { answer throws(S3Error) -> String in
                // The status line goes out before the store has finished; a failure then comes
                // as a 200 whose body is an <Error>.
                if let failure = S3ErrorAnswer(okBody: answer.body, headers: answer.headers) {
                    throw failure.error(for: request, settings: settings)
                }
                let root = try Self.xml(answer.body)
                guard root.name == "CompleteMultipartUploadResult" else {
                    throw .invalidResponse("expected CompleteMultipartUploadResult, got \(root.name)")
                }
                return root.text(of: "ETag") ?? ""
            }
        } catch .noSuchUpload(let id) {
            guard let expected, let info = try? await headObject(key: upload.key), let found = info.etag,
                S3ETag.unquoted(found).lowercased() == expected
            else { throw .noSuchUpload(id) }
            return found
        }
        let unquoted = S3ETag.unquoted(etag).lowercased()
        if let expected, unquoted.contains("-"), unquoted != expected {
            throw .etagMismatch("'\(upload.key)' was completed with ETag \(unquoted), its parts make \(expected)")
        }
        return etag
    }

    /// Abandons `upload` and frees its parts; an upload already gone is fine.
    public func abortMultipartUpload(_ upload: S3MultipartUpload) async throws(S3Error) {
        var request = S3Request(
            operation: "AbortMultipartUpload", method: .DELETE, key: upload.key, query: [("uploadId", upload.uploadID)])
        request.expectedErrorCodes = ["NoSuchUpload"]
        do {
            _ = try await transport.answer(request)
        } catch .noSuchUpload {
            return
        }
    }

    // MARK: Reading

    /// The bytes of `key`, all of them or those of `range` (offsets into the object; a range
    /// past the end is cut at the end), streamed: only the range's bytes cross the network.
    public func getObject(key: String, range: Range<Int64>? = nil) async throws(S3Error) -> sending S3ObjectStream {
        try Self.checkKey(key)
        var headers: [(name: String, value: String)] = []
        if let range {
            guard range.lowerBound >= 0, !range.isEmpty else { throw .invalidRange }
            headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        let response = try await transport.open(S3Request(operation: "GetObject", method: .GET, key: key, headers: headers))
        return try S3ObjectStream(response: response, requested: range)
    }

    /// Size, last modification and ETag of `key`.
    public func headObject(key: String) async throws(S3Error) -> S3ObjectInfo {
        try Self.checkKey(key)
        let answer = try await transport.answer(S3Request(operation: "HeadObject", method: .HEAD, key: key))
        guard let size = answer.headers.first(name: "content-length").flatMap({ Int64($0) }), size >= 0 else {
            throw .invalidResponse("HEAD '\(key)' answered without Content-Length")
        }
        guard let modified = answer.headers.first(name: "last-modified").flatMap(S3Timestamp.httpDate) else {
            throw .invalidResponse("HEAD '\(key)' answered without a valid Last-Modified")
        }
        return S3ObjectInfo(key: key, size: size, lastModified: modified, etag: answer.headers.first(name: "etag"))
    }

    /// One page of the keys starting with `prefix`, in key order; pass the page's
    /// ``S3ListPage/nextContinuationToken`` to get the next one. `startAfter` begins the listing
    /// after that key (which need not exist) without a token: how a caller that keeps its own
    /// cursor (the last key it saw) resumes. S3 ignores it when a token is given.
    public func listObjectsV2(
        prefix: String = "", continuationToken: String? = nil, startAfter: String? = nil, maxKeys: Int = 1000
    ) async throws(S3Error) -> S3ListPage {
        guard (1...Self.maximumListKeys).contains(maxKeys) else {
            throw .invalidRequest("maxKeys \(maxKeys) is outside 1...\(Self.maximumListKeys)")
        }
        var query: [(name: String, value: String?)] = [("list-type", "2"), ("max-keys", "\(maxKeys)")]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let startAfter, !startAfter.isEmpty { query.append(("start-after", startAfter)) }
        let answer = try await transport.answer(S3Request(operation: "ListObjectsV2", method: .GET, key: nil, query: query))
        return try S3ListPage.parse(try Self.xml(answer.body))
    }

    // MARK: Deleting

    /// Deletes `key`; a key that does not exist is fine (S3 itself answers 204 either way).
    public func deleteObject(key: String) async throws(S3Error) {
        try Self.checkKey(key)
        do {
            _ = try await transport.answer(S3Request(operation: "DeleteObject", method: .DELETE, key: key))
        } catch .noSuchKey {
            return
        }
    }

    // MARK: Helpers

    static func checkKey(_ key: String) throws(S3Error) {
        guard (1...maximumKeyLength).contains(key.utf8.count) else {
            throw .invalidRequest("an object key must have 1 to \(maximumKeyLength) bytes, not \(key.utf8.count)")
        }
    }

    /// Compares a plain MD5 ETag with the body's MD5; other ETag forms are not checked.
    static func checkMD5(etag: String, body: ByteBuffer, what: String) throws(S3Error) {
        guard let stored = S3ETag.plainMD5(etag) else { return }
        let sent = S3ETag.md5Hex(body.readableBytesView)
        guard stored == sent else { throw .etagMismatch("the store answered ETag \(stored) for \(what), whose MD5 is \(sent)") }
    }

    static func xml(_ body: ByteBuffer) throws(S3Error) -> S3XMLElement {
        do {
            return try S3XML.parse(Array(body.readableBytesView))
        } catch {
            throw .invalidResponse("\(error)")
        }
    }

    static func xmlEscaped(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
