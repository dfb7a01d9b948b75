import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// The mutual-TLS rules of both daemons, probed with clients that share no code with SplitKey
/// (`openssl s_client` and Python's `ssl` module) and certificates made with the `openssl` CLI.
///
/// A certificate the rules refuse must end the connection in the handshake, with the alert the
/// clients name, before any HTTP; a valid certificate of the wrong identity gets the HTTP 403
/// with its code. Every refused case also runs once as it would be accepted (a valid identity,
/// or the same certificate before its revocation) through the same client code, so a harness
/// that could not tell the two apart fails.
@Suite(.serialized)
struct MutualTLSMatrixTests {
    /// What one client saw: the TLS alert the server sent, an HTTP answer, or anything else.
    enum Outcome: Equatable, CustomStringConvertible {
        /// The alert's name as both clients spell it, e.g. "certificate unknown".
        case alert(String)
        /// The status and, for an error, its `code`.
        case http(Int, code: ErrorCode?)
        case other(String)

        var description: String {
            switch self {
            case .alert(let name): "alert \(name)"
            case .http(let status, let code): "HTTP \(status) \(code?.rawValue ?? "-")"
            case .other(let text): "other: \(text)"
            }
        }
    }

    /// A client's credentials; nil certificate means none is presented.
    struct Credentials {
        var certificate: String?
        var key: String?
        var label: String
    }

    enum Client: String, CaseIterable {
        case openssl
        case python
    }

    struct Target {
        var name: String
        var port: Int
    }

    static let healthProbe = (method: "GET", path: "/v1/health", body: "")

    /// Runs one request through `client` and reduces what it printed to an ``Outcome``.
    static func call(
        _ client: Client, _ target: Target, _ credentials: Credentials, dir: URL, tls12: Bool = false,
        method: String = healthProbe.method, path: String = healthProbe.path, body: String = healthProbe.body
    ) async throws -> Outcome {
        let ca = dir.appendingPathComponent("ca.pem").path
        switch client {
        case .python:
            let run = try await ChildProcess.run(
                try tool("python3"),
                [
                    try TestPaths.script("tls-probe").path, String(target.port), ca, credentials.certificate ?? "-", credentials.key ?? "-",
                    tls12 ? "1.2" : "1.3", method, path, body,
                ],
                in: dir
            )
            guard let line = run.output.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }),
                let fields = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any]
            else { return .other(run.output) }
            if let alert = fields["alert"] as? String {
                // "SSLV3_ALERT_CERTIFICATE_UNKNOWN" -> "certificate unknown"
                guard let range = alert.range(of: "ALERT_") else { return .other(alert) }
                return .alert(alert[range.upperBound...].lowercased().replacingOccurrences(of: "_", with: " "))
            }
            if let status = fields["status"] as? Int {
                #expect(fields["tls"] as? String == "TLSv1.3")
                return .http(status, code: errorCode(fields["body"] as? String ?? ""))
            }
            return .other(fields["error"] as? String ?? run.output)
        case .openssl:
            var request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            if !body.isEmpty { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
            request += "\r\n" + body
            let requestFile = dir.appendingPathComponent("request-\(UUID().uuidString.prefix(8)).txt")
            try request.write(to: requestFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: requestFile) }
            var arguments = [
                try tool("openssl").path, "s_client", "-connect", "127.0.0.1:\(target.port)", "-servername", "localhost",
                "-CAfile", ca, "-verify_return_error", "-quiet", "-ign_eof", tls12 ? "-tls1_2" : "-tls1_3",
            ]
            if let certificate = credentials.certificate, let key = credentials.key { arguments += ["-cert", certificate, "-key", key] }
            // s_client reads the request from its standard input; ChildProcess gives none.
            let command = "exec " + arguments.map(shellQuoted).joined(separator: " ") + " < " + shellQuoted(requestFile.path)
            let run = try await ChildProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", command], in: dir)
            if let statusLine = run.output.firstMatch(of: #/HTTP/1\.1 (\d{3}) /#), let status = Int(statusLine.1) {
                let rest = run.output[statusLine.range.upperBound...]
                let body = rest.range(of: "\r\n\r\n").map { String(rest[$0.upperBound...]) } ?? ""
                return .http(status, code: errorCode(body))
            }
            // "...:ssl3_read_bytes:sslv3 alert certificate unknown:../ssl/record/rec_layer_s3.c:...:SSL alert number 46"
            if let alert = run.output.firstMatch(of: #/alert ([a-z ]+):/#) { return .alert(String(alert.1)) }
            return .other(run.output)
        }
    }

    static func errorCode(_ body: String) -> ErrorCode? {
        guard let end = body.lastIndex(of: "}") else { return nil }
        return (try? JSONDecoder().decode(ErrorBody.self, from: Data(body[...end].utf8)))?.error.code
    }

    static func shellQuoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }

    static func pki(_ env: StorageNodeFixture, _ identity: String) -> Credentials {
        Credentials(certificate: env.ks.path("\(identity).pem"), key: env.ks.path("\(identity)-key.pem"), label: identity)
    }

    static func targets(_ env: StorageNodeFixture) -> [Target] {
        [Target(name: "KeyService", port: env.ks.port), Target(name: "StorageNode", port: env.port)]
    }

    /// Certificates made with the `openssl` CLI: `openssl ca` signs with the dev CA (or a second,
    /// foreign CA) and takes explicit validity dates, which `openssl x509 -req` on OpenSSL 3.0 cannot.
    struct Mint {
        let dir: URL

        /// The dev CA's subject: the foreign CA copies it, so only its key tells them apart.
        static let caSubject = "/O=SplitKey development/CN=SplitKey dev CA (splitkey.local)"

        init(pkiDirectory: URL) async throws {
            dir = pkiDirectory.appendingPathComponent("mint")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let ca = pkiDirectory.appendingPathComponent("ca").path
            // Absolute paths: openssl reads the config's relative to its working directory, not ours.
            let config = """
                [ ca ]
                default_ca = dev
                [ dev ]
                database = \(path("dev-index.txt"))
                new_certs_dir = \(dir.path)
                certificate = \(ca).pem
                private_key = \(ca)-key.pem
                serial = \(path("serial"))
                crlnumber = \(path("crlnumber"))
                default_md = sha256
                default_crl_days = 1
                policy = any_name
                unique_subject = no
                copy_extensions = none
                [ foreign ]
                database = \(path("foreign-index.txt"))
                new_certs_dir = \(dir.path)
                certificate = \(path("foreign-ca.pem"))
                private_key = \(path("foreign-ca-key.pem"))
                serial = \(path("serial"))
                default_md = sha256
                policy = any_name
                unique_subject = no
                copy_extensions = none
                [ any_name ]
                commonName = supplied

                """
            try config.write(to: dir.appendingPathComponent("ca.cnf"), atomically: true, encoding: .utf8)
            for (name, contents) in [("dev-index.txt", ""), ("foreign-index.txt", ""), ("serial", "1000\n"), ("crlnumber", "1000\n")] {
                try contents.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            try await openssl([
                "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", path("foreign-ca-key.pem"), "-out", path("foreign-ca.pem"), "-subj", Self.caSubject, "-days", "30",
                "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        }

        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        @discardableResult
        func openssl(_ arguments: [String]) async throws -> String {
            let run = try await ChildProcess.run(try tool("openssl"), arguments, in: dir)
            guard run.status == 0 else { throw TestFailure("openssl \(arguments.joined(separator: " ")) failed:\n\(run.output)") }
            return run.output
        }

        /// Issues `name`.pem and `name`-key.pem (ECDSA P-256, like the dev PKI) with the dev PKI's
        /// extensions for a client (see `openssl x509 -text` of user-alice.pem), varied by the caller.
        func issue(
            _ name: String,
            commonName: String? = nil,
            subjectAltName: String = "URI:spiffe://splitkey.local/user/alice",
            extendedKeyUsage: String = "clientAuth",
            validity: [String] = ["-days", "30"],
            foreign: Bool = false
        ) async throws -> Credentials {
            let extensions = """
                [ leaf ]
                basicConstraints = critical, CA:FALSE
                keyUsage = critical, digitalSignature
                extendedKeyUsage = \(extendedKeyUsage)
                subjectKeyIdentifier = hash
                authorityKeyIdentifier = keyid
                subjectAltName = \(subjectAltName)

                """
            try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try await openssl([
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", path("\(name)-key.pem"), "-out", path("\(name).csr"), "-subj", "/CN=\(commonName ?? name)",
            ])
            try await openssl(
                [
                    "ca", "-batch", "-config", path("ca.cnf"), "-name", foreign ? "foreign" : "dev", "-notext",
                    "-extfile", path("\(name).ext"), "-extensions", "leaf", "-in", path("\(name).csr"), "-out", path("\(name).pem"),
                ] + validity)
            return Credentials(certificate: path("\(name).pem"), key: path("\(name)-key.pem"), label: name)
        }

        /// Revokes `name`.pem in the dev CA's database and writes `crl.pem` signed by the dev CA.
        func revokeAndWriteCRL(_ name: String) async throws {
            try await openssl(["ca", "-batch", "-config", path("ca.cnf"), "-revoke", path("\(name).pem")])
            try await openssl(["ca", "-batch", "-config", path("ca.cnf"), "-gencrl", "-out", path("crl.pem")])
        }
    }

    /// Runs `credentials` through both clients against both daemons and expects `expected` every
    /// time; for a refusal, also that each daemon logged `reason` once per attempt.
    func expectEverywhere(
        _ env: StorageNodeFixture, _ credentials: Credentials, tls12: Bool = false, _ expected: Outcome, reason: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        for target in Self.targets(env) {
            let daemon = target.port == env.port ? env.node! : env.ks.daemon
            let before = reason.map { daemon.log.components(separatedBy: $0).count - 1 } ?? 0
            for client in Client.allCases {
                let outcome = try await Self.call(client, target, credentials, dir: env.ks.dir, tls12: tls12)
                #expect(
                    outcome == expected, "\(credentials.label) via \(client) to the \(target.name)\(tls12 ? " over TLS 1.2" : "")",
                    sourceLocation: sourceLocation)
            }
            guard let reason else { continue }
            // The refusal is logged before the alert leaves; the poll only absorbs file-system lag.
            let deadline = ContinuousClock.now + .seconds(10)
            var logged = 0
            repeat {
                logged = daemon.log.components(separatedBy: reason).count - 1 - before
                if logged >= Client.allCases.count { break }
                try await Task.sleep(for: .milliseconds(100))
            } while ContinuousClock.now < deadline
            #expect(
                logged == Client.allCases.count, "the \(target.name) logged '\(reason)' \(logged) times for \(credentials.label)",
                sourceLocation: sourceLocation)
        }
    }

    @Test func certificateProblemsAreRefusedInTheHandshakeByBothDaemons() async throws {
        try await withStorageNode { env in
            let mint = try await Mint(pkiDirectory: env.ks.dir)
            let alice = Self.pki(env, "user-alice")
            // The harness sees a success when there is one, over the same code path as the refusals.
            try await expectEverywhere(env, alice, .http(200, code: nil))
            let minted = try await mint.issue("minted-alice")
            try await expectEverywhere(env, minted, .http(200, code: nil))

            // No certificate at all: BoringSSL refuses before the verifier runs.
            try await expectEverywhere(env, Credentials(label: "no certificate"), .alert("certificate required"))

            let refused: [(Credentials, String)] = [
                (try await mint.issue("foreign-alice", foreign: true), "no chain to a trusted CA"),
                (
                    try await mint.issue("expired-alice", validity: ["-startdate", "20200101000000Z", "-enddate", "20210101000000Z"]),
                    "has expired"
                ),
                (
                    try await mint.issue("future-alice", validity: ["-startdate", "20990101000000Z", "-enddate", "20991231000000Z"]),
                    "is not yet valid"
                ),
                (
                    try await mint.issue("server-only-alice", extendedKeyUsage: "serverAuth"),
                    "leaf extendedKeyUsage serverAuth lacks clientAuth"
                ),
                (
                    try await mint.issue(
                        "two-ids", subjectAltName: "URI:spiffe://splitkey.local/user/alice, URI:spiffe://splitkey.local/user/bob"),
                    "more than one SPIFFE ID"
                ),
            ]
            for (credentials, reason) in refused {
                try await expectEverywhere(env, credentials, .alert("certificate unknown"), reason: reason)
            }

            // A valid certificate over TLS 1.2: both listeners speak TLS 1.3 only.
            try await expectEverywhere(env, alice, tls12: true, .alert("protocol version"))

            // Both still serve, and no refusal was a 500 in disguise.
            try await expectEverywhere(env, alice, .http(200, code: nil))
            #expect(!env.ks.daemon.log.contains("http.status=500"))
            #expect(!env.node!.log.contains("http.status=500"))
        }
    }

    @Test func revokedIdentitiesAreRefusedByTheCRLInTheHandshakeAndByTheKillSwitchWith403() async throws {
        try await withStorageNode { env in
            let mint = try await Mint(pkiDirectory: env.ks.dir)
            let revoked = try await mint.issue("revoked-alice")
            try await expectEverywhere(env, revoked, .http(200, code: nil))

            // A CRL of the dev CA, made by `openssl ca`, applied by SIGHUP on both daemons.
            try await mint.revokeAndWriteCRL("revoked-alice")
            for config in ["keyservice.yaml", "storagenode-eu-west.yaml"] {
                let path = env.ks.path(config)
                let text = try String(contentsOfFile: path, encoding: .utf8)
                #expect(text.contains("  ca: ca.pem"))
                try text.replacingOccurrences(of: "  ca: ca.pem", with: "  crl: [mint/crl.pem]\n  ca: ca.pem")
                    .write(toFile: path, atomically: true, encoding: .utf8)
            }
            env.ks.daemon.signal(SIGHUP)
            env.node!.signal(SIGHUP)
            try await env.ks.daemon.waitForLog("revokedSerials=1")
            try await env.node!.waitForLog("revokedSerials=1")
            try await expectEverywhere(env, revoked, .alert("certificate unknown"), reason: "is revoked by the CA's CRL")
            // The CRL names one serial: alice's own certificate, same identity, still gets in.
            try await expectEverywhere(env, Self.pki(env, "user-alice"), .http(200, code: nil))

            // The KeyService's kill switch works per request, after the handshake: 403 identity_denied.
            let ks = Self.targets(env)[0]
            let generate = (method: "POST", path: KeyServiceAPI.Path.generate, body: #"{"user":"carol","context":"matrix"}"#)
            let usEast = Self.pki(env, "node-us-east")
            func generateAsUSEast(_ expected: Outcome) async throws {
                for client in Client.allCases {
                    let outcome = try await Self.call(
                        client, ks, usEast, dir: env.ks.dir, method: generate.method, path: generate.path, body: generate.body)
                    #expect(outcome == expected, "node-us-east via \(client)")
                }
            }
            try await generateAsUSEast(.http(200, code: nil))
            let admin = try env.ks.client("admin")
            let revoke = KeyServiceAPI.RevokeRequest(identity: "spiffe://splitkey.local/node/us-east")
            #expect(try await admin.call(.POST, env.ks.baseURL + KeyServiceAPI.Path.revokedIdentities, json: revoke).status == .created)
            try await generateAsUSEast(.http(403, code: .identityDenied))
            #expect(try await admin.call(.DELETE, env.ks.baseURL + KeyServiceAPI.Path.revokedIdentities, json: revoke).status == .ok)
            try await generateAsUSEast(.http(200, code: nil))
        }
    }

    @Test func validCertificatesOfTheWrongRoleRegionOrIdentityGetA403WithItsCode() async throws {
        try await withStorageNode { env in
            let mint = try await Mint(pkiDirectory: env.ks.dir)
            let (ks, node) = (Self.targets(env)[0], Self.targets(env)[1])
            let generated = try await env.ks.client("node-eu-west").call(
                .POST, env.ks.baseURL + KeyServiceAPI.Path.generate, json: KeyServiceAPI.GenerateRequest(user: "alice", context: "matrix"))
            let wrapped = try generated.decode(KeyServiceAPI.GenerateResponse.self).wrapped
            let unwrapBody = String(
                decoding: try JSONEncoder().encode(
                    KeyServiceAPI.UnwrapRequest(user: "alice", wrapped: wrapped, context: "matrix", reason: .userRequest)),
                as: UTF8.self)
            let generateBody = #"{"user":"alice","context":"matrix"}"#

            let cases: [(Target, Credentials, String, String, String, Outcome)] = [
                // The control: the node of alice's region unwraps her key.
                (ks, Self.pki(env, "node-eu-west"), "POST", KeyServiceAPI.Path.unwrap, unwrapBody, .http(200, code: nil)),
                (ks, Self.pki(env, "node-us-east"), "POST", KeyServiceAPI.Path.unwrap, unwrapBody, .http(403, code: .regionMismatch)),
                (ks, Self.pki(env, "node-us-east"), "POST", KeyServiceAPI.Path.generate, generateBody, .http(403, code: .regionMismatch)),
                (ks, Self.pki(env, "user-alice"), "POST", KeyServiceAPI.Path.unwrap, unwrapBody, .http(403, code: .roleRequired)),
                (ks, Self.pki(env, "user-alice"), "POST", KeyServiceAPI.Path.generate, generateBody, .http(403, code: .roleRequired)),
                (ks, Self.pki(env, "admin"), "POST", KeyServiceAPI.Path.unwrap, unwrapBody, .http(403, code: .roleRequired)),
                (ks, Self.pki(env, "auditor"), "GET", KeyServiceAPI.Path.users, "", .http(200, code: nil)),
                (
                    ks, Self.pki(env, "auditor"), "POST", KeyServiceAPI.Path.users, #"{"id":"mallory","homeRegion":"eu-west"}"#,
                    .http(403, code: .roleRequired)
                ),
                // The StorageNode: the control, then identities that are not PREFIX/USER.
                (node, Self.pki(env, "user-alice"), "GET", StorageNodeAPI.Path.objects, "", .http(200, code: nil)),
                (node, Self.pki(env, "node-eu-west"), "GET", StorageNodeAPI.Path.objects, "", .http(403, code: .notAUser)),
                (node, Self.pki(env, "node-eu-west"), "GET", StorageNodeAPI.Path.objects + "/doc", "", .http(403, code: .notAUser)),
                (node, Self.pki(env, "admin"), "GET", StorageNodeAPI.Path.objects, "", .http(403, code: .notAUser)),
                // The KeyService's certificate is for serverAuth only: it cannot even be a client.
                (node, Self.pki(env, "keyservice"), "GET", StorageNodeAPI.Path.objects, "", .alert("certificate unknown")),
                // Minted by the dev CA, valid for clientAuth, with a Common Name that names alice:
                // the user comes from the SPIFFE ID alone.
                (
                    node,
                    try await mint.issue("other-domain", commonName: "alice", subjectAltName: "URI:spiffe://elsewhere.example/user/alice"),
                    "GET", StorageNodeAPI.Path.objects, "", .http(403, code: .notAUser)
                ),
                (
                    node,
                    try await mint.issue("nested", commonName: "alice", subjectAltName: "URI:spiffe://splitkey.local/user/alice/phone"),
                    "GET", StorageNodeAPI.Path.objects, "", .http(403, code: .notAUser)
                ),
                (
                    node, try await mint.issue("no-spiffe-id", commonName: "alice", subjectAltName: "DNS:alice.example"),
                    "GET", StorageNodeAPI.Path.objects, "", .http(403, code: .notAUser)
                ),
                (
                    ks,
                    try await mint.issue(
                        "user-shaped-node", commonName: "node-eu-west", subjectAltName: "URI:spiffe://splitkey.local/user/eu-west"),
                    "POST", KeyServiceAPI.Path.generate, generateBody, .http(403, code: .roleRequired)
                ),
            ]
            for (target, credentials, method, path, body, expected) in cases {
                for client in Client.allCases {
                    let outcome = try await Self.call(client, target, credentials, dir: env.ks.dir, method: method, path: path, body: body)
                    #expect(outcome == expected, "\(credentials.label) \(method) \(path) via \(client) to the \(target.name)")
                }
            }
            // None of the refused identities wrote anything.
            let listing = try await env.ks.client("user-alice").call(.GET, env.baseURL + StorageNodeAPI.Path.objects)
            #expect(try listing.decode(StorageNodeAPI.ObjectList.self).objects.isEmpty)
            let users = try await env.ks.client("admin").call(.GET, env.ks.baseURL + KeyServiceAPI.Path.users)
            #expect(try users.decode(KeyServiceAPI.UserList.self).users.map(\.id) == ["alice", "bob", "carol"])
        }
    }
}
