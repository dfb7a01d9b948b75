import Foundation

/// What a verified request was signed with, for the caller's own checks (is this region served
/// here, may this access key do this) and its logs.
public struct SigV4Verified: Sendable, Equatable {
    public var accessKeyID: String
    /// The scope's region. The verifier does not restrict it (the signature binds it, since the
    /// signing key is derived from it); a caller serving one region compares it.
    public var region: String
    /// `X-Amz-Date`.
    public var date: Date
    public var signedHeaders: [String]
    /// Hex, as the client sent it.
    public var signature: String
    /// The payload line the signature covers: the body's SHA-256, `UNSIGNED-PAYLOAD` or a
    /// `STREAMING-*` marker. A caller that verified before reading the body (passing
    /// `UNSIGNED-PAYLOAD`) compares a hex value here with the body's hash once it has it.
    public var payloadHash: String
    /// Presigned form only: `X-Amz-Expires` in seconds.
    public var expires: Int?
}

/// Verifies SigV4 (`AWS4-HMAC-SHA256`) requests for one service: the `Authorization` header form
/// and the presigned-URL form.
///
/// Rules beyond the signature itself:
/// - the scope names the configured service and ends in `aws4_request`;
/// - `X-Amz-Date` is required (header, or parameter when presigned); a `Date` header is not
///   accepted in its place, so there is one timestamp format and one place to find it; the scope
///   date is its day;
/// - the request time is within `maxSkew` of `now` (presigned: not more than `maxSkew` in the
///   future, and not past `X-Amz-Date + X-Amz-Expires`);
/// - SignedHeaders includes `host`, and `x-amz-date` in the header form; every signed header is present;
/// - a request carrying both forms is refused.
///
/// The signature is compared as bytes in constant time. Unknown access keys are reported as such
/// (S3 does the same with `InvalidAccessKeyId`), before any HMAC is computed.
public struct SigV4Verifier: Sendable {
    public let service: String
    /// Non-S3 path rules (dot-segment removal, double encoding) when true; S3's when false. See
    /// ``SigV4CanonicalRequest/canonicalURI(_:normalizePath:)``.
    public let normalizePath: Bool
    public let maxSkew: TimeInterval
    private let secret: @Sendable (_ accessKeyID: String) -> [UInt8]?

    /// - Parameter secret: the secret of an access key id, nil if unknown. Called once per request
    ///   that passes the form checks.
    public init(
        service: String, normalizePath: Bool, maxSkew: TimeInterval = 15 * 60,
        secret: @escaping @Sendable (_ accessKeyID: String) -> [UInt8]?
    ) {
        self.service = service
        self.normalizePath = normalizePath
        self.maxSkew = maxSkew
        self.secret = secret
    }

    /// Verifies the `Authorization` header form.
    ///
    /// - Parameter payloadHash: the hex SHA-256 of the body received. When the request carries
    ///   `x-amz-content-sha256` (S3) with a hex digest, the two must match and that value is
    ///   signed; with `UNSIGNED-PAYLOAD` or `STREAMING-*` the marker is signed as sent. Without the
    ///   header (the XKS proxy) this hash is what the canonical request carries. A server that
    ///   verifies before reading the body passes ``SigV4Payload/unsigned`` and then checks
    ///   ``SigV4Verified/payloadHash``.
    public func verify(_ request: SigV4Request, payloadHash: String, now: Date) throws(SigV4Error) -> SigV4Verified {
        let headers = request.values(of: "authorization")
        guard !headers.isEmpty else { throw .missingAuthorization }
        guard headers.count == 1 else { throw .multipleAuthorizationHeaders }
        guard !SigV4Authorization.hasPresignedParameters(request.query) else { throw .conflictingAuthorization }
        let auth = try SigV4Authorization(header: headers[0])
        try checkService(auth)
        let dates = request.values(of: "x-amz-date")
        guard !dates.isEmpty else { throw .missingDate }
        guard dates.count == 1 else { throw .malformedDate }
        let amzDate = SigV4CanonicalRequest.collapsingWhitespace(dates[0])
        guard let date = SigV4Date.parse(amzDate) else { throw .malformedDate }
        try checkScopeDate(auth, amzDate: amzDate)
        let skew = now.timeIntervalSince(date)
        guard abs(skew) <= maxSkew else {
            throw .requestTimeTooSkewed(seconds: Self.wholeSeconds(abs(skew)), allowed: Self.wholeSeconds(maxSkew))
        }
        for required in ["host", "x-amz-date"] where !auth.signedHeaders.contains(required) {
            throw .requiredHeaderNotSigned(required)
        }
        return try checkSignature(auth, request, date: date, amzDate: amzDate, payloadHash: payloadHash, omitting: nil)
    }

    /// Verifies the presigned-URL form (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
    /// `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`; every other query parameter,
    /// `X-Amz-Security-Token` included, is signed as part of the canonical query).
    ///
    /// - Parameter payloadHash: what the canonical request carries: `UNSIGNED-PAYLOAD` for S3
    ///   (the default), the body's hex SHA-256 for services that sign the body of presigned
    ///   requests. `x-amz-content-sha256` is handled as in ``verify(_:payloadHash:now:)``.
    public func verifyPresigned(
        _ request: SigV4Request, payloadHash: String = SigV4Payload.unsigned, now: Date
    ) throws(SigV4Error) -> SigV4Verified {
        guard request.values(of: "authorization").isEmpty else { throw .conflictingAuthorization }
        let auth = try SigV4Authorization(presignedQuery: request.query)
        try checkService(auth)
        guard let amzDate = auth.amzDate, let expires = auth.expires, let date = SigV4Date.parse(amzDate) else {
            throw .malformedDate  // the parser guarantees both; kept as a typed error, not a trap
        }
        try checkScopeDate(auth, amzDate: amzDate)
        let early = date.timeIntervalSince(now)
        guard early <= maxSkew else {
            throw .requestTimeTooSkewed(seconds: Self.wholeSeconds(early), allowed: Self.wholeSeconds(maxSkew))
        }
        let late = now.timeIntervalSince(date) - TimeInterval(expires)
        guard late <= 0 else { throw .expired(secondsAgo: Self.wholeSeconds(late)) }
        guard auth.signedHeaders.contains("host") else { throw .requiredHeaderNotSigned("host") }
        var verified = try checkSignature(
            auth, request, date: date, amzDate: amzDate, payloadHash: payloadHash, omitting: SigV4Authorization.signatureParameter)
        verified.expires = expires
        return verified
    }

    private func checkService(_ auth: SigV4Authorization) throws(SigV4Error) {
        guard auth.scope.service == service else { throw .wrongService(expected: service, received: auth.scope.service) }
    }

    private func checkScopeDate(_ auth: SigV4Authorization, amzDate: String) throws(SigV4Error) {
        guard amzDate.utf8.prefix(8).elementsEqual(auth.scope.date.utf8) else {
            throw .credentialDateMismatch(scope: auth.scope.date, amzDate: amzDate)
        }
    }

    private func checkSignature(
        _ auth: SigV4Authorization, _ request: SigV4Request, date: Date, amzDate: String, payloadHash: String, omitting: String?
    ) throws(SigV4Error) -> SigV4Verified {
        let present = Set(request.headers.map { SigV4CanonicalRequest.lowercasedBytes($0.name) })
        for name in auth.signedHeaders where !present.contains(Array(name.utf8)) {
            throw .signedHeaderMissing(name)
        }
        guard let secret = secret(auth.accessKeyID) else { throw .unknownAccessKey(auth.accessKeyID) }
        let payload = try Self.payloadLine(request, serverHash: payloadHash)
        let canonical = try SigV4CanonicalRequest(
            request, signedHeaders: auth.signedHeaders, payloadHash: payload, normalizePath: normalizePath, omittingQueryKey: omitting)
        let expected = auth.scope.signature(
            secret: secret, stringToSign: auth.scope.stringToSign(amzDate: amzDate, canonicalRequest: canonical.text))
        guard MessageAuthentication.constantTimeEqual(expected, auth.signatureBytes) else { throw .signatureMismatch }
        return SigV4Verified(
            accessKeyID: auth.accessKeyID, region: auth.scope.region, date: date, signedHeaders: auth.signedHeaders,
            signature: auth.signature, payloadHash: payload, expires: nil)
    }

    /// The payload line: `x-amz-content-sha256` when sent (checked against the server's hash if
    /// both are digests), the server's hash otherwise.
    static func payloadLine(_ request: SigV4Request, serverHash: String) throws(SigV4Error) -> String {
        let claimed = request.values(of: SigV4Payload.contentSHA256Header)
        guard !claimed.isEmpty else { return serverHash }
        guard claimed.count == 1 else { throw .malformedContentSHA256 }
        let value = SigV4CanonicalRequest.collapsingWhitespace(claimed[0])
        if value == SigV4Payload.unsigned { return value }
        if value.utf8.starts(with: SigV4Payload.streamingPrefix.utf8) {
            guard value.utf8.count <= 64, value.utf8.allSatisfy({ SigV4Authorization.isAlphanumeric($0) || $0 == UInt8(ascii: "-") })
            else { throw .malformedContentSHA256 }
            return value
        }
        guard SigV4Payload.isHexDigest(value) else { throw .malformedContentSHA256 }
        if SigV4Payload.isHexDigest(serverHash) && value != serverHash { throw .contentSHA256Mismatch }
        return value
    }

    /// Seconds for an error message, clamped so no caller-supplied time can trap the conversion.
    static func wholeSeconds(_ t: TimeInterval) -> Int {
        guard t.isFinite else { return t.isNaN ? 0 : (t > 0 ? Int.max : Int.min) }
        return Int(min(max(t, -1e15), 1e15).rounded(.up))
    }
}
