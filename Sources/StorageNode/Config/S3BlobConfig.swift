import Foundation
import Shared

/// The `blobs.s3.*` keys: where ``S3BlobStore`` keeps the blobs when `blobs.backend` is `s3`.
struct S3BlobConfig: Sendable {
    var settings: S3Settings
    var prefix: String
    var partSize: Int

    static let knownKeys: Set<String> = [
        "blobs.s3.endpoint", "blobs.s3.bucket", "blobs.s3.region", "blobs.s3.credentialsFile", "blobs.s3.addressing",
        "blobs.s3.ca", "blobs.s3.prefix", "blobs.s3.partSize", "blobs.s3.timeout", "blobs.s3.retries",
    ]

    /// The default `blobs.s3.timeout` in seconds: the budget of one blob store call, every retry
    /// and wait included.
    static let defaultTimeout = 10
    /// The default `blobs.s3.retries`: retries of one call after a transient failure.
    static let defaultRetries = 4

    /// Longest `blobs.s3.prefix`, in UTF-8 bytes: leaves room in S3's 1024-byte keys for names.
    static let maximumPrefixLength = 512

    /// Reads and checks the keys, the credentials file included, so a wrong value stops the
    /// node at start with the key to fix rather than failing its first request.
    static func load(_ source: ConfigSource, path: String, environment: [String: String]) throws(ConfigurationError) -> S3BlobConfig {
        let endpointText = try source.requiredString("blobs.s3.endpoint")
        guard let endpoint = URL(string: endpointText) else {
            throw .invalid("blobs.s3.endpoint", path, "'\(endpointText)' is not a URL such as https://s3.example.com:9000")
        }
        let addressingText = source.string("blobs.s3.addressing", default: S3Addressing.path.rawValue)
        guard let addressing = S3Addressing(rawValue: addressingText) else {
            let choices = S3Addressing.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalid("blobs.s3.addressing", path, "'\(addressingText)' is not an addressing style; set one of: \(choices)")
        }
        let prefix = source.string("blobs.s3.prefix", default: S3BlobStore.defaultPrefix)
        guard prefix.utf8.count <= maximumPrefixLength, !prefix.hasPrefix("/"),
            prefix.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
        else {
            throw .invalid(
                "blobs.s3.prefix", path,
                "'\(prefix)' is not a key prefix: at most \(maximumPrefixLength) bytes, no leading '/', no control characters")
        }
        let partSize = try source.int("blobs.s3.partSize", default: S3BlobStore.defaultPartSize, range: S3BlobStore.partSizes)
        // One budget per call, retries included: what a client waits at most for a 503 when the
        // store is down, and so what `keyService.timeout`-like settings in front must exceed.
        let timeout = try source.int("blobs.s3.timeout", default: defaultTimeout, range: 1...600)
        let retries = try source.int("blobs.s3.retries", default: defaultRetries, range: 0...20)
        let credentials: SigV4Credentials
        do {
            credentials = try S3Credentials.load(file: source.path("blobs.s3.credentialsFile"), environment: environment)
        } catch {
            throw .invalid("blobs.s3.credentialsFile", path, error.description)
        }
        do {
            let settings = try S3Settings(
                endpoint: endpoint, bucket: try source.requiredString("blobs.s3.bucket"),
                region: source.string("blobs.s3.region", default: "us-east-1"), credentials: credentials,
                addressing: addressing, caFile: source.path("blobs.s3.ca"),
                retry: S3RetryPolicy(maximumRetries: retries, totalTime: .seconds(timeout)))
            return S3BlobConfig(settings: settings, prefix: prefix, partSize: partSize)
        } catch let error as S3SettingsError {
            throw .invalid(key(for: error), path, error.description)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw .invalid("blobs.s3.endpoint", path, "\(error)")
        }
    }

    /// The config key an ``S3SettingsError`` is about.
    static func key(for error: S3SettingsError) -> String {
        switch error {
        case .endpoint: "blobs.s3.endpoint"
        case .bucket: "blobs.s3.bucket"
        case .region: "blobs.s3.region"
        case .caFile: "blobs.s3.ca"
        case .noCredentials, .credentialsFile, .malformedCredentials: "blobs.s3.credentialsFile"
        }
    }
}
