import Foundation
import Shared

/// The XKS proxy listener's configuration (`xks.*`); absent `xks.listen.port` means no listener.
struct XKSSettings: Sendable {
    var host: String
    var port: Int
    /// Server certificate and key for the name KMS is told (`XksProxyUriEndpoint`); the
    /// KeyService's own listener certificate when not set.
    var certificate: String
    var privateKey: String
    /// "1.2" (the spec's minimum; KMS speaks 1.2 and 1.3) or "1.3".
    var minimumTLSVersion: String
    /// Mutual TLS: the CA KMS's client certificates chain to, and the subject common names
    /// allowed (`cks.kms.<region>.amazonaws.com`).
    var clientCA: String?
    var clientSubjects: [String]
    var credentialsFile: String
    var policy: XKSPolicy
    /// Requests per second, and burst, per URI path (KMS's default quota is 1,800/s per
    /// external key store).
    var requestsPerSecond: Int
    var burst: Int
    /// Clock skew a SigV4 date may have (the spec: 5 minutes).
    var maxSkewSeconds: Int
    /// Seconds between deep health checks (and heartbeats); a replica silent for three is
    /// reported `UNAVAILABLE` by the others.
    var healthInterval: Int

    static let knownKeys: Set<String> = [
        "xks.listen.host", "xks.listen.port", "xks.tls.certificate", "xks.tls.privateKey", "xks.tls.minimumVersion",
        "xks.tls.clientCA", "xks.tls.clientSubjects", "xks.credentialsFile", "xks.policy.grants", "xks.policy.deny",
        "xks.limits.requestsPerSecond", "xks.limits.burst", "xks.maxClockSkew", "xks.healthInterval",
    ]

    static func load(_ source: ConfigSource, path: String, tls: TLSFiles, credentialsDirectory: String?)
        throws(ConfigurationError) -> XKSSettings?
    {
        guard source.raw("xks.listen.port") != nil else { return nil }
        let version = source.string("xks.tls.minimumVersion", default: "1.2")
        guard version == "1.2" || version == "1.3" else {
            throw .invalid("xks.tls.minimumVersion", path, "'\(version)' must be 1.2 or 1.3")
        }
        let clientCA = source.path("xks.tls.clientCA")
        let subjects = try source.stringArray("xks.tls.clientSubjects")
        if clientCA != nil, subjects.isEmpty {
            throw .invalid("xks.tls.clientSubjects", path, "mutual TLS (xks.tls.clientCA) needs the allowed subject names")
        }
        if clientCA == nil, !subjects.isEmpty {
            throw .invalid("xks.tls.clientCA", path, "xks.tls.clientSubjects needs the CA the client certificates chain to")
        }
        let credentialsFile =
            source.path("xks.credentialsFile") ?? credentialsDirectory.map { $0 + "/xks-credentials" }
        guard let credentialsFile else {
            throw .missing("xks.credentialsFile", path)
        }
        let policy: XKSPolicy
        do {
            policy = try XKSPolicy(grants: try source.stringArray("xks.policy.grants"), deny: try source.stringArray("xks.policy.deny"))
        } catch let error as PolicyError {
            throw .invalid(error.key, path, error.description)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw .invalid("xks.policy", path, "\(error)")
        }
        return XKSSettings(
            host: source.string("xks.listen.host", default: "127.0.0.1"),
            port: try source.int("xks.listen.port", default: 0, range: 0...65535),
            certificate: source.path("xks.tls.certificate") ?? tls.certificate,
            privateKey: source.path("xks.tls.privateKey") ?? tls.privateKey,
            minimumTLSVersion: version,
            clientCA: clientCA,
            clientSubjects: subjects,
            credentialsFile: credentialsFile,
            policy: policy,
            requestsPerSecond: try source.int("xks.limits.requestsPerSecond", default: 1800, range: 1...10_000_000),
            burst: try source.int("xks.limits.burst", default: 3600, range: 1...10_000_000),
            maxSkewSeconds: try source.int("xks.maxClockSkew", default: 300, range: 1...900),
            healthInterval: try source.int("xks.healthInterval", default: 5, range: 1...20)
        )
    }
}
