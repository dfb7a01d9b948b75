import AsyncHTTPClient
import Foundation
import Shared
import SplitKeyTestSupport
import Testing

/// Both clients of the StorageNode side check whom they talk to by SPIFFE ID, not only that the
/// server's certificate comes from the CA: the node checks its KeyService (`keyService.identity`),
/// the `storagenode` CLI checks the node (`--node-identity`). Every certificate of the dev PKI
/// with serverAuth is valid for `localhost`, so without that check any of them could stand in.
@Suite(.serialized)
struct ServerIdentityTests {
    /// What a hostile "KeyService" would answer a generate: a data key of its choosing.
    static let chosenKeyAnswer = """
        {"user":"alice","kekVersion":1,"wrapped":"\(Data(repeating: 1, count: 64).base64EncodedString())",\
        "plaintext":"\(Data(repeating: 7, count: 32).base64EncodedString())","cacheTTL":300}
        """

    @Test func nodeRefusesAnotherServerOfTheCAAsItsKeyService() async throws {
        try await withStorageNode { env in
            // node-us-east.pem: serverAuth, localhost, issued by the same CA.
            let impostor = try await ImpostorTLSServer(
                certificate: env.ks.path("node-us-east.pem"), privateKey: env.ks.path("node-us-east-key.pem"),
                answer: Self.chosenKeyAnswer)
            await env.stopNode()
            try await env.startNode(keyServiceURL: impostor.baseURL)
            let alice = try env.ks.client("user-alice")

            let put = try await alice.send(.PUT, env.objectURL("secret"), body: Array("for alice only".utf8))
            #expect(put.status == .badGateway, "\(put.status) \(String(decoding: put.body, as: UTF8.self))")
            #expect(put.error?.error.code == .keyServiceIdentityMismatch)
            // Refused after the handshake, before a byte of the request went out.
            #expect(impostor.receivedBytes == 0)
            #expect(try await alice.send(.HEAD, env.objectURL("secret")).status == .notFound)

            let health = try await alice.send(.GET, env.baseURL + StorageNodeAPI.Path.health)
            #expect(try health.decode(KeyServiceAPI.Health.self).status == .degraded)
            #expect(impostor.receivedBytes == 0)

            // The operator learns who answered; the client's message names nobody.
            let log = env.node?.log ?? ""
            #expect(log.contains("spiffe://splitkey.local/node/us-east"), "\(log.suffix(2000))")
            #expect(log.contains("spiffe://splitkey.local/keyservice"))
            #expect(put.error?.error.message.contains("spiffe://") == false)
            await impostor.close()

            // Back to the real KeyService, the same node works.
            await env.stopNode()
            try await env.startNode()
            #expect(try await alice.send(.PUT, env.objectURL("secret"), body: Array("for alice only".utf8)).status == .created)
        }
    }

    @Test func nodeRefusesToStartWithAMalformedKeyServiceIdentity() async throws {
        try await withStorageNode { env in
            await env.stopNode()
            let run = try await ChildProcess.run(
                try TestPaths.binary("storagenode"), ["serve", "--config", env.ks.path("storagenode-eu-west.yaml")],
                environment: ["SPLITKEY_KEY_SERVICE_IDENTITY": "keyservice.example.org", "SPLITKEY_LISTEN_PORT": String(env.port)],
                in: env.ks.dir)
            #expect(run.status == 78, "\(run.output)")
            #expect(run.output.contains("keyService.identity"), "\(run.output)")
        }
    }

    /// A database that does not answer at start is not a config error: exit 69 (EX_UNAVAILABLE),
    /// which the unit restarts, where 78 would keep the node down for good.
    @Test func nodeStartedWhilePostgresDoesNotAnswerExitsForARestart() async throws {
        try await withStorageNode { env in
            await env.stopNode()
            let run = try await ChildProcess.run(
                try TestPaths.binary("storagenode"), ["serve", "--config", env.ks.path("storagenode-eu-west.yaml")],
                environment: [
                    "SPLITKEY_METADATA_BACKEND": "postgres",
                    // Nothing listens there: the helpers' port range hands each port out once.
                    "SPLITKEY_METADATA_URL": "postgres://splitkey@127.0.0.1:\(try freeLoopbackPort())/splitkey",
                    "SPLITKEY_METADATA_TIMEOUT": "1", "SPLITKEY_LISTEN_PORT": String(env.port),
                ],
                in: env.ks.dir)
            #expect(run.status == 69, "\(run.output)")
            #expect(run.output.contains("metadata store unavailable"), "\(run.output)")
        }
    }

    func cli(_ env: StorageNodeFixture, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(
            try TestPaths.binary("storagenode"),
            arguments + [
                "--cert", env.ks.path("user-alice.pem"), "--key", env.ks.path("user-alice-key.pem"), "--ca", env.ks.path("ca.pem"),
            ],
            in: env.ks.dir)
    }

    @Test func cliRefusesAServerThatIsNotANode() async throws {
        try await withStorageNode { env in
            // keyservice.pem: serverAuth, localhost, same CA, but spiffe://splitkey.local/keyservice.
            let impostor = try await ImpostorTLSServer(
                certificate: env.ks.path("keyservice.pem"), privateKey: env.ks.path("keyservice-key.pem"),
                answer: #"{"objects":[]}"#)
            let file = env.ks.dir.appendingPathComponent("upload.txt")
            try Data("alice's notes".utf8).write(to: file)

            let ls = try await cli(env, ["ls", "--url", impostor.baseURL])
            #expect(ls.status != 0)
            #expect(ls.output.contains("spiffe://splitkey.local/keyservice"), "\(ls.output)")
            let put = try await cli(env, ["put", "--url", impostor.baseURL, "notes", file.path])
            #expect(put.status != 0)
            #expect(impostor.receivedBytes == 0)
            await impostor.close()

            // The real node passes the default check (spiffe://splitkey.local/node/*) and an exact one.
            #expect(try await cli(env, ["put", "--url", env.baseURL, "notes", file.path]).status == 0)
            let exact = try await cli(env, ["ls", "--url", env.baseURL, "--node-identity", "spiffe://splitkey.local/node/eu-west"])
            #expect(exact.status == 0, "\(exact.output)")
            #expect(exact.output.contains("notes"))
            // Another node's identity is refused although the certificate is valid.
            let other = try await cli(env, ["ls", "--url", env.baseURL, "--node-identity", "spiffe://splitkey.local/node/us-east"])
            #expect(other.status != 0)
            #expect(other.output.contains("spiffe://splitkey.local/node/eu-west"), "\(other.output)")
        }
    }
}
