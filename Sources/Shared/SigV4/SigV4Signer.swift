import Foundation

/// A request signed in the header form: the request with `X-Amz-Date`, `Authorization` (and
/// `X-Amz-Security-Token`, `x-amz-content-sha256` when asked for) added.
public struct SigV4SignedRequest: Sendable {
    public var request: SigV4Request
    /// The `Authorization` header value.
    public var authorization: String
    /// The `X-Amz-Date` header value.
    public var amzDate: String
    /// Hex.
    public var signature: String
    /// Kept for tests and for debugging a mismatch against another implementation.
    public var canonicalRequest: String
    public var stringToSign: String
}

/// A presigned request: the request whose query now ends in the `X-Amz-*` parameters.
public struct SigV4PresignedRequest: Sendable {
    public var request: SigV4Request
    /// The full query string (the request's own parameters, then the presigned ones, `X-Amz-Signature` last).
    public var query: String
    public var signature: String
    public var canonicalRequest: String
    public var stringToSign: String
}

/// Signs requests with SigV4 for one access key, region and service: for the S3 client, and for
/// the tests that check the verifier against the AWS suite and botocore.
public struct SigV4Signer: Sendable {
    public var credentials: SigV4Credentials
    public var region: String
    public var service: String
    /// Non-S3 path rules when true, S3's when false (as for ``SigV4Verifier``).
    public var normalizePath: Bool

    public init(credentials: SigV4Credentials, region: String, service: String, normalizePath: Bool) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.normalizePath = normalizePath
    }

    /// Signs in the header form.
    ///
    /// - Parameters:
    ///   - payloadHash: the body's hex SHA-256, or `UNSIGNED-PAYLOAD` / `STREAMING-*` for S3.
    ///   - sendContentSHA256: adds `x-amz-content-sha256: <payloadHash>` (S3 requires it).
    ///   - signedHeaders: the header names to sign; nil signs every header of the request (but
    ///     `authorization`) plus the ones added here.
    public func sign(
        _ request: SigV4Request, payloadHash: String, date: Date, sendContentSHA256: Bool = false,
        signedHeaders: [String]? = nil
    ) throws(SigV4Error) -> SigV4SignedRequest {
        let amzDate = SigV4Date.string(date)
        let scope = scope(amzDate: amzDate)
        var r = request
        var replaced: Set<[UInt8]> = [Array("authorization".utf8), Array("x-amz-date".utf8)]
        if credentials.sessionToken != nil { replaced.insert(Array("x-amz-security-token".utf8)) }
        if sendContentSHA256 { replaced.insert(Array(SigV4Payload.contentSHA256Header.utf8)) }
        r.headers.removeAll { replaced.contains(SigV4CanonicalRequest.lowercasedBytes($0.name)) }
        r.headers.append((name: "X-Amz-Date", value: amzDate))
        if let token = credentials.sessionToken { r.headers.append((name: "X-Amz-Security-Token", value: token)) }
        if sendContentSHA256 { r.headers.append((name: "X-Amz-Content-SHA256", value: payloadHash)) }
        let names = Self.signedNames(signedHeaders, of: r)
        let canonical = try SigV4CanonicalRequest(r, signedHeaders: names, payloadHash: payloadHash, normalizePath: normalizePath)
        let stringToSign = scope.stringToSign(amzDate: amzDate, canonicalRequest: canonical.text)
        let signature = Hex.encode(scope.signature(secret: credentials.secret, stringToSign: stringToSign))
        let authorization =
            "\(SigV4Scope.algorithm) Credential=\(credentials.accessKeyID)/\(scope.string), "
            + "SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"
        r.headers.append((name: "Authorization", value: authorization))
        return SigV4SignedRequest(
            request: r, authorization: authorization, amzDate: amzDate, signature: signature,
            canonicalRequest: canonical.text, stringToSign: stringToSign)
    }

    /// Signs in the presigned-URL form, valid for `expires` seconds (1...604800).
    ///
    /// - Parameter payloadHash: `UNSIGNED-PAYLOAD` for S3 (the default); other services sign the
    ///   body's hex SHA-256.
    public func presign(
        _ request: SigV4Request, payloadHash: String = SigV4Payload.unsigned, date: Date, expires: Int,
        signedHeaders: [String]? = nil
    ) throws(SigV4Error) -> SigV4PresignedRequest {
        guard SigV4Authorization.expiresRange.contains(expires) else { throw .malformedExpires }
        let amzDate = SigV4Date.string(date)
        let scope = scope(amzDate: amzDate)
        var r = request
        r.headers.removeAll { SigV4CanonicalRequest.lowercasedBytes($0.name) == Array("authorization".utf8) }
        let names = Self.signedNames(signedHeaders, of: r)
        var parameters = [
            (SigV4Authorization.algorithmParameter, SigV4Scope.algorithm),
            (SigV4Authorization.credentialParameter, "\(credentials.accessKeyID)/\(scope.string)"),
            (SigV4Authorization.dateParameter, amzDate),
            (SigV4Authorization.expiresParameter, "\(expires)"),
        ]
        if let token = credentials.sessionToken { parameters.append(("X-Amz-Security-Token", token)) }
        parameters.append((SigV4Authorization.signedHeadersParameter, names.joined(separator: ";")))
        let added = parameters.map { "\($0.0)=\(SigV4Encoding.encode($0.1))" }.joined(separator: "&")
        r.query = request.query.isEmpty ? added : request.query + "&" + added
        let canonical = try SigV4CanonicalRequest(r, signedHeaders: names, payloadHash: payloadHash, normalizePath: normalizePath)
        let stringToSign = scope.stringToSign(amzDate: amzDate, canonicalRequest: canonical.text)
        let signature = Hex.encode(scope.signature(secret: credentials.secret, stringToSign: stringToSign))
        r.query += "&\(SigV4Authorization.signatureParameter)=\(signature)"
        return SigV4PresignedRequest(
            request: r, query: r.query, signature: signature, canonicalRequest: canonical.text, stringToSign: stringToSign)
    }

    private func scope(amzDate: String) -> SigV4Scope {
        SigV4Scope(date: String(amzDate.prefix(8)), region: region, service: service)
    }

    /// Lower-cased, distinct, sorted by bytes: the given names, or every header of the request.
    static func signedNames(_ names: [String]?, of request: SigV4Request) -> [String] {
        let all =
            names.map { $0.map(SigV4CanonicalRequest.lowercasedBytes) }
            ?? request.headers.map { SigV4CanonicalRequest.lowercasedBytes($0.name) }
        return Set(all).sorted { $0.lexicographicallyPrecedes($1) }.map { String(decoding: $0, as: UTF8.self) }
    }
}
