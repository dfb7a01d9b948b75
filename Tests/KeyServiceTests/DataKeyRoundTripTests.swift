import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// A node identity generates and unwraps data keys over mutual TLS against a real
/// `keyservice serve` process configured by `keyservice pki init`.
@Suite(.serialized)
struct DataKeyRoundTripTests {
    typealias API = KeyServiceAPI

    static func createUser(_ ks: KeyServiceFixture, _ id: String, region: String) async throws {
        let response = try await ks.client("admin").call(
            .POST, ks.baseURL + API.Path.users, json: API.CreateUserRequest(id: id, homeRegion: region))
        #expect(response.status == .created, "\(String(decoding: response.body, as: UTF8.self))")
    }

    @Test(arguments: [false, true])
    func nodeGeneratesAndUnwraps(http1Only: Bool) async throws {
        try await withKeyService() { ks in
            try await Self.createUser(ks, "alice", region: "eu-west")
            let node = try ks.client("node-eu-west", http1Only: http1Only)

            let generated = try await node.call(
                .POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "objects/v1"))
            #expect(generated.status == .ok)
            #expect(generated.requestID?.count == 16)
            let key = try generated.decode(API.GenerateResponse.self)
            #expect(key.kekVersion == 1)
            #expect(key.cacheTTL == 300)
            let plaintext = try #require(key.plaintext.flatMap { Data(base64Encoded: $0) })
            #expect(plaintext.count == 32)
            let wrapped = try WrappedKey(encoded: Array(try #require(Data(base64Encoded: key.wrapped))))
            #expect(wrapped.userID == "alice")

            let unwrapped = try await node.call(
                .POST,
                ks.baseURL + API.Path.unwrap,
                json: API.UnwrapRequest(user: "alice", wrapped: key.wrapped, context: "objects/v1", reason: .userRequest)
            )
            #expect(unwrapped.status == .ok)
            let opened = try unwrapped.decode(API.UnwrapResponse.self)
            #expect(Data(base64Encoded: opened.plaintext) == plaintext)
            #expect(opened.cacheTTL == 300)

            let whoami = try await node.call(.GET, ks.baseURL + API.Path.whoami).decode(API.WhoAmI.self)
            #expect(whoami.spiffeID == "spiffe://splitkey.local/node/eu-west")
            #expect(whoami.roles == ["node:eu-west"])
        }
    }

    @Test func wrappedOnlyCarriesNoPlaintext() async throws {
        try await withKeyService() { ks in
            try await Self.createUser(ks, "bob", region: "us-east")
            let node = try ks.client("node-us-east")
            let response = try await node.call(
                .POST, ks.baseURL + API.Path.generateWrapped, json: API.GenerateRequest(user: "bob", context: "c"))
            #expect(response.status == .ok)
            let body = String(decoding: response.body, as: UTF8.self)
            #expect(!body.contains("plaintext"))
            #expect(!body.contains("cacheTTL"))
            let key = try response.decode(API.GenerateResponse.self)
            let unwrapped = try await node.call(
                .POST,
                ks.baseURL + API.Path.unwrap,
                json: API.UnwrapRequest(user: "bob", wrapped: key.wrapped, context: "c", reason: .scrub)
            )
            #expect(unwrapped.status == .ok)
        }
    }

    @Test func batchUnwrapGivesPerItemResults() async throws {
        try await withKeyService() { ks in
            try await Self.createUser(ks, "alice", region: "eu-west")
            try await Self.createUser(ks, "bob", region: "us-east")
            let node = try ks.client("node-eu-west")
            let a = try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "x"))
                .decode(API.GenerateResponse.self)
            let items = [
                API.UnwrapRequest(user: "alice", wrapped: a.wrapped, context: "x", reason: .userRequest),
                API.UnwrapRequest(user: "alice", wrapped: a.wrapped, context: "y", reason: .userRequest),
                API.UnwrapRequest(user: "bob", wrapped: a.wrapped, context: "x", reason: .userRequest),
                API.UnwrapRequest(user: "alice", wrapped: "not base64!", context: "x", reason: .userRequest),
            ]
            let response = try await node.call(.POST, ks.baseURL + API.Path.unwrapBatch, json: API.BatchUnwrapRequest(items: items))
            #expect(response.status == .ok)
            let batch = try response.decode(API.BatchUnwrapResponse.self)
            #expect(batch.results.map(\.index) == [0, 1, 2, 3])
            #expect(batch.results[0].key?.plaintext == a.plaintext)
            #expect(batch.results[1].error?.code == .unwrapFailed)
            #expect(batch.results[2].error?.code == .wrappedKeyUserMismatch)
            #expect(batch.results[3].error?.code == .invalidWrappedKey)
            #expect(batch.requestId == response.requestID)
        }
    }

    @Test func nodeMayCreateUserOnFirstUseWhenAllowed() async throws {
        try await withKeyService(editConfig: {
            $0.replacingOccurrences(of: "nodesMayCreateUsers: false", with: "nodesMayCreateUsers: true")
        }) { ks in
            let node = try ks.client("node-us-east")
            let response = try await node.call(
                .POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "carol", context: "c"))
            #expect(response.status == .ok)
            let user = try await ks.client("admin").call(.GET, ks.baseURL + API.Path.users + "/carol").decode(API.User.self)
            #expect(user.homeRegion == "us-east")
            // The user is bound to the creating node's region: another region's node is refused.
            let other = try await ks.client("node-eu-west").call(
                .POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "carol", context: "c"))
            #expect(other.status == .forbidden)
            #expect(other.error?.error.code == .regionMismatch)
        }
    }

    /// An unknown user gets the same answer as a user of another region, so a node cannot probe
    /// which users other regions have; the log says which it was.
    @Test func unknownUserIsNotCreatedByDefaultAndLooksLikeAnotherRegionsUser() async throws {
        try await withKeyService() { ks in
            try await Self.createUser(ks, "bob", region: "us-east")
            let node = try ks.client("node-eu-west")
            let unknown = try await node.call(
                .POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "mallory", context: "c"))
            let foreign = try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "bob", context: "c"))
            #expect(unknown.status == .forbidden)
            #expect(unknown.error?.error.code == .regionMismatch)
            #expect(foreign.status == unknown.status)
            #expect(foreign.error?.error.code == unknown.error?.error.code)
            #expect(foreign.error?.error.message == unknown.error?.error.message)
            for response in [unknown, foreign] {
                let text = String(decoding: response.body, as: UTF8.self)
                #expect(!text.contains("us-east") && !text.contains("eu-west") && !text.contains("spiffe://"), "\(text)")
            }
            try await ks.daemon.waitForLog("user mallory does not exist")
            try await ks.daemon.waitForLog("user bob is homed in us-east")
        }
    }
}
