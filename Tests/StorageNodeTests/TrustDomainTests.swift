import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// `keyservice pki init --trust-domain X` writes configs that work as written: the node takes
/// users from `spiffe://X/user/*` and trusts the KeyService `spiffe://X/keyservice`, and the CLI
/// expects a node of `spiffe://X/node/*`.
@Suite(.serialized)
struct TrustDomainTests {
    @Test func pkiInitWithAnotherTrustDomainWorksEndToEnd() async throws {
        let dir = try TestPaths.temporaryDirectory("trustdomain")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pki = try await ChildProcess.run(
            try TestPaths.binary("keyservice"), ["pki", "init", "--dir", dir.path, "--trust-domain", "corp.example"], in: dir)
        #expect(pki.status == 0, "\(pki.output)")
        let nodeConfig = try String(contentsOfFile: dir.appendingPathComponent("storagenode-eu-west.yaml").path, encoding: .utf8)
        #expect(nodeConfig.contains("spiffe://corp.example/user"))
        #expect(nodeConfig.contains("spiffe://corp.example/keyservice"))

        let ksPort = try freeLoopbackPort()
        let ks = try KeyServiceFixture.spawn(dir: dir, port: ksPort)
        defer { ks.signal(SIGKILL) }
        try await ks.waitForLog("keyservice listening")
        func client(_ identity: String) throws -> HTTPClient {
            let files = TLSFiles(
                certificate: dir.appendingPathComponent("\(identity).pem").path,
                privateKey: dir.appendingPathComponent("\(identity)-key.pem").path,
                ca: dir.appendingPathComponent("ca.pem").path)
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: .splitKeyClient(try files.load())))
        }
        let admin = try client("admin")
        let alice = try client("user-alice")
        do {
            let created = try await admin.call(
                .POST, "https://localhost:\(ksPort)" + KeyServiceAPI.Path.users,
                json: KeyServiceAPI.CreateUserRequest(id: "alice", homeRegion: "eu-west"))
            #expect(created.status == .created, "\(String(decoding: created.body, as: UTF8.self))")

            let nodePort = try freeLoopbackPort()
            let node = try ChildProcess(
                executable: try TestPaths.binary("storagenode"),
                arguments: ["serve", "--config", dir.appendingPathComponent("storagenode-eu-west.yaml").path],
                environment: ["SPLITKEY_LISTEN_PORT": String(nodePort), "SPLITKEY_KEY_SERVICE_URL": "https://localhost:\(ksPort)"],
                logURL: dir.appendingPathComponent("storagenode.log"))
            defer { node.signal(SIGKILL) }
            try await node.waitForLog("storagenode listening")
            let url = "https://localhost:\(nodePort)" + StorageNodeAPI.Path.objects + "/notes/a.txt"

            let put = try await alice.send(.PUT, url, body: Array("in corp.example".utf8))
            #expect(put.status == .created, "\(put.status) \(String(decoding: put.body, as: UTF8.self))")
            #expect(try await alice.send(.GET, url).body == Data("in corp.example".utf8))

            // The CLI's default node identity comes from alice's trust domain too.
            let got = try await ChildProcess.run(
                try TestPaths.binary("storagenode"),
                [
                    "get", "--url", "https://localhost:\(nodePort)", "--cert", dir.appendingPathComponent("user-alice.pem").path,
                    "--key", dir.appendingPathComponent("user-alice-key.pem").path, "--ca", dir.appendingPathComponent("ca.pem").path,
                    "notes/a.txt", "-o", dir.appendingPathComponent("out.txt").path,
                ], in: dir)
            #expect(got.status == 0, "\(got.output)")
            #expect(try Data(contentsOf: dir.appendingPathComponent("out.txt")) == Data("in corp.example".utf8))
            node.signal(SIGTERM)
            await node.waitForExit()
        } catch {
            try? await admin.shutdown()
            try? await alice.shutdown()
            throw error
        }
        try await admin.shutdown()
        try await alice.shutdown()
        ks.signal(SIGTERM)
        await ks.waitForExit()
    }
}
