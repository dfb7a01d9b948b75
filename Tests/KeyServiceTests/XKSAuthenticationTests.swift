import Foundation
import Shared
import SplitKeyTestSupport
import Testing

/// Who may call the XKS listener: SigV4 credentials per URI path (wrong, unknown, skewed,
/// of another path, rotated by SIGHUP) and, when configured, mutual TLS with allowed subjects.
struct XKSAuthenticationTests {
    static let otherURIPath = "/other/kms/xks/v1"

    @Test func signaturesThatDoNotVerifyAreAuthenticationFailures() async throws {
        let main = XKSCredential.random()
        let other = XKSCredential.random(uriPath: Self.otherURIPath)
        try await withXKS(credentials: [main, other]) { xks in
            let health = XKSBody.health()
            let unknown = XKSCredential.random()
            // curl: the right credential, then the ones that must not pass.
            #expect(try await xks.curl("health", body: health).status == 200)
            #expect(try await xks.curl("health", body: health, credential: other).status == 200, "the other path's own credential")
            let refusedByCurl: [(String, XKSAnswer)] = [
                ("wrong secret", try await xks.curl("health", body: health, credential: main.withWrongSecret())),
                ("unknown access key id", try await xks.curl("health", body: health, credential: unknown)),
                ("unsigned", try await xks.curl("health", body: health, unsigned: true)),
                (
                    "signed for service kms",
                    try await xks.curl(
                        "health", body: health, unsigned: true,
                        extra: ["--aws-sigv4", "aws:amz:\(XKSFixture.region):kms", "--user", "\(main.accessKeyID):\(main.secret)"])
                ),
                (
                    "garbage Authorization",
                    try await xks.curl("health", body: health, unsigned: true, extra: ["-H", "Authorization: AWS4-HMAC-SHA256 x"])
                ),
                (
                    "credential of another URI path",
                    try await xks.curl("health", body: health, credential: other, path: XKSFixture.path("health", key: nil))
                ),
            ]
            for (label, answer) in refusedByCurl {
                #expect(answer.isError("AuthenticationFailedException"), "\(label) by curl: \(answer)")
            }
            // A URI path no credential names: refused for the path, signature or not.
            let nowhere = try await xks.curl("health", body: health, path: "/nowhere/kms/xks/v1/health")
            #expect(nowhere.isError("InvalidUriPathException"), "\(nowhere)")

            guard XKSFixture.botocoreSkipReason == nil else { return }
            // botocore with a clock 6 minutes ahead and behind (the spec allows 5), one call each.
            for offset in [360.0, -360.0] {
                let skewed = try await xks.botocore("health", body: health, dateOffset: offset)
                let answer = try #require(skewed.answer, "\(skewed.output)")
                #expect(answer.isError("AuthenticationFailedException"), "date offset \(offset): \(answer)")
            }
            let batch: [(String, XKSBatchCall, Int)] = [
                ("right credential", XKSBatchCall("health", body: health), 200),
                ("4 minutes ahead", XKSBatchCall("health", body: health, dateOffset: 240), 200),
                ("4 minutes behind", XKSBatchCall("health", body: health, dateOffset: -240), 200),
                ("6 minutes ahead", XKSBatchCall("health", body: health, dateOffset: 360), 401),
                ("6 minutes behind", XKSBatchCall("health", body: health, dateOffset: -360), 401),
                ("wrong secret", XKSBatchCall("health", body: health, credential: main.withWrongSecret()), 401),
                ("unknown access key id", XKSBatchCall("health", body: health, credential: unknown), 401),
                (
                    "credential of another URI path", XKSBatchCall("health", body: health, credential: other, uriPath: XKSFixture.uriPath),
                    401
                ),
                ("the other path's own credential", XKSBatchCall("health", body: health, credential: other), 200),
                (
                    "wrong secret on a key",
                    XKSBatchCall("metadata", key: "k", body: XKSBody.keyMetadata(), credential: main.withWrongSecret()), 401
                ),
                ("unconfigured URI path", XKSBatchCall("health", body: health, uriPath: "/nowhere/kms/xks/v1"), 404),
            ]
            for ((label, _, status), answer) in zip(batch, try await xks.batch(batch.map(\.1))) {
                switch status {
                case 200: #expect(answer.status == 200, "\(label) by botocore: \(answer)")
                case 401: #expect(answer.isError("AuthenticationFailedException"), "\(label) by botocore: \(answer)")
                default: #expect(answer.isError("InvalidUriPathException"), "\(label) by botocore: \(answer)")
                }
            }
        }
    }

    /// Rotation as the spec describes it: a second credential for the URI path, SIGHUP, both
    /// work; the old one removed, SIGHUP, only the new one works.
    @Test func credentialRotationBySIGHUP() async throws {
        try await withXKS { xks in
            let old = xks.credential
            let new = XKSCredential.random()
            let health = XKSBody.health()
            try xks.writeCredentials([old, new])
            xks.ks.daemon.signal(SIGHUP)
            try await waitForLog(xks.ks.daemon, "reload complete", count: 1)
            let both = try await xks.both([
                XKSBatchCall("health", body: health, credential: old), XKSBatchCall("health", body: health, credential: new),
            ])
            for (index, pair) in both.enumerated() {
                #expect(pair.curl.status == 200, "credential \(index) by curl: \(pair.curl)")
                if let botocore = pair.botocore { #expect(botocore.status == 200, "credential \(index) by botocore: \(botocore)") }
            }

            try xks.writeCredentials([new])
            xks.ks.daemon.signal(SIGHUP)
            try await waitForLog(xks.ks.daemon, "reload complete", count: 2)
            let after = try await xks.both([
                XKSBatchCall("health", body: health, credential: old), XKSBatchCall("health", body: health, credential: new),
            ])
            expectAll([after[0]], "AuthenticationFailedException", "old credential after rotation")
            #expect(after[1].curl.status == 200, "\(after[1].curl)")
            if let botocore = after[1].botocore { #expect(botocore.status == 200, "\(botocore)") }
        }
    }

    /// Mutual TLS with `xks.tls.clientCA` and `clientSubjects`: KMS's certificate (right CA,
    /// allowed CN) is let in; no certificate, another CN and the right CN from another CA are
    /// refused in the handshake, before any HTTP.
    @Test func mutualTLSAdmitsOnlyTheAllowedSubject() async throws {
        let certs = try TestPaths.temporaryDirectory("xks-mtls")
        defer { try? FileManager.default.removeItem(at: certs) }
        let made = try await ChildProcess.run(try TestPaths.script("make-test-certs"), [certs.path], in: certs)
        try #require(made.status == 0, "\(made.output)")
        let clientCA = certs.appendingPathComponent("ca.pem").path
        let edit = { (text: String) in
            text.replacingOccurrences(
                of: "    minimumVersion: \"1.2\"\n",
                with: "    minimumVersion: \"1.2\"\n    clientCA: \(clientCA)\n    clientSubjects: [\"cks.kms.eu-west-1.amazonaws.com\"]\n")
        }
        try await withXKS(editConfig: edit) { xks in
            #expect(xks.ks.daemon.log.contains("mutualTLS=true"), "\(xks.ks.daemon.log)")
            func identity(_ name: String) -> [String] {
                ["--cert", certs.appendingPathComponent("\(name).pem").path, "--key", certs.appendingPathComponent("\(name)-key.pem").path]
            }
            let health = XKSBody.health()
            let kms = try await xks.curl("health", body: health, extra: identity("kms"))
            #expect(kms.status == 200, "\(kms)")
            for (label, extra) in [
                ("no certificate", [String]()), ("another CN", identity("stranger")), ("another CA", identity("impostor")),
            ] {
                let refused = try await xks.curl("health", body: health, extra: extra)
                #expect(refused.status == 0, "\(label) got an HTTP answer: \(refused)")
                #expect(refused.body.hasPrefix("curl exit "), "\(label): \(refused)")
            }

            guard XKSFixture.botocoreSkipReason == nil else { return }
            let cert = { (name: String) in certs.appendingPathComponent("\(name).pem").path }
            let key = { (name: String) in certs.appendingPathComponent("\(name)-key.pem").path }
            let admitted = try await xks.botocore("health", body: health, clientCert: cert("kms"), clientKey: key("kms"))
            #expect(admitted.answer?.status == 200, "\(admitted.output)")
            for name in ["stranger", "impostor"] {
                let refused = try await xks.botocore("health", body: health, clientCert: cert(name), clientKey: key(name))
                #expect(refused.exit == 2 && refused.answer == nil, "\(name) by botocore: \(refused.output)")
            }
            let anonymous = try await xks.botocore("health", body: health)
            #expect(anonymous.exit == 2 && anonymous.answer == nil, "no certificate by botocore: \(anonymous.output)")
        }
    }
}

/// Waits until `text` has been logged `count` times (a second SIGHUP logs the same line again).
func waitForLog(_ process: ChildProcess, _ text: String, count: Int, timeout: Duration = .seconds(20)) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if process.log.components(separatedBy: text).count - 1 >= count { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure("'\(text)' not logged \(count) times within \(timeout):\n\(process.log.suffix(3000))")
}
