import AsyncHTTPClient
import Foundation
import NIOHTTP1
import NIOSSL
import Shared
import SplitKeyTestSupport
import Testing

/// Everything the KeyService must refuse, seen from real clients, each with the one error shape
/// and a request id.
@Suite(.serialized)
struct RefusalTests {
    typealias API = KeyServiceAPI

    /// The error body's request id is the one in the response header.
    func expectError(
        _ response: APIResponse, _ status: HTTPResponseStatus, _ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == status, "\(String(decoding: response.body, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(response.error?.error.code == code, sourceLocation: sourceLocation)
        #expect(response.error?.error.requestId == response.requestID, sourceLocation: sourceLocation)
        #expect(response.requestID?.isEmpty == false, sourceLocation: sourceLocation)
    }

    @Test func handshakeWithoutClientCertificateFails() async throws {
        try await withKeyService { ks in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(ks.path("ca.pem"))
            tls.minimumTLSVersion = .tlsv13
            var config = HTTPClient.Configuration(tlsConfiguration: tls)
            config.timeout.connect = .seconds(2)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            await #expect(throws: (any Error).self) {
                _ = try await client.call(.GET, ks.baseURL + API.Path.health)
            }
            try await client.shutdown()
            #expect(ks.daemon.isRunning)
        }
    }

    @Test func certificateOfAnotherCAIsRefused() async throws {
        try await withKeyService { ks in
            let other = try TestPaths.temporaryDirectory("other-ca")
            defer { try? FileManager.default.removeItem(at: other) }
            let made = try await ChildProcess.run(try TestPaths.binary("keyservice"), ["pki", "init", "--dir", other.path], in: other)
            #expect(made.status == 0)
            // A node certificate with the right SPIFFE ID, but from a CA the KeyService does not trust.
            let files = TLSFiles(
                certificate: other.appendingPathComponent("node-eu-west.pem").path,
                privateKey: other.appendingPathComponent("node-eu-west-key.pem").path,
                ca: ks.path("ca.pem")
            )
            var config = HTTPClient.Configuration(tlsConfiguration: .splitKeyClient(try files.load()))
            config.timeout.connect = .seconds(2)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            await #expect(throws: (any Error).self) {
                _ = try await client.call(.GET, ks.baseURL + API.Path.health)
            }
            try await client.shutdown()
            try await ks.daemon.waitForLog("refused client certificate")
        }
    }

    @Test func nodeOfAnotherRegionIsRefused() async throws {
        try await withKeyService { ks in
            try await DataKeyRoundTripTests.createUser(ks, "alice", region: "eu-west")
            let eu = try ks.client("node-eu-west")
            let us = try ks.client("node-us-east")
            let key = try await eu.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
                .decode(API.GenerateResponse.self)
            expectError(
                try await us.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c")),
                .forbidden,
                .regionMismatch
            )
            let stolen = try await us.call(
                .POST,
                ks.baseURL + API.Path.unwrap,
                json: API.UnwrapRequest(user: "alice", wrapped: key.wrapped, context: "c", reason: .legalProcess)
            )
            expectError(stolen, .forbidden, .regionMismatch)
            #expect(!String(decoding: stolen.body, as: UTF8.self).contains(key.plaintext!))
        }
    }

    @Test func nodeCannotUseAdminEndpoints() async throws {
        try await withKeyService { ks in
            let node = try ks.client("node-eu-west")
            expectError(
                try await node.call(.POST, ks.baseURL + API.Path.users, json: API.CreateUserRequest(id: "eve", homeRegion: "eu-west")),
                .forbidden,
                .roleRequired
            )
            expectError(try await node.call(.GET, ks.baseURL + API.Path.users), .forbidden, .roleRequired)
            // And an admin cannot use the data plane.
            expectError(
                try await ks.client("admin").call(
                    .POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "eve", context: "c")),
                .forbidden,
                .roleRequired
            )
            // An auditor reads but does not write.
            #expect(try await ks.client("auditor").call(.GET, ks.baseURL + API.Path.users).status == .ok)
            expectError(
                try await ks.client("auditor").call(
                    .POST, ks.baseURL + API.Path.users, json: API.CreateUserRequest(id: "eve", homeRegion: "eu-west")),
                .forbidden,
                .roleRequired
            )
        }
    }

    @Test func tamperedWrappedKeyOrChangedContextGivesNoKey() async throws {
        try await withKeyService { ks in
            try await DataKeyRoundTripTests.createUser(ks, "alice", region: "eu-west")
            let node = try ks.client("node-eu-west")
            let key = try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
                .decode(API.GenerateResponse.self)
            let bytes = Array(Data(base64Encoded: key.wrapped)!)
            func unwrap(_ wrapped: [UInt8], context: String = "c") async throws -> APIResponse {
                try await node.call(
                    .POST,
                    ks.baseURL + API.Path.unwrap,
                    json: API.UnwrapRequest(
                        user: "alice", wrapped: Data(wrapped).base64EncodedString(), context: context, reason: .userRequest)
                )
            }
            // A flipped bit in the nonce, the ciphertext and the tag: the tag check refuses.
            for index in [bytes.count - 60, bytes.count - 40, bytes.count - 1] {
                var tampered = bytes
                tampered[index] ^= 0x01
                let response = try await unwrap(tampered)
                expectError(response, .unprocessableEntity, .unwrapFailed)
                #expect(!String(decoding: response.body, as: UTF8.self).contains("plaintext"))
            }
            // A damaged header: the strict parser refuses before any key is touched.
            var badMagic = bytes
            badMagic[0] ^= 0xff
            expectError(try await unwrap(badMagic), .badRequest, .invalidWrappedKey)
            expectError(try await unwrap(bytes + [0]), .badRequest, .invalidWrappedKey)
            expectError(try await unwrap(Array(bytes.dropLast())), .badRequest, .invalidWrappedKey)
            // The right blob with another context.
            expectError(try await unwrap(bytes, context: "d"), .unprocessableEntity, .unwrapFailed)
            // The untouched blob still opens.
            #expect(try await unwrap(bytes).status == .ok)
        }
    }

    @Test func malformedRequestsGetTypedErrors() async throws {
        try await withKeyService { ks in
            let node = try ks.client("node-eu-west")
            expectError(
                try await node.call(.POST, ks.baseURL + API.Path.generate, rawBody: Data("{not json".utf8)), .badRequest, .invalidJson)
            expectError(
                try await node.call(.POST, ks.baseURL + API.Path.generate, rawBody: Data(#"{"user": 5, "context": "c"}"#.utf8)),
                .badRequest, .invalidJson)
            expectError(
                try await node.call(
                    .POST, ks.baseURL + API.Path.unwrap,
                    rawBody: Data(#"{"user":"a","wrapped":"","context":"c","reason":"curiosity"}"#.utf8)),
                .badRequest,
                .invalidJson
            )
            expectError(
                try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "../etc", context: "c")),
                .badRequest,
                .invalidUserId
            )
            expectError(
                try await node.call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "")),
                .badRequest,
                .invalidContext
            )
            expectError(
                try await node.call(.POST, ks.baseURL + API.Path.generate, rawBody: Data(repeating: 0x20, count: 2 << 20)),
                .payloadTooLarge,
                .payloadTooLarge
            )
            expectError(try await node.call(.GET, ks.baseURL + "/v1/nope"), .notFound, .notFound)
            expectError(
                try await ks.client("admin").call(
                    .POST, ks.baseURL + API.Path.users, json: API.CreateUserRequest(id: "zed", homeRegion: "EU WEST")),
                .badRequest,
                .invalidRegion
            )
            #expect(ks.daemon.isRunning)
        }
    }

    @Test func deniedIdentityIsRefusedDespiteItsGrant() async throws {
        let deny = "deny:\n    - \"spiffe://splitkey.local/node/us-east\""
        try await withKeyService(editConfig: { $0.replacingOccurrences(of: "deny: []", with: deny) }) { ks in
            let response = try await ks.client("node-us-east").call(
                .POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "bob", context: "c"))
            expectError(response, .forbidden, .identityDenied)
        }
    }
}
