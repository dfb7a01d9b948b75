import Foundation
import Shared

/// `keyservice pki init`: a complete development PKI and ready-to-run configs on loopback.
///
/// Not for production: the CA key sits next to the certificates it signs. Operators bring their
/// own CA; the files written here only show what the daemons expect.
struct DevPKI {
    var directory: String
    var trustDomain: String
    var regions: [String]
    var users: [String]
    var keyServicePort: Int
    var firstNodePort: Int
    var force: Bool
    /// With a PostgreSQL URL, `replicas` KeyService configs share that database
    /// (`keyservice-1.yaml` on `keyServicePort`, `keyservice-2.yaml` on the next port, ...).
    var postgresURL: String? = nil
    var replicas: Int = 1
    /// The XKS proxy listener of replica 1 (the others on the ports after it).
    var xksPort: Int? = nil

    /// The XKS URI path the dev config serves (`XksProxyUriPath` in KMS).
    static let xksURIPath = "/splitkey/kms/xks/v1"

    struct Written {
        var path: String
        var what: String
    }

    func write() throws -> [Written] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let caPath = directory + "/ca.pem"
        if fm.fileExists(atPath: caPath) && !force {
            throw DevPKIError.exists(caPath)
        }
        var written: [Written] = []
        let factory = CertificateFactory(validity: 365 * 86_400)
        let ca = try factory.makeCA(commonName: "SplitKey dev CA (\(trustDomain))")
        try writePublic(try ca.certificatePEM, "ca.pem", "CA certificate (trust anchor of both daemons)", &written)
        try writeSecret(ca.keyPEM, "ca-key.pem", "CA private key (dev only)", &written)

        let loopback: [[UInt8]] = [[127, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]]
        func issue(_ name: String, _ spiffePath: String, _ purpose: CertificateFactory.Purpose, _ what: String) throws {
            let issued = try factory.issue(
                by: ca,
                commonName: name,
                spiffeID: "spiffe://\(trustDomain)/\(spiffePath)",
                purpose: purpose,
                dnsNames: purpose == .client ? [] : ["localhost"],
                ipAddresses: purpose == .client ? [] : loopback
            )
            try writePublic(try issued.certificatePEM, "\(name).pem", what, &written)
            try writeSecret(issued.keyPEM, "\(name)-key.pem", "private key of \(name)", &written)
        }
        // Server only: the KeyService never connects anywhere; nodes check its SPIFFE ID.
        try issue(
            "keyservice", Self.keyServicePath, .server,
            "KeyService server certificate (\(keyServiceIdentity), localhost, 127.0.0.1, ::1)")
        for region in regions {
            try issue(
                "node-\(region)", "node/\(region)", .serverAndClient,
                "StorageNode of region \(region) (client of the KeyService, server for users)")
        }
        try issue("admin", "admin/dev", .client, "KeyService admin")
        try issue("auditor", "auditor/dev", .client, "KeyService auditor (read-only)")
        for user in users {
            try issue("user-\(user)", "user/\(user)", .client, "demo end user \(user)")
        }

        let rootKeyPath = directory + "/root-key"
        if force { try? fm.removeItem(atPath: rootKeyPath) }
        try RootKey.create(at: rootKeyPath)
        written.append(Written(path: rootKeyPath, what: "KeyService root key (mode 0600)"))
        let auditKeyPath = directory + "/audit-key"
        if force { try? fm.removeItem(atPath: auditKeyPath) }
        try RootKey.create(at: auditKeyPath)
        written.append(Written(path: auditKeyPath, what: "audit HMAC key (mode 0600; auditors need it to verify)"))

        let credential = XKSCredentials.generate(uriPath: Self.xksURIPath)
        let secret = String(decoding: credential.secret, as: UTF8.self)
        try writeSecret(
            "# URI_PATH ACCESS_KEY_ID SECRET_ACCESS_KEY (one per line; two per URI path while rotating)\n"
                + "\(credential.uriPath) \(credential.accessKeyID) \(secret)\n",
            "xks-credentials", "SigV4 credential AWS KMS signs XKS proxy calls with", &written)
        // The file the KMS console takes when creating the external key store.
        let kmsConfig: [String: Any] = [
            "XksProxyUriPath": credential.uriPath,
            "XksProxyAuthenticationCredential": ["AccessKeyId": credential.accessKeyID, "RawSecretAccessKey": secret],
        ]
        try writeSecret(
            String(
                decoding: try JSONSerialization.data(
                    withJSONObject: kmsConfig, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
                as: UTF8.self) + "\n",
            "xks-proxy-config.json", "XKS proxy configuration file for the AWS KMS console", &written)

        if postgresURL != nil {
            for replica in 1...max(replicas, 1) {
                try writePublic(
                    keyServiceConfig(replica: replica), "keyservice-\(replica).yaml", "KeyService replica \(replica) config", &written)
            }
        } else {
            try writePublic(keyServiceConfig(), "keyservice.yaml", "KeyService config", &written)
        }
        for (index, region) in regions.enumerated() {
            try writePublic(
                storageNodeConfig(region: region, port: firstNodePort + index),
                "storagenode-\(region).yaml",
                "StorageNode config for \(region)",
                &written
            )
        }
        return written
    }

    /// The KeyService's SPIFFE ID path; nodes trust only a KeyService with this ID.
    static let keyServicePath = "keyservice"

    var keyServiceIdentity: String { "spiffe://\(trustDomain)/\(Self.keyServicePath)" }

    /// The KeyService URLs a node is given: one per replica.
    var keyServiceURLs: [String] {
        let count = postgresURL == nil ? 1 : max(replicas, 1)
        return (0..<count).map { "https://localhost:\(keyServicePort + $0)" }
    }

    /// `replica` nil: the single embedded KeyService; otherwise replica N of a PostgreSQL set.
    func keyServiceConfig(replica: Int? = nil) -> String {
        let grants = regions.map { "    - \"node:\($0) spiffe://\(trustDomain)/node/\($0)\"" }.joined(separator: "\n")
        let state = replica.map { "state/keyservice-\($0)" } ?? "state/keyservice"
        var store = ""
        if let replica, let postgresURL {
            store = """
                replica:
                  id: ks-\(replica)          # named in every audit record and log line of this replica
                keyStore:
                  backend: postgres
                  # The password, if the role has one, goes in keyStore.passwordFile or the
                  # keystore-password credential, never in this URL.
                  url: \(postgresURL)
                  maxConnections: 20
                  timeout: 2           # seconds; a key operation answers 503 rather than wait longer

                """
        }
        return """
            # SplitKey KeyService: development config written by `keyservice pki init`.
            # Relative paths are relative to this file. Any key can be overridden by an
            # environment variable: listen.port -> SPLITKEY_LISTEN_PORT, tls.privateKey -> SPLITKEY_TLS_PRIVATE_KEY.
            listen:
              host: 127.0.0.1
              port: \(keyServicePort + (replica ?? 1) - 1)
            \(store)tls:
              certificate: keyservice.pem
              privateKey: keyservice-key.pem
              ca: ca.pem            # clients must present a certificate issued by this CA
            stateDirectory: \(state)
            # Under systemd, $CREDENTIALS_DIRECTORY/root-key takes precedence over this file.
            rootKeyFile: root-key
            cacheTTL: 300           # seconds a StorageNode may keep a plaintext data key
            idleTimeout: 60
            policy:
              # ROLE MATCHER; ROLE is node:REGION, admin or auditor; MATCHER is a SPIFFE ID,
              # a SPIFFE ID ending in /* (everything below it) or spki-sha256:HEX.
              grants:
            \(grants)
                - "admin spiffe://\(trustDomain)/admin/*"
                - "auditor spiffe://\(trustDomain)/auditor/*"
              # Identities refused everything, whatever they are granted. Deny wins.
              deny: []
              nodesMayCreateUsers: false
            audit:
              # Append-only, hash-chained; verify with: keyservice audit verify FILE --key-file audit-key
              file: \(state)/audit.log
              # Under systemd, $CREDENTIALS_DIRECTORY/audit-key takes precedence over this file.
              keyFile: audit-key
            log:
              level: info
            # The AWS KMS external key store proxy (docs/XKS.md): KMS calls it with SigV4.
            xks:
              listen:
                host: 127.0.0.1
                port: \((xksPort ?? keyServicePort + 100) + (replica ?? 1) - 1)
              tls:
                # certificate and privateKey default to tls.*; KMS needs a certificate of a public CA
                # for the name it is told (xks.tls.certificate, xks.tls.privateKey).
                minimumVersion: "1.2"
              # URI_PATH ACCESS_KEY_ID SECRET per line; under systemd, $CREDENTIALS_DIRECTORY/xks-credentials.
              credentialsFile: xks-credentials
              policy:
                # FIELD=VALUE[,VALUE] conditions (api op principal via vpc vpce kmsKey key uriPath); * is a wildcard.
                # Narrow this to your account's principals before production: principal=arn:aws:iam::111122223333:*
                grants:
                  - "principal=*"
                # deny: ["principal=arn:aws:iam::111122223333:user/mallory"]
              limits:
                requestsPerSecond: 1800   # per URI path; KMS's default quota per external key store
                burst: 3600

            """
    }

    func storageNodeConfig(region: String, port: Int) -> String {
        """
        # SplitKey StorageNode for region \(region): development config written by `keyservice pki init`.
        listen:
          host: 127.0.0.1
          port: \(port)
        region: \(region)
        tls:
          certificate: node-\(region).pem
          privateKey: node-\(region)-key.pem
          ca: ca.pem
        keyService:
          \(keyServiceURLs.count == 1 ? "url: \(keyServiceURLs[0])" : "urls: [\(keyServiceURLs.joined(separator: ", "))]")
          identity: \(keyServiceIdentity)   # the KeyService's certificate must carry this SPIFFE ID
        stateDirectory: state/storagenode-\(region)
        users:
          identityPrefix: spiffe://\(trustDomain)/user   # client identities PREFIX/USER act as USER
        log:
          level: info

        """
    }

    private func writePublic(_ text: String, _ name: String, _ what: String, _ written: inout [Written]) throws {
        let path = directory + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        written.append(Written(path: path, what: what))
    }

    private func writeSecret(_ text: String, _ name: String, _ what: String, _ written: inout [Written]) throws {
        let path = directory + "/" + name
        if force { try? FileManager.default.removeItem(atPath: path) }
        try SecretFile.write(Array(text.utf8), to: path)
        written.append(Written(path: path, what: what + " (mode 0600)"))
    }
}

enum DevPKIError: Error, CustomStringConvertible {
    case exists(String)
    var description: String { "\(self.path) already exists; pass --force to replace the whole dev PKI" }
    private var path: String {
        switch self {
        case .exists(let p): p
        }
    }
}
