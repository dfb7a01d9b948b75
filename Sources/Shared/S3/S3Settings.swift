import Foundation

/// Where an S3 bucket is and how to reach it: what ``S3Client`` needs, checked once here so a
/// misconfiguration is reported at start-up with the setting to fix, not as a failed request later.
public struct S3Settings: Sendable {
    /// `http(s)://host[:port]`, without a path, query or user info.
    public var endpoint: URL
    public var bucket: String
    /// The SigV4 signing region (`us-east-1` for most S3-compatible stores).
    public var region: String
    public var credentials: SigV4Credentials
    public var addressing: S3Addressing
    /// A PEM file of the CA certificates to trust for an `https` endpoint instead of the system's
    /// store (a carrier's private CA). Nil: the system store.
    public var caFile: String?
    public var timeouts: S3Timeouts
    public var retry: S3RetryPolicy

    public init(
        endpoint: URL, bucket: String, region: String = "us-east-1", credentials: SigV4Credentials,
        addressing: S3Addressing = .path, caFile: String? = nil, timeouts: S3Timeouts = S3Timeouts(),
        retry: S3RetryPolicy = S3RetryPolicy()
    ) throws(S3SettingsError) {
        guard let scheme = endpoint.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw .endpoint(endpoint.absoluteString, "the scheme must be http or https")
        }
        guard let host = endpoint.host, !host.isEmpty else { throw .endpoint(endpoint.absoluteString, "it names no host") }
        guard endpoint.path.isEmpty || endpoint.path == "/", endpoint.query == nil, endpoint.fragment == nil else {
            throw .endpoint(endpoint.absoluteString, "give only scheme, host and port; the bucket is a setting of its own")
        }
        guard endpoint.user == nil, endpoint.password == nil else {
            throw .endpoint(endpoint.absoluteString, "credentials do not belong in the URL; use the credentials file")
        }
        if let port = endpoint.port, !(1...65535).contains(port) { throw .endpoint(endpoint.absoluteString, "the port is out of range") }
        try Self.checkBucketName(bucket)
        guard (1...64).contains(region.utf8.count), region.utf8.allSatisfy(Self.isRegionByte) else {
            throw .region(region)
        }
        // A dotted bucket name is a host name of several labels, which a wildcard certificate
        // (`*.s3.example.com`) does not cover: every request would fail the TLS name check.
        if addressing == .virtualHost && scheme == "https" && bucket.contains(".") {
            throw .bucket(bucket, "a bucket name with dots cannot be reached over https with virtual-host addressing; use path-style")
        }
        if let caFile {
            guard scheme == "https" else { throw .caFile(caFile, "a CA file only applies to an https endpoint") }
            guard FileManager.default.isReadableFile(atPath: caFile) else { throw .caFile(caFile, "it cannot be read") }
        }
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.credentials = credentials
        self.addressing = addressing
        self.caFile = caFile
        self.timeouts = timeouts
        self.retry = retry
    }

    /// S3's bucket naming rules: 3-63 lower-case letters, digits, `.` and `-`, starting and ending
    /// with a letter or digit, no `..`, not an IPv4 address.
    static func checkBucketName(_ name: String) throws(S3SettingsError) {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { throw .bucket(name, "it must have 3 to 63 characters") }
        let isLetterOrDigit = { (b: UInt8) in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
        }
        guard bytes.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else {
            throw .bucket(name, "only lower-case letters, digits, '.' and '-' are allowed")
        }
        guard isLetterOrDigit(bytes[0]), isLetterOrDigit(bytes[bytes.count - 1]) else {
            throw .bucket(name, "it must start and end with a letter or digit")
        }
        guard !name.contains("..") else { throw .bucket(name, "it must not contain '..'") }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count == 4 && labels.allSatisfy({ UInt8($0) != nil }) {
            throw .bucket(name, "it must not look like an IPv4 address")
        }
    }

    static func isRegionByte(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }
}

/// How the bucket appears in a request.
public enum S3Addressing: String, Sendable, CaseIterable {
    /// `https://endpoint/bucket/key`: what S3-compatible stores (SeaweedFS, MinIO, Ceph) serve
    /// without DNS set-up.
    case path
    /// `https://bucket.endpoint/key`: AWS's preferred form; needs DNS (and a certificate) for
    /// `bucket.endpoint`.
    case virtualHost = "virtual-host"
}

/// How long a request may take, per attempt.
public struct S3Timeouts: Sendable, Equatable {
    /// To open a TCP (and TLS) connection.
    public var connect: Duration
    /// From sending a request to the response's status line and headers (for a PUT, this
    /// includes sending the body).
    public var response: Duration
    /// Between two reads of a response body: a download that stalls this long fails.
    public var read: Duration

    public init(connect: Duration = .seconds(5), response: Duration = .seconds(30), read: Duration = .seconds(30)) {
        self.connect = connect
        self.response = response
        self.read = read
    }
}
