import Logging
import NIOCore
import NIOHTTP1

/// An error answer of S3 (`<Error><Code>NoSuchKey</Code><Message>...</Message>...</Error>`) as
/// received: status, code and the raw body. The body goes to the log only; ``error(for:settings:)``
/// is what callers (and their users) see.
struct S3ErrorAnswer {
    var status: Int
    /// The `<Code>`, if the body had one (a HEAD's answer has no body).
    var code: String?
    var requestID: String?
    var body: ByteBuffer

    init(status: Int, headers: HTTPHeaders, body: ByteBuffer) {
        self.status = status
        self.body = body
        requestID = headers.first(name: "x-amz-request-id")
        let bytes = Array(body.readableBytesView)
        if let root = try? S3XML.parse(bytes), root.name == "Error" {
            code = root.text(of: "Code")
        }
    }

    /// A 200 answer whose body is an `<Error>` (CompleteMultipartUpload may fail that way, after
    /// the status line went out); nil if the body is something else.
    init?(okBody body: ByteBuffer, headers: HTTPHeaders) {
        guard let root = try? S3XML.parse(Array(body.readableBytesView)), root.name == "Error" else { return nil }
        // The status S3 would have sent: InternalError and SlowDown keep their retry meaning.
        let code = root.text(of: "Code")
        let status =
            switch code {
            case "InternalError": 500
            case "SlowDown", "ServiceUnavailable": 503
            default: 400
            }
        self.init(status: status, headers: headers, body: body)
    }

    func error(for request: S3Request, settings: S3Settings) -> S3Error {
        let code = S3Error.sanitizedCode(code)
        switch self.code {
        case "NoSuchKey": return .noSuchKey(request.key ?? "")
        case "NoSuchBucket": return .noSuchBucket(settings.bucket)
        case "NoSuchUpload":
            return .noSuchUpload(request.query.first { $0.name == "uploadId" }?.value ?? "")
        case "SignatureDoesNotMatch", "RequestTimeTooSkewed", "AuthorizationHeaderMalformed", "IncompleteSignature":
            return .signatureDoesNotMatch(code)
        case "AccessDenied", "InvalidAccessKeyId", "AllAccessDisabled", "InvalidToken", "ExpiredToken":
            return .accessDenied(code)
        case "SlowDown": return .slowDown
        case "InvalidRange": return .invalidRange
        default: break
        }
        // No code (a HEAD, or a proxy's HTML page): the status alone.
        switch status {
        case 404 where self.code == nil: return request.key.map { .noSuchKey($0) } ?? .noSuchBucket(settings.bucket)
        case 403 where self.code == nil: return .accessDenied("HTTP 403")
        case 416: return .invalidRange
        default: return .server(status: status, code: code)
        }
    }

    /// Logs the answer with its raw body (cut to ``S3Transport/loggedErrorBodySize`` and to
    /// printable ASCII): at debug level for the 404s a garbage collector meets all the time and
    /// for codes the caller expects, warning otherwise.
    func log(request: S3Request, settings: S3Settings, logger: Logger) {
        let text = String(
            decoding: body.readableBytesView.prefix(S3Transport.loggedErrorBodySize).map { (0x20...0x7E).contains($0) ? $0 : 0x3F },
            as: UTF8.self)
        let metadata: Logger.Metadata = [
            "s3.operation": "\(request.operation)", "s3.bucket": "\(settings.bucket)", "s3.key": "\(request.key ?? "")",
            "s3.status": "\(status)", "s3.code": "\(S3Error.sanitizedCode(code))", "s3.requestId": "\(requestID ?? "")",
            "s3.body": "\(text)",
        ]
        let expected = status == 404 || code.map { request.expectedErrorCodes.contains($0) } == true
        logger.log(level: expected ? .debug : .warning, "S3 error answer", metadata: metadata)
    }
}
