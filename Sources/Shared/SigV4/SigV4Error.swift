/// Why a SigV4 request was refused, or could not be signed.
///
/// Every case names the part of the request at fault so an operator reading a log line can fix the
/// client (clock, region, access key, service name) without a packet capture. No description
/// contains a secret, a signing key or the signature the server expected: a refused client learns
/// which rule it broke, never how to forge a request that passes.
///
/// ``name`` is a stable machine name per case; ``s3ErrorCode`` maps the cases to the codes of the
/// S3 API. The XKS proxy answers every case with `AuthenticationFailedException`.
public enum SigV4Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// No `Authorization` header (header form) or no `X-Amz-Algorithm` parameter (presigned form).
    case missingAuthorization
    /// Both an `Authorization` header and presigned query parameters: the request must pick one.
    case conflictingAuthorization
    /// More than one `Authorization` header.
    case multipleAuthorizationHeaders
    /// The `Authorization` header or a presigned parameter is longer than its bound (length seen).
    case authorizationTooLong(Int)
    /// The `Authorization` header or a presigned parameter holds a byte outside printable ASCII.
    case nonASCIIAuthorization
    /// An algorithm other than `AWS4-HMAC-SHA256` (shown only if short and printable).
    case unsupportedAlgorithm(String)
    /// A required part (`Credential`, `SignedHeaders`, `Signature`, or an `X-Amz-*` parameter) is absent.
    case missingComponent(String)
    /// A part appears twice.
    case duplicateComponent(String)
    /// The header has something other than `Credential=`, `SignedHeaders=`, `Signature=` after the algorithm.
    case unknownComponent
    /// The credential is not `AKID/yyyymmdd/region/service/aws4_request`; the reason says which field.
    case malformedCredential(String)
    /// The signed-header list is not sorted, unique, lower-case header names joined by `;`.
    case malformedSignedHeaders(String)
    /// The signature is not 64 lower-case hexadecimal digits.
    case malformedSignature
    /// No `X-Amz-Date` header (header form) or parameter (presigned form); a `Date` header is not accepted instead.
    case missingDate
    /// `X-Amz-Date` is not `yyyyMMdd'T'HHmmss'Z'`, or appears more than once.
    case malformedDate
    /// `X-Amz-Expires` is not a whole number of seconds in 1...604800.
    case malformedExpires
    /// The credential scope names another service than this endpoint's (expected, received).
    case wrongService(expected: String, received: String)
    /// The credential scope's date is not the day of `X-Amz-Date` (scope date, X-Amz-Date).
    case credentialDateMismatch(scope: String, amzDate: String)
    /// The request's time is further than allowed from the server's clock (seconds off, allowed).
    case requestTimeTooSkewed(seconds: Int, allowed: Int)
    /// A presigned URL past its expiry (seconds since it expired).
    case expired(secondsAgo: Int)
    /// `host` (or, in the header form, `x-amz-date`) is not in SignedHeaders.
    case requiredHeaderNotSigned(String)
    /// A header listed in SignedHeaders is not in the request.
    case signedHeaderMissing(String)
    /// No secret is configured for this access key id.
    case unknownAccessKey(String)
    /// The signature does not match the request: wrong secret, or the request changed in transit,
    /// or the client canonicalized differently (path encoding, header spacing).
    case signatureMismatch
    /// `x-amz-content-sha256` is not a lower-case SHA-256 hex digest, `UNSIGNED-PAYLOAD` or `STREAMING-*`.
    case malformedContentSHA256
    /// `x-amz-content-sha256` does not match the SHA-256 of the body received.
    case contentSHA256Mismatch
    /// The path or query holds a `%` not followed by two hexadecimal digits (which part).
    case invalidPercentEncoding(String)

    /// A stable machine name for the case, for logs, metrics and mapping to a protocol's error.
    public var name: String {
        switch self {
        case .missingAuthorization: "missing_authorization"
        case .conflictingAuthorization: "conflicting_authorization"
        case .multipleAuthorizationHeaders: "multiple_authorization_headers"
        case .authorizationTooLong: "authorization_too_long"
        case .nonASCIIAuthorization: "non_ascii_authorization"
        case .unsupportedAlgorithm: "unsupported_algorithm"
        case .missingComponent: "missing_component"
        case .duplicateComponent: "duplicate_component"
        case .unknownComponent: "unknown_component"
        case .malformedCredential: "malformed_credential"
        case .malformedSignedHeaders: "malformed_signed_headers"
        case .malformedSignature: "malformed_signature"
        case .missingDate: "missing_date"
        case .malformedDate: "malformed_date"
        case .malformedExpires: "malformed_expires"
        case .wrongService: "wrong_service"
        case .credentialDateMismatch: "credential_date_mismatch"
        case .requestTimeTooSkewed: "request_time_too_skewed"
        case .expired: "expired"
        case .requiredHeaderNotSigned: "required_header_not_signed"
        case .signedHeaderMissing: "signed_header_missing"
        case .unknownAccessKey: "unknown_access_key"
        case .signatureMismatch: "signature_mismatch"
        case .malformedContentSHA256: "malformed_content_sha256"
        case .contentSHA256Mismatch: "content_sha256_mismatch"
        case .invalidPercentEncoding: "invalid_percent_encoding"
        }
    }

    /// The S3 API's error code for the case (what AWS S3 answers to the same mistake).
    public var s3ErrorCode: String {
        switch self {
        case .missingAuthorization: "AccessDenied"
        case .conflictingAuthorization: "InvalidArgument"
        case .expired: "AccessDenied"
        case .requestTimeTooSkewed: "RequestTimeTooSkewed"
        case .unknownAccessKey: "InvalidAccessKeyId"
        case .signatureMismatch: "SignatureDoesNotMatch"
        case .malformedContentSHA256: "InvalidArgument"
        case .contentSHA256Mismatch: "XAmzContentSHA256Mismatch"
        case .invalidPercentEncoding: "InvalidURI"
        case .missingDate, .malformedDate, .malformedExpires, .requiredHeaderNotSigned, .signedHeaderMissing:
            "AccessDenied"
        case .multipleAuthorizationHeaders, .authorizationTooLong, .nonASCIIAuthorization, .unsupportedAlgorithm,
            .missingComponent, .duplicateComponent, .unknownComponent, .malformedCredential, .malformedSignedHeaders,
            .malformedSignature, .wrongService, .credentialDateMismatch:
            "AuthorizationHeaderMalformed"
        }
    }

    public var description: String {
        switch self {
        case .missingAuthorization:
            "the request is not signed: no Authorization header and no X-Amz-Algorithm query parameter"
        case .conflictingAuthorization:
            "the request carries both an Authorization header and presigned X-Amz-* query parameters; send one"
        case .multipleAuthorizationHeaders:
            "the request carries more than one Authorization header"
        case .authorizationTooLong(let n):
            "the SigV4 authorization is \(n) bytes long, over the limit; the client signs too many headers or sends garbage"
        case .nonASCIIAuthorization:
            "the SigV4 authorization holds a byte outside printable ASCII"
        case .unsupportedAlgorithm(let a):
            "the signing algorithm is '\(a)'; only AWS4-HMAC-SHA256 (SigV4) is accepted, not SigV4a or SigV2"
        case .missingComponent(let c):
            "the SigV4 authorization lacks \(c)"
        case .duplicateComponent(let c):
            "the SigV4 authorization carries \(c) more than once"
        case .unknownComponent:
            "the Authorization header has a part other than Credential=, SignedHeaders= and Signature= after the algorithm"
        case .malformedCredential(let why):
            "the SigV4 credential is not AKID/yyyymmdd/region/service/aws4_request: \(why)"
        case .malformedSignedHeaders(let why):
            "SignedHeaders is not a sorted, ';'-separated list of distinct lower-case header names: \(why)"
        case .malformedSignature:
            "the SigV4 signature is not 64 lower-case hexadecimal digits"
        case .missingDate:
            "the request has no X-Amz-Date (header, or query parameter when presigned); a Date header alone is not accepted"
        case .malformedDate:
            "X-Amz-Date is not one timestamp of the form yyyyMMdd'T'HHmmss'Z' (for example 20150830T123600Z)"
        case .malformedExpires:
            "X-Amz-Expires is not a whole number of seconds between 1 and 604800 (7 days)"
        case .wrongService(let expected, let received):
            "the request was signed for service '\(received)', this endpoint verifies service '\(expected)'; fix the client's service name"
        case .credentialDateMismatch(let scope, let amzDate):
            "the credential scope date \(scope) is not the day of X-Amz-Date \(amzDate)"
        case .requestTimeTooSkewed(let seconds, let allowed):
            "the request time is \(seconds) s away from the server's clock (at most \(allowed) s allowed); check NTP on client and server"
        case .expired(let ago):
            "the presigned URL expired \(ago) s ago; ask for a new one"
        case .requiredHeaderNotSigned(let h):
            "the signature does not cover the '\(h)' header; SigV4 clients must sign it"
        case .signedHeaderMissing(let h):
            "SignedHeaders lists '\(h)' but the request has no such header (a proxy may have removed it)"
        case .unknownAccessKey(let id):
            "no secret is configured for access key id '\(id)'"
        case .signatureMismatch:
            "the signature does not match: check the client's secret key and region, and that no proxy rewrites the path, query or signed headers"
        case .malformedContentSHA256:
            "x-amz-content-sha256 is not a lower-case SHA-256 hex digest, UNSIGNED-PAYLOAD or STREAMING-*"
        case .contentSHA256Mismatch:
            "x-amz-content-sha256 does not match the SHA-256 of the body received; the body changed in transit or was truncated"
        case .invalidPercentEncoding(let part):
            "the request \(part) has a '%' not followed by two hexadecimal digits"
        }
    }
}
