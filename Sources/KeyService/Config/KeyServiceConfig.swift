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
    var auditFile: String
    /// Used only when `$CREDENTIALS_DIRECTORY/audit-key` does not exist; nil derives the key from the root key.
    var auditKeyFile: String?

    static let knownKeys: Set<String> = [
        "listen.host", "listen.port",
        "tls.certificate", "tls.privateKey", "tls.ca",
        "stateDirectory", "rootKeyFile", "cacheTTL", "idleTimeout",
        "policy.grants", "policy.deny", "policy.nodesMayCreateUsers",
        "log.level", "audit.file", "audit.keyFile",
    ]

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
                nodesMayCreateUsers: try source.bool("policy.nodesMayCreateUsers", default: false)
            )
        } catch let error as PolicyError {
            throw .invalid(error.key, path, error.description)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw .invalid("policy", path, "\(error)")
        }
        let stateDirectory = try source.requiredPath("stateDirectory")
        return KeyServiceConfig(
            host: source.string("listen.host", default: "127.0.0.1"),
            port: try source.int("listen.port", default: 8443, range: 0...65535),
            tls: TLSFiles(
                certificate: try source.requiredPath("tls.certificate"),
                privateKey: try source.requiredPath("tls.privateKey"),
                ca: try source.requiredPath("tls.ca")
            ),
            stateDirectory: stateDirectory,
            rootKeyFile: source.path("rootKeyFile"),
            cacheTTL: try source.int("cacheTTL", default: 300, range: 0...86_400),
            idleTimeout: try source.int("idleTimeout", default: 60, range: 1...3600),
            policy: policy,
            logLevel: logLevel,
            auditFile: source.path("audit.file") ?? stateDirectory + "/audit.log",
            auditKeyFile: source.path("audit.keyFile")
        )
    }
}
