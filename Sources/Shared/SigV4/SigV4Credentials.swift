import Crypto

/// An access key: its public id, its secret, and the session token of temporary credentials.
public struct SigV4Credentials: Sendable {
    public var accessKeyID: String
    public var secret: [UInt8]
    /// STS session token; the signer sends it as `X-Amz-Security-Token` (signed) when set.
    public var sessionToken: String?

    public init(accessKeyID: String, secret: [UInt8], sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secret = secret
        self.sessionToken = sessionToken
    }

    public init(accessKeyID: String, secret: String, sessionToken: String? = nil) {
        self.init(accessKeyID: accessKeyID, secret: Array(secret.utf8), sessionToken: sessionToken)
    }
}

/// The credential scope `yyyymmdd/region/service/aws4_request`: what a signing key is good for.
public struct SigV4Scope: Sendable, Equatable {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let terminator = "aws4_request"

    /// The UTC day, `yyyymmdd`.
    public var date: String
    public var region: String
    public var service: String

    public init(date: String, region: String, service: String) {
        self.date = date
        self.region = region
        self.service = service
    }

    public var string: String { "\(date)/\(region)/\(service)/\(Self.terminator)" }

    /// The signing key: HMAC-SHA-256 chained from `AWS4` + secret over date, region, service and
    /// `aws4_request`. A key leaks only one day of one region and service, never the secret.
    public func signingKey(secret: [UInt8]) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4".utf8) + secret)
        for part in [date, region, service, Self.terminator] {
            key = SymmetricKey(data: MessageAuthentication.hmacSHA256(key: key, Array(part.utf8)))
        }
        return key
    }

    /// The string to sign: algorithm, timestamp, scope and the hex SHA-256 of the canonical request.
    public func stringToSign(amzDate: String, canonicalRequest: String) -> String {
        let hash = Hex.encode(SHA256.hash(data: Array(canonicalRequest.utf8)))
        return "\(Self.algorithm)\n\(amzDate)\n\(string)\n\(hash)"
    }

    /// The 32-byte signature of `stringToSign` under the key for this scope.
    public func signature(secret: [UInt8], stringToSign: String) -> [UInt8] {
        MessageAuthentication.hmacSHA256(key: signingKey(secret: secret), Array(stringToSign.utf8))
    }
}
