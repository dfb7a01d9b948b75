import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// X.509 CRLs of the operator's CA, read with OpenSSL 3 and applied on SIGHUP by both daemons.
/// The CRLs are made by Python's `cryptography` package, an implementation independent of ours.
@Suite(.serialized)
struct RevocationListTests {
    typealias API = KeyServiceAPI

    static let makeCRL = """
        import sys, datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        ca = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
        key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
             .last_update(now - datetime.timedelta(minutes=5)).next_update(now + datetime.timedelta(days=1)))
        for path in sys.argv[4:]:
            cert = x509.load_pem_x509_certificate(open(path, "rb").read())
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number).revocation_date(now).build())
        open(sys.argv[3], "wb").write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        """

    /// Writes `dir/name` as a CRL signed by the CA in `caDir`, revoking the given certificates.
    func writeCRL(caDir: URL, to dir: URL, name: String = "crl.pem", revoking certificates: [String]) async throws {
        let script = dir.appendingPathComponent("make-crl.py")
        try Self.makeCRL.write(to: script, atomically: true, encoding: .utf8)
        let result = try await ChildProcess.run(
            try IndependentClientTests.tool("python3"),
            [
                script.path, caDir.appendingPathComponent("ca.pem").path, caDir.appendingPathComponent("ca-key.pem").path,
                dir.appendingPathComponent(name).path,
            ] + certificates.map { caDir.appendingPathComponent($0).path },
            in: dir
        )
        guard result.status == 0 else { throw TestFailure("making the CRL failed: \(result.output)") }
    }

    func enableCRL(in configPath: String) throws {
        let text = try String(contentsOfFile: configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "  ca: ca.pem", with: "  crl: [crl.pem]\n  ca: ca.pem")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func curl(_ dir: URL, _ identity: String, _ url: String) async throws -> Int32 {
        try await ChildProcess.run(
            try IndependentClientTests.tool("curl"),
            [
                "--silent", "--fail", "--cacert", dir.appendingPathComponent("ca.pem").path,
                "--cert", dir.appendingPathComponent("\(identity).pem").path,
                "--key", dir.appendingPathComponent("\(identity)-key.pem").path, url,
            ],
            in: dir
        ).status
    }

    @Test func keyServiceRefusesARevokedNodeAfterSighupAndClosesItsConnections() async throws {
        try await withKeyService { ks in
            let node = try ks.client("node-eu-west", http1Only: true)
            #expect(try await node.call(.GET, ks.baseURL + API.Path.whoami).status == .ok)
            #expect(try await curl(ks.dir, "node-eu-west", ks.baseURL + API.Path.health) == 0)

            // An empty CRL first: nothing changes.
            try await writeCRL(caDir: ks.dir, to: ks.dir, revoking: [])
            try enableCRL(in: ks.path("keyservice.yaml"))
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("connectionsClosed=0")
            #expect(try await node.call(.GET, ks.baseURL + API.Path.whoami).status == .ok)

            // Revoke the node's certificate.
            try await writeCRL(caDir: ks.dir, to: ks.dir, revoking: ["node-eu-west.pem"])
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("connectionsClosed=1")
            #expect(ks.daemon.log.contains("revokedSerials=1"))
            // Its open connection is gone and new handshakes are refused.
            await #expect(throws: (any Error).self) { _ = try await node.call(.GET, ks.baseURL + API.Path.whoami) }
            #expect(try await curl(ks.dir, "node-eu-west", ks.baseURL + API.Path.health) != 0)
            try await ks.daemon.waitForLog("is revoked by the CA's CRL")
            // Everyone else still gets in.
            #expect(try await curl(ks.dir, "admin", ks.baseURL + API.Path.health) == 0)
            #expect(try await curl(ks.dir, "node-us-east", ks.baseURL + API.Path.health) == 0)
        }
    }

    @Test func aCRLNotSignedByTheCAIsRefusedAndTheOldStateStays() async throws {
        try await withKeyService { ks in
            let other = try TestPaths.temporaryDirectory("other-crl-ca")
            defer { try? FileManager.default.removeItem(at: other) }
            let made = try await ChildProcess.run(try TestPaths.binary("keyservice"), ["pki", "init", "--dir", other.path], in: other)
            #expect(made.status == 0)
            // Signed by a foreign CA, "revoking" nothing: it must not be accepted at all.
            try await writeCRL(caDir: other, to: ks.dir, revoking: [])
            try enableCRL(in: ks.path("keyservice.yaml"))
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("reload failed")
            #expect(ks.daemon.log.contains("does not verify with any certificate in the CA bundle"))
            #expect(try await curl(ks.dir, "node-eu-west", ks.baseURL + API.Path.health) == 0)
            // And a start with it is refused.
            _ = await ks.stop()
            let start = try await ChildProcess.run(
                try TestPaths.binary("keyservice"),
                ["serve", "--config", ks.path("keyservice.yaml")],
                environment: ["SPLITKEY_LISTEN_PORT": String(ks.port)],
                in: ks.dir
            )
            #expect(start.status == 78)
            #expect(start.output.contains("crl.pem"))
        }
    }

    @Test func storageNodeRefusesARevokedUser() async throws {
        try await withStorageNode { env in
            #expect(try await curl(env.ks.dir, "user-alice", env.baseURL + "/v1/objects") == 0)
            try await writeCRL(caDir: env.ks.dir, to: env.ks.dir, revoking: ["user-alice.pem"])
            try enableCRL(in: env.ks.path("storagenode-eu-west.yaml"))
            env.node!.signal(SIGHUP)
            try await env.node!.waitForLog("CRLs applied")
            #expect(try await curl(env.ks.dir, "user-alice", env.baseURL + "/v1/objects") != 0)
            #expect(try await curl(env.ks.dir, "user-bob", env.baseURL + "/v1/objects") == 0)
        }
    }
}
