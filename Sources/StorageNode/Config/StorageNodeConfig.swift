import Foundation
import Shared

/// The StorageNode's whole configuration, validated once at start (and on each reload).
struct StorageNodeConfig: Sendable {
    var host: String
    var port: Int
    /// The region this node serves; the KeyService only gives it keys of users homed here.
    var region: String
    var tls: TLSFiles
    /// The KeyService replicas, in the order of `keyService.urls` (or the one `keyService.url`);
    /// each an `https://` URL without a trailing `/`.
    var keyServiceURLs: [String]
    /// The SPIFFE ID (or `ID/*` pattern) the KeyService's certificate must carry; nil means
    /// `spiffe://TD/keyservice` in the trust domain of the node's own certificate.
    var keyServiceIdentity: SPIFFEIDPattern?
    /// Deadline of one KeyService call, retries included, in seconds.
    var keyServiceTimeout: Int
    var stateDirectory: String
    /// Which ``BlobStore`` keeps the blobs (`blobs.backend`); see ``BlobStoreFactory``.
    var blobBackend: BlobStoreFactory.Backend
    /// The bucket and its settings when `blobs.backend` is `s3` (the `blobs.s3.*` keys); nil otherwise.
    var blobS3: S3BlobConfig?
    /// Where the metadata lives (`metadata.backend` and, for PostgreSQL, `metadata.*`).
    var metadataBackend: MetadataStoreFactory.Backend
    /// Seconds a blob no metadata row names is kept before ``BlobCollector`` deletes it: longer
    /// than any upload takes from its start to its metadata commit (`blobs.orphanGrace`).
    var blobOrphanGrace: Int
    /// Seconds between ``BlobCollector`` passes (`blobs.collectInterval`).
    var blobCollectInterval: Int
    /// Identities below this SPIFFE path are users; the user id is the next path segment.
    var userIdentityPrefix: String
    var maxObjectSize: Int64
    var segmentSize: Int
    /// A user's current data key is replaced after this many seconds or objects.
    var dataKeyMaxAge: Int
    var dataKeyMaxObjects: Int
    /// Most plaintext data keys held in memory at once.
    var dataKeyCacheEntries: Int
    var idleTimeout: Int
    var logLevel: String
    /// Plain-HTTP Prometheus listener; nil (no `metrics.port`) disables it.
    var metricsHost: String
    var metricsPort: Int?

    static let knownKeys: Set<String> = Set<String>([
        "listen.host", "listen.port", "region",
        "tls.certificate", "tls.privateKey", "tls.ca", "tls.crl",
        "keyService.url", "keyService.urls", "keyService.timeout", "keyService.identity",
        "stateDirectory", "blobs.backend", "blobs.orphanGrace", "blobs.collectInterval", "users.identityPrefix",
        "limits.maxObjectSize", "objects.segmentSize",
        "dataKeys.maxAge", "dataKeys.maxObjects", "dataKeys.cacheEntries",
        "idleTimeout", "log.level", "metrics.host", "metrics.port",
    ]).union(S3BlobConfig.knownKeys).union(MetadataStoreFactory.knownKeys)

    static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        async throws(ConfigurationError) -> StorageNodeConfig
    {
        let source = try await ConfigSource.load(path: path, environment: environment)
        try source.rejectUnknownKeys(known: knownKeys)
        let region = try source.requiredString("region")
        guard Identifiers.isValidRegion(region) else {
            throw .invalid("region", path, "'\(region)' is not a valid region (a-z, 0-9, '-', starting with a letter)")
        }
        let serviceURLs = try Self.keyServiceURLs(source, path: path)
        var keyServiceIdentity: SPIFFEIDPattern?
        if let text = source.raw("keyService.identity") {
            guard let pattern = SPIFFEIDPattern(text) else {
                throw .invalid(
                    "keyService.identity", path,
                    "'\(text)' is not a SPIFFE ID such as spiffe://example.org/keyservice (or one ending in /*)")
            }
            keyServiceIdentity = pattern
        }
        let logLevel = source.string("log.level", default: "info")
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw .invalid("log.level", path, "'\(logLevel)' is not a log level")
        }
        let prefix = source.string("users.identityPrefix", default: "spiffe://splitkey.local/user")
        guard SPIFFEID(prefix) != nil else {
            throw .invalid("users.identityPrefix", path, "'\(prefix)' is not a SPIFFE ID such as spiffe://example.org/user")
        }
        let blobBackend = try BlobStoreFactory.backend(source.string("blobs.backend", default: "folder"), configPath: path)
        // The s3 keys are read (and their credentials file checked) only for the s3 backend.
        let blobS3 = blobBackend == .s3 ? try S3BlobConfig.load(source, path: path, environment: environment) : nil
        let config = StorageNodeConfig(
            host: source.string("listen.host", default: "127.0.0.1"),
            port: try source.int("listen.port", default: 9443, range: 0...65535),
            region: region,
            tls: TLSFiles(
                certificate: try source.requiredPath("tls.certificate"),
                privateKey: try source.requiredPath("tls.privateKey"),
                ca: try source.requiredPath("tls.ca"),
                crls: try source.paths("tls.crl")
            ),
            keyServiceURLs: serviceURLs,
            keyServiceIdentity: keyServiceIdentity,
            keyServiceTimeout: try source.int("keyService.timeout", default: 5, range: 1...120),
            stateDirectory: try source.requiredPath("stateDirectory"),
            blobBackend: blobBackend,
            blobS3: blobS3,
            metadataBackend: try MetadataStoreFactory.backend(source, path: path, environment: environment),
            blobOrphanGrace: try source.int("blobs.orphanGrace", default: 3600, range: 60...(366 * 86_400)),
            blobCollectInterval: try source.int("blobs.collectInterval", default: 600, range: 1...86_400),
            userIdentityPrefix: prefix,
            maxObjectSize: Int64(try source.int("limits.maxObjectSize", default: 1 << 30, range: 0...(1 << 40))),
            segmentSize: try source.int(
                "objects.segmentSize", default: ObjectHeader.defaultSegmentSize, range: ObjectHeader.segmentSizeRange),
            dataKeyMaxAge: try source.int("dataKeys.maxAge", default: 86_400, range: 1...(366 * 86_400)),
            dataKeyMaxObjects: try source.int("dataKeys.maxObjects", default: 100_000, range: 1...1_000_000_000),
            dataKeyCacheEntries: try source.int("dataKeys.cacheEntries", default: 10_000, range: 1...10_000_000),
            idleTimeout: try source.int("idleTimeout", default: 60, range: 1...3600),
            logLevel: logLevel,
            metricsHost: source.string("metrics.host", default: "127.0.0.1"),
            metricsPort: source.raw("metrics.port") == nil ? nil : try source.int("metrics.port", default: 0, range: 0...65535)
        )
        try config.checkPartsCoverLargestObject(path: path)
        return config
    }

    /// A multipart upload has at most 10000 parts, so on `s3` the largest sealed object must fit
    /// in 10000 x `blobs.s3.partSize`; refused at start rather than after 10000 parts of a PUT.
    func checkPartsCoverLargestObject(path: String) throws(ConfigurationError) {
        guard let s3 = blobS3 else { return }
        let header = ObjectHeader.fresh(segmentSize: segmentSize, dataKeyID: 0)
        let largest = header.blobSize(plaintextSize: maxObjectSize)
        let capacity = Int64(S3MultipartUpload.partNumbers.upperBound) * Int64(s3.partSize)
        guard largest <= capacity else {
            let needed = (largest + Int64(S3MultipartUpload.partNumbers.upperBound) - 1) / Int64(S3MultipartUpload.partNumbers.upperBound)
            throw .invalid(
                "blobs.s3.partSize", path,
                "\(s3.partSize) bytes per part cannot hold an object of limits.maxObjectSize (\(maxObjectSize) bytes) in "
                    + "\(S3MultipartUpload.partNumbers.upperBound) parts; raise blobs.s3.partSize to at least \(needed) or lower limits.maxObjectSize"
            )
        }
    }

    /// Most replicas `keyService.urls` may list.
    static let maxKeyServiceURLs = 16

    /// `keyService.urls` (a list of replicas), or `keyService.url` as a list of one; exactly one
    /// of the two must be set. Each must be an `https://` URL with a host; a trailing `/` is dropped.
    static func keyServiceURLs(_ source: ConfigSource, path: String) throws(ConfigurationError) -> [String] {
        let single = source.raw("keyService.url")
        let listSet = source.isList("keyService.urls") || source.raw("keyService.urls") != nil
        if single != nil && listSet {
            throw .invalid(
                "keyService.urls", path,
                "keyService.url and keyService.urls are both set; set keyService.urls to the list of replicas "
                    + "(or keyService.url to the one KeyService), not both")
        }
        let (key, urls): (String, [String])
        if listSet {
            key = "keyService.urls"
            urls = try source.stringArray(key).map { $0.trimmingCharacters(in: .whitespaces) }
            guard !urls.isEmpty else { throw .invalid(key, path, "must list at least one https:// URL") }
            guard urls.count <= maxKeyServiceURLs else {
                throw .invalid(key, path, "lists \(urls.count) URLs; at most \(maxKeyServiceURLs) are allowed")
            }
        } else {
            key = "keyService.url"
            urls = [try source.requiredString(key)]
        }
        var normalised: [String] = []
        for url in urls {
            guard let parsed = URL(string: url), parsed.scheme == "https", parsed.host?.isEmpty == false else {
                throw .invalid(key, path, "'\(url)' is not an https:// URL")
            }
            let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
            guard !normalised.contains(trimmed) else { throw .invalid(key, path, "'\(url)' is listed twice") }
            normalised.append(trimmed)
        }
        return normalised
    }
}
