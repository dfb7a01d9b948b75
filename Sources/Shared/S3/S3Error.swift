/// Why an S3 request failed, as the store's error code, or the transport, says.
///
/// No case carries the store's error body: it may hold the string-to-sign, the canonical request
/// or other detail an operator wants and a user of the node must not see. ``S3Client`` logs the
/// raw body; the descriptions here are safe to show and say what to check. Codes are kept only
/// when they look like S3 codes (letters and digits, at most 64), so a hostile or broken server
/// cannot smuggle text into a message through them.
public enum S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// No object with this key (404 `NoSuchKey`, or a 404 to a HEAD, which has no body to tell).
    case noSuchKey(String)
    /// The bucket does not exist (404 `NoSuchBucket`).
    case noSuchBucket(String)
    /// The multipart upload is unknown: completed, aborted, or never created (404 `NoSuchUpload`).
    case noSuchUpload(String)
    /// Refused by the store's access control: wrong or unknown access key, missing permission
    /// (`AccessDenied`, `InvalidAccessKeyId`, a 403 to a HEAD); the code as the store gave it.
    case accessDenied(String)
    /// The signature did not match: a wrong secret, or a clock far off (`SignatureDoesNotMatch`,
    /// `RequestTimeTooSkewed`); the code as the store gave it.
    case signatureDoesNotMatch(String)
    /// The store asked to slow down (503 `SlowDown`) on every attempt the retry policy allowed.
    case slowDown
    /// The range starts past the object's end (416 `InvalidRange`), or is empty.
    case invalidRange
    /// An ETag did not match the bytes sent (an MD5 the store computed differs from ours), or a
    /// multipart ETag does not match its parts: the bytes were changed on the way or by the store.
    case etagMismatch(String)
    /// Any other error answer: the HTTP status and the S3 code (`InternalError`, ...).
    case server(status: Int, code: String)
    /// The store could not be reached or did not answer in time, after the retries the policy
    /// allowed: connection refused or reset, TLS failure, timeout.
    case unavailable(String)
    /// The answer was not what S3 sends (unparsable XML, missing element, wrong range); what was off.
    case invalidResponse(String)
    /// Refused before anything was sent: an argument S3 would refuse (an empty key, a part
    /// number out of range, ...); what was wrong.
    case invalidRequest(String)
    /// The task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .noSuchKey(let key): "no S3 object with key '\(key)'"
        case .noSuchBucket(let bucket): "S3 bucket '\(bucket)' does not exist (create it, or check the bucket setting)"
        case .noSuchUpload(let id): "S3 multipart upload \(id) does not exist (completed or aborted already)"
        case .accessDenied(let code):
            "S3 refused access (\(code)): check the access key id in the credentials file and the key's permissions on the bucket"
        case .signatureDoesNotMatch(let code):
            "S3 refused the request signature (\(code)): check the secret in the credentials file, the region setting and this host's clock"
        case .slowDown: "S3 asked to slow down (SlowDown) on every retry: the store is overloaded"
        case .invalidRange: "the requested byte range is empty or starts past the end of the S3 object"
        case .etagMismatch(let why): "S3 integrity check failed: \(why)"
        case .server(let status, let code): "S3 answered HTTP \(status) (\(code))"
        case .unavailable(let why): "S3 store unavailable: \(why)"
        case .invalidResponse(let why): "S3 answer not understood: \(why)"
        case .invalidRequest(let why): "S3 request not sent: \(why)"
        case .cancelled: "S3 request cancelled"
        }
    }

    /// Whether another attempt may succeed: the store was overloaded, failing or unreachable.
    var isRetryable: Bool {
        switch self {
        case .slowDown, .unavailable: true
        case .server(let status, _): [500, 502, 503, 504].contains(status)
        default: false
        }
    }

    /// `code` if it looks like an S3 error code, else a placeholder.
    static func sanitizedCode(_ code: String?) -> String {
        guard let code, (1...64).contains(code.utf8.count), code.utf8.allSatisfy(SigV4Authorization.isAlphanumeric) else {
            return "no error code"
        }
        return code
    }
}
