import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// X.509 CRLs of the operator's CA, read with OpenSSL 3 and applied on SIGHUP by both daemons.
/// The CRLs are made by Python's `cryptography` package, an implementation independent of ours.
@Suite(.serialized)
struct RevocationListTests {
    typealias API = KeyServiceAPI

    /// Writes `dir/name` as a CRL signed by the CA in `caDir` (scripts/make-crl), revoking the
    /// given certificates.
    func writeCRL(
        caDir: URL, to dir: URL, name: String = "crl.pem", revoking certificates: [String], nextUpdateHours: Double = 24,
        number: Int? = nil
    ) async throws {
        var arguments = [
            caDir.appendingPathComponent("ca.pem").path, caDir.appendingPathComponent("ca-key.pem").path,
            dir.appendingPathComponent(name).path, "--next-update-hours=\(nextUpdateHours)",
        ]
        if let number { arguments.append("--number=\(number)") }
        let result = try await ChildProcess.run(
            try TestPaths.script("make-crl"), arguments + certificates.map { caDir.appendingPathComponent($0).path }, in: dir)
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

    /// `openssl s_client` holding a connection open after its handshake, sending nothing.
    func idleConnection(_ ks: KeyServiceFixture, _ identity: String) throws -> ChildProcess {
        try ChildProcess(
            executable: try IndependentClientTests.tool("openssl"),
            arguments: [
                "s_client", "-quiet", "-alpn", "http/1.1", "-connect", "127.0.0.1:\(ks.port)", "-CAfile", ks.path("ca.pem"),
                "-cert", ks.path("\(identity).pem"), "-key", ks.path("\(identity)-key.pem"),
            ],
            logURL: ks.dir.appendingPathComponent("s_client-\(UUID().uuidString.prefix(6)).log"))
    }

    /// A connection that has finished its handshake but not sent a request is registered too:
    /// the reload that revokes its certificate closes it.
    @Test func anIdleConnectionIsClosedByTheReloadThatRevokesIt() async throws {
        try await withKeyService { ks in
            try await writeCRL(caDir: ks.dir, to: ks.dir, revoking: [])
            try enableCRL(in: ks.path("keyservice.yaml"))
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("CRLs applied")
            let idle = try idleConnection(ks, "node-eu-west")
            let bystander = try idleConnection(ks, "node-us-east")
            try await Task.sleep(for: .seconds(1))
            #expect(idle.isRunning, "\(idle.log)")
            try await writeCRL(caDir: ks.dir, to: ks.dir, revoking: ["node-eu-west.pem"])
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("connectionsClosed=1")
            let deadline = ContinuousClock.now + .seconds(5)
            while idle.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!idle.isRunning, "the idle connection of the revoked node is still open")
            #expect(bystander.isRunning, "the other node's idle connection was closed too")
            bystander.signal(SIGTERM)
            idle.signal(SIGTERM)
        }
    }

    /// A failed reload changes nothing: a policy edit that comes with a bad CRL is not applied.
    @Test func aFailedReloadIsNotHalfApplied() async throws {
        try await withKeyService { ks in
            let node = try ks.client("node-us-east")
            #expect(try await node.call(.GET, ks.baseURL + API.Path.users).status == .forbidden)
            try await ks.createUser("bob", region: "us-east")
            let generate = {
                try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "bob", context: "c"))
            }
            #expect(try await generate().status == .ok)
            let other = try TestPaths.temporaryDirectory("other-crl-ca")
            defer { try? FileManager.default.removeItem(at: other) }
            #expect(
                try await ChildProcess.run(try TestPaths.binary("keyservice"), ["pki", "init", "--dir", other.path], in: other).status == 0)
            try await writeCRL(caDir: other, to: ks.dir, revoking: [])
            try enableCRL(in: ks.path("keyservice.yaml"))
            let config = try String(contentsOfFile: ks.path("keyservice.yaml"), encoding: .utf8)
            try config.replacingOccurrences(of: "deny: []", with: "deny:\n    - \"spiffe://splitkey.local/node/us-east\"")
                .write(toFile: ks.path("keyservice.yaml"), atomically: true, encoding: .utf8)
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("reload failed")
            #expect(try await generate().status == .ok, "the new deny rule took effect although the reload failed")
        }
    }

    @Test func aCRLPastItsNextUpdateIsRefusedUnlessAGracePeriodAllowsIt() async throws {
        try await withKeyService { ks in
            try await writeCRL(caDir: ks.dir, to: ks.dir, revoking: ["node-eu-west.pem"], nextUpdateHours: -2)
            try enableCRL(in: ks.path("keyservice.yaml"))
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("reload failed")
            #expect(ks.daemon.log.contains("past its nextUpdate"))
            _ = await ks.stop()
            let start = try await ChildProcess.run(
                try TestPaths.binary("keyservice"), ["serve", "--config", ks.path("keyservice.yaml")],
                environment: ["SPLITKEY_LISTEN_PORT": String(ks.port)], in: ks.dir)
            #expect(start.status == 78)
            #expect(start.output.contains("past its nextUpdate"), "\(start.output)")
            // Three hours of grace: applied, with a warning, and the revocation holds.
            let config = try String(contentsOfFile: ks.path("keyservice.yaml"), encoding: .utf8)
            try config.replacingOccurrences(of: "  ca: ca.pem", with: "  ca: ca.pem\n  crlGracePeriod: 10800")
                .write(toFile: ks.path("keyservice.yaml"), atomically: true, encoding: .utf8)
            try await ks.start()
            #expect(try await curl(ks.dir, "node-eu-west", ks.baseURL + API.Path.health) != 0)
            #expect(try await curl(ks.dir, "node-us-east", ks.baseURL + API.Path.health) == 0)
        }
    }

    @Test func anOlderCRLIsRefusedOnReload() async throws {
        try await withKeyService { ks in
            try await writeCRL(caDir: ks.dir, to: ks.dir, revoking: ["node-eu-west.pem"], number: 7)
            try enableCRL(in: ks.path("keyservice.yaml"))
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("CRLs applied")
            // An older CRL from before the revocation, put back: refused, the revocation stays.
            try await writeCRL(caDir: ks.dir, to: ks.dir, revoking: [], number: 6)
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("reload failed")
            #expect(ks.daemon.log.contains("lower than"), "\(ks.daemon.log)")
            #expect(try await curl(ks.dir, "node-eu-west", ks.baseURL + API.Path.health) != 0)
            // A newer one is accepted.
            try await writeCRL(caDir: ks.dir, to: ks.dir, revoking: [], number: 8)
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("revokedSerials=0")
            #expect(try await curl(ks.dir, "node-eu-west", ks.baseURL + API.Path.health) == 0)
        }
    }

    /// Connections over the cap are closed before their handshake; a peer that connects and
    /// never finishes its handshake is closed after the handshake timeout, well before the idle
    /// timeout.
    @Test func connectionCapAndHandshakeTimeout() async throws {
        let edit = { (config: String) in config + "limits:\n  maxConnections: 2\n  handshakeTimeout: 1\n" }
        try await withKeyService(editConfig: edit) { ks in
            let first = try idleConnection(ks, "node-eu-west")
            let second = try idleConnection(ks, "node-us-east")
            try await Task.sleep(for: .seconds(1))
            #expect(first.isRunning && second.isRunning)
            let third = try idleConnection(ks, "admin")
            #expect(await third.waitForExit(timeout: .seconds(5)) != 0 || !third.isRunning)
            try await ks.daemon.waitForLog("at the connection limit")
            first.signal(SIGTERM)
            second.signal(SIGTERM)
            _ = await first.waitForExit()
            _ = await second.waitForExit()
            try await Task.sleep(for: .milliseconds(300))
            // A bare TCP connection that never speaks TLS.
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { Glibc.close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(ks.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(connected == 0)
            let started = ContinuousClock.now
            var byte: UInt8 = 0
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let n = recv(socket, &byte, 1, 0)
            #expect(n == 0, "the server did not close the silent connection")
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(try await curl(ks.dir, "admin", ks.baseURL + API.Path.health) == 0)
        }
    }
}
