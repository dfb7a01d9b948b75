import Foundation
import Shared

/// The KeyService's whole configuration, validated once at start (and again on each reload).
struct KeyServiceConfig: Sendable {
    var host: String
    var port: Int
    var tls: TLSFiles
    var stateDirectory: String
    /// Used only when `$CREDENTIALS_DIRECTORY/root-key` does not exist.
    var rootKeyFile: String?
    /// How long a node may keep a plaintext data key, in seconds.
    var cacheTTL: Int
    var idleTimeout: Int
    var policy: AccessPolicy
    var logLevel: String
    /// Plain-HTTP Prometheus listener; nil (no `metrics.port`) disables it.
    var metricsHost: String
    var metricsPort: Int?
    var lifecycle: LifecycleSettings
    var limits: RateLimitSettings
    var auditFile: String
    /// Used only when `$CREDENTIALS_DIRECTORY/audit-key` does not exist; nil derives the key from the root key.
    var auditKeyFile: String?
    /// The current audit segment is rotated once it holds this many bytes.
    var auditSegmentBytes: UInt64
    /// Open client connections beyond this are closed at once.
    var maxConnections: Int
    /// Seconds a connection may take to finish its TLS handshake (capped by idleTimeout).
    var handshakeTimeout: Int
    /// Where users and sealed KEKs live (`keyStore.*`): SQLite in the state directory, or a
    /// PostgreSQL database shared by replicas.
    var keyStore: KeyStoreSettings
    /// This replica's name in its audit records, logs and health (`replica.id`).
    var replicaID: String
    /// The AWS KMS external key store proxy listener (`xks.*`), when configured.
    var xks: XKSSettings?

    static let knownKeys = Set<String>([
        "listen.host", "listen.port",
        "tls.certificate", "tls.privateKey", "tls.ca", "tls.crl",
        "stateDirectory", "rootKeyFile", "cacheTTL", "idleTimeout",
        "policy.grants", "policy.deny", "policy.nodesMayCreateUsers",
        "log.level", "metrics.host", "metrics.port", "audit.file", "audit.keyFile",
        "policy.deniedReasons", "policy.deniedReasonsByRegion",
        "lifecycle.destroyDelay", "lifecycle.minDestroyDelay", "lifecycle.maxDestroyDelay", "lifecycle.kekMaxAge", "lifecycle.kekMaxWraps",
        "audit.segmentBytes", "limits.maxConnections", "limits.handshakeTimeout", "tls.crlGracePeriod",
        "limits.identityRequestsPerSecond", "limits.identityBurst",
        "limits.userUnwrapsPerSecond", "limits.userUnwrapBurst",
        "limits.userUnwrapBudget", "limits.userUnwrapBudgetWindow", "replica.id",
    ]).union(KeyStoreSettings.knownKeys).union(XKSSettings.knownKeys)

    static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        async throws(ConfigurationError) -> KeyServiceConfig
    {
        let source = try await ConfigSource.load(path: path, environment: environment)
        try source.rejectUnknownKeys(known: knownKeys)
        let logLevel = source.string("log.level", default: "info")
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw .invalid("log.level", path, "'\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        let policy: AccessPolicy
        do {
            policy = try AccessPolicy(
                grants: try source.stringArray("policy.grants"),
                deny: try source.stringArray("policy.deny"),
                nodesMayCreateUsers: try source.bool("policy.nodesMayCreateUsers", default: false),
                deniedReasons: source.raw("policy.deniedReasons") == nil && !source.isList("policy.deniedReasons")
                    ? ["legal-process"] : try source.stringArray("policy.deniedReasons"),
                deniedReasonsByRegion: try source.stringArray("policy.deniedReasonsByRegion")
            )
        } catch let error as PolicyError {
            throw .invalid(error.key, path, error.description)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw .invalid("policy", path, "\(error)")
        }
        let stateDirectory = try source.requiredPath("stateDirectory")
        // The waiting period before a destruction protects against a rushed or coerced admin;
        // its floor is the operator's, and no request can go below it.
        let minDestroyDelay = try source.int("lifecycle.minDestroyDelay", default: 7 * 86_400, range: 0...(366 * 86_400))
        let maxDestroyDelay = try source.int(
            "lifecycle.maxDestroyDelay", default: 366 * 86_400, range: minDestroyDelay...(10 * 366 * 86_400))
        let destroyDelay = try source.int("lifecycle.destroyDelay", default: minDestroyDelay, range: minDestroyDelay...maxDestroyDelay)
        let replicaID = source.string("replica.id", default: ProcessInfo.processInfo.hostName)
        guard (1...64).contains(replicaID.utf8.count),
            replicaID.utf8.allSatisfy({
                $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_")
            })
        else {
            throw .invalid("replica.id", path, "'\(replicaID)' must be 1-64 characters of A-Z a-z 0-9 . _ -")
        }
        let tls = TLSFiles(
            certificate: try source.requiredPath("tls.certificate"),
            privateKey: try source.requiredPath("tls.privateKey"),
            ca: try source.requiredPath("tls.ca"),
            crls: try source.paths("tls.crl"),
            crlGracePeriod: try source.int("tls.crlGracePeriod", default: 0, range: 0...(30 * 86_400))
        )
        return KeyServiceConfig(
            host: source.string("listen.host", default: "127.0.0.1"),
            port: try source.int("listen.port", default: 8443, range: 0...65535),
            tls: tls,
            stateDirectory: stateDirectory,
            rootKeyFile: source.path("rootKeyFile"),
            cacheTTL: try source.int("cacheTTL", default: 300, range: 0...86_400),
            idleTimeout: try source.int("idleTimeout", default: 60, range: 1...3600),
            policy: policy,
            logLevel: logLevel,
            metricsHost: source.string("metrics.host", default: "127.0.0.1"),
            metricsPort: source.raw("metrics.port") == nil ? nil : try source.int("metrics.port", default: 0, range: 0...65535),
            lifecycle: LifecycleSettings(
                destroyDelay: destroyDelay,
                minDestroyDelay: minDestroyDelay,
                maxDestroyDelay: maxDestroyDelay,
                kekMaxAge: try source.int("lifecycle.kekMaxAge", default: 365 * 86_400, range: 60...(10 * 366 * 86_400)),
                kekMaxWraps: Int64(try source.int("lifecycle.kekMaxWraps", default: 1 << 30, range: 1...(1 << 31)))
            ),
            limits: RateLimitSettings(
                identityRequestsPerSecond: try source.int("limits.identityRequestsPerSecond", default: 5000, range: 1...10_000_000),
                identityBurst: try source.int("limits.identityBurst", default: 10_000, range: 1...10_000_000),
                userUnwrapsPerSecond: try source.int("limits.userUnwrapsPerSecond", default: 1000, range: 1...10_000_000),
                userUnwrapBurst: try source.int("limits.userUnwrapBurst", default: 2000, range: 1...10_000_000),
                userUnwrapBudget: try source.int("limits.userUnwrapBudget", default: 1_000_000, range: 1...1_000_000_000),
                userUnwrapBudgetWindow: try source.int("limits.userUnwrapBudgetWindow", default: 3600, range: 1...(366 * 86_400))
            ),
            auditFile: source.path("audit.file") ?? stateDirectory + "/audit.log",
            auditKeyFile: source.path("audit.keyFile"),
            auditSegmentBytes: UInt64(try source.int("audit.segmentBytes", default: 64 << 20, range: 4096...(1 << 40))),
            maxConnections: try source.int("limits.maxConnections", default: 4096, range: 1...1_000_000),
            handshakeTimeout: try source.int("limits.handshakeTimeout", default: 10, range: 1...600),
            keyStore: try KeyStoreSettings.load(
                source, path: path, stateDirectory: stateDirectory, credentialsDirectory: environment["CREDENTIALS_DIRECTORY"]),
            replicaID: replicaID,
            xks: try XKSSettings.load(source, path: path, tls: tls, credentialsDirectory: environment["CREDENTIALS_DIRECTORY"])
        )
    }
}

/// Key lifecycle bounds (NIST SP 800-57 cryptoperiods).
struct LifecycleSettings: Sendable {
    /// Default waiting period between scheduling and carrying out a destruction, in seconds.
    var destroyDelay: Int
    /// Bounds on the waiting period a request may ask for.
    var minDestroyDelay: Int
    var maxDestroyDelay: Int
    /// A KEK version refuses new wraps this many seconds after its creation.
    var kekMaxAge: Int
    /// A KEK version refuses new wraps after this many, far below AES-GCM's 2^32 random-nonce bound.
    var kekMaxWraps: Int64
}

/// Token buckets and the per-user unwrap budget.
struct RateLimitSettings: Sendable {
    var identityRequestsPerSecond: Int
    var identityBurst: Int
    var userUnwrapsPerSecond: Int
    var userUnwrapBurst: Int
    /// Unwraps one user may have within one window before that user's unwraps are locked.
    var userUnwrapBudget: Int
    var userUnwrapBudgetWindow: Int
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
