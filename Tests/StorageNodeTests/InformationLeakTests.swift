import AsyncHTTPClient
import Foundation
import Shared
import SplitKeyTestSupport
import Testing

/// What the node tells its clients about things that are not theirs: nothing. The KeyService's
/// refusal texts (its codes, node identities, regions, whether a user exists) and the node's own
/// file paths and URLs stay in the node log, under the request id the client's answer carries.
@Suite(.serialized)
struct InformationLeakTests {
    func lines(_ log: String, containing requestID: String) -> [Substring] {
        log.split(separator: "\n").filter { $0.contains(requestID) }
    }

    @Test func keyServiceRefusalTextsStayInTheNodeLog() async throws {
        try await withStorageNode { env in
            // carol is homed in us-east: the KeyService refuses her keys to the eu-west node.
            let carol = try env.ks.client("user-carol")
            let response = try await carol.send(.PUT, env.objectURL("x"), body: Array("carol's".utf8))
            #expect(response.status == .forbidden)
            let error = try #require(response.error?.error)
            #expect(error.code == .keyRefused)
            for secret in ["region", "us-east", "eu-west", "spiffe://", "node/", "(", "user_not_found"] {
                #expect(!error.message.contains(secret), "the client was told '\(secret)': \(error.message)")
            }
            // The operator finds the KeyService's reason under the request id.
            let logged = lines(env.node?.log ?? "", containing: error.requestId)
            #expect(logged.contains { $0.contains(ErrorCode.regionMismatch.rawValue) }, "\(logged)")
        }
    }

    @Test func healthNamesNeitherFilesNorURLs() async throws {
        try await withStorageNode { env in
            let alice = try env.ks.client("user-alice")
            #expect(await env.ks.stop() == 0)
            let response = try await alice.send(.GET, env.baseURL + StorageNodeAPI.Path.health)
            let health = try response.decode(KeyServiceAPI.Health.self)
            #expect(health.status == .degraded)
            #expect(!health.reasons.isEmpty)
            let text = String(decoding: response.body, as: UTF8.self)
            for secret in ["https://", "localhost", String(env.ks.port), env.ks.dir.path, "/"] {
                #expect(!text.replacingOccurrences(of: "\\/", with: "/").contains(secret), "health told '\(secret)': \(text)")
            }
            let requestID = try #require(response.requestID)
            #expect(lines(env.node?.log ?? "", containing: requestID).contains { $0.contains(String(env.ks.port)) })
            try await env.ks.start()
        }
    }
}
