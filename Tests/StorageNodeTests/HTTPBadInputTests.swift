import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// Hostile HTTP over raw mutual-TLS sockets (Python's `ssl` and `socket`, so the bytes on the
/// wire are exactly the test's): oversized heads and bodies, odd ranges, object keys that try to
/// leave the key space, malformed JSON, and clients that trickle. Every case gets its documented
/// status and code, never a 500, and both daemons keep serving afterwards.
@Suite(.serialized)
struct HTTPBadInputTests {

    struct RawResponse {
        var status: Int?
        var headers: [String: String]
        var body: String
        var closed: Bool

        var code: ErrorCode? {
            (try? JSONDecoder().decode(ErrorBody.self, from: Data(body.utf8)))?.error.code
        }
    }

    /// A folder for the scripts, requests and their logs, so the PKI folder itself stays as the
    /// fixture made it (the traversal test compares it before and after).
    static func workDirectory(_ env: StorageNodeFixture) throws -> URL {
        let dir = env.ks.dir.appendingPathComponent("attack")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func arguments(_ env: StorageNodeFixture, port: Int, identity: String) throws -> [String] {
        [
            try TestPaths.script("raw-tls-client").path, String(port), env.ks.path("ca.pem"),
            env.ks.path("\(identity).pem"), env.ks.path("\(identity)-key.pem"),
        ]
    }

    /// Sends `bytes` on one fresh connection and reads one response.
    static func send(
        _ bytes: [UInt8], to port: Int, as identity: String, _ env: StorageNodeFixture, waitForClose seconds: Int = 0
    ) async throws -> RawResponse {
        try await send([bytes], to: port, as: identity, env, waitForClose: seconds)[0]
    }

    /// Sends each request on its own fresh connection, in order, from one client process.
    static func send(
        _ requests: [[UInt8]], to port: Int, as identity: String, _ env: StorageNodeFixture, waitForClose seconds: Int = 0
    ) async throws -> [RawResponse] {
        let dir = try workDirectory(env)
        let files = try requests.map { bytes in
            let file = dir.appendingPathComponent("request-\(UUID().uuidString.prefix(8)).bin")
            try Data(bytes).write(to: file)
            return file
        }
        defer { for file in files { try? FileManager.default.removeItem(at: file) } }
        let run = try await ChildProcess.run(
            try tool("python3"), try arguments(env, port: port, identity: identity) + ["send", String(seconds)] + files.map(\.path), in: dir
        )
        let lines = run.output.split(separator: "\n").filter { $0.hasPrefix("RESULT ") }
        guard lines.count == requests.count else { throw TestFailure("the raw client failed:\n\(run.output)") }
        return try lines.map { line in
            guard let fields = try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any] else {
                throw TestFailure("the raw client printed \(line)")
            }
            let response = fields["response"] as? [String: Any]
            return RawResponse(
                status: response?["status"] as? Int,
                headers: response?["headers"] as? [String: String] ?? [:],
                body: response?["body"] as? String ?? "",
                closed: fields["closed"] as? Bool ?? false
            )
        }
    }

    static func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil, chunked: Bool = false
    ) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body, !chunked { head += "Content-Length: \(body.count)\r\n" }
        if chunked { head += "Transfer-Encoding: chunked\r\n" }
        return Array((head + "\r\n").utf8) + (body ?? [])
    }

    static func json(_ method: String, _ target: String, _ text: String) -> [UInt8] {
        request(method, target, headers: [("Content-Type", "application/json")], body: Array(text.utf8))
    }

    /// Both daemons still answer a normal request, and none of the hostile requests was a 500.
    func expectStillServing(_ env: StorageNodeFixture, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        // HTTP/1.1-only clients of their own: a pooled connection the idle timeout closed is no answer.
        let node = try await env.ks.client("user-alice", http1Only: true).call(.GET, env.baseURL + StorageNodeAPI.Path.health)
        #expect(node.status == .ok, "StorageNode health", sourceLocation: sourceLocation)
        let ks = try await env.ks.client("admin", http1Only: true).call(.GET, env.ks.baseURL + KeyServiceAPI.Path.users)
        #expect(ks.status == .ok, "KeyService users", sourceLocation: sourceLocation)
        #expect(env.node?.isRunning == true && env.ks.daemon.isRunning, sourceLocation: sourceLocation)
        #expect(!env.node!.log.contains("http.status=500"), "a 500 in the StorageNode log", sourceLocation: sourceLocation)
        #expect(!env.ks.daemon.log.contains("http.status=500"), "a 500 in the KeyService log", sourceLocation: sourceLocation)
    }

    @Test func oversizedHeadsGetA400AndTheConnectionIsClosed() async throws {
        try await withStorageNode { env in
            let heads: [(String, [UInt8])] = [
                // HTTP/1.1 decoder limits: 80 KiB per field and for all fields, 1000 fields.
                ("a 100 KB header", Self.request("GET", "/v1/health", headers: [("X-Big", String(repeating: "a", count: 100_000))])),
                ("2000 header fields", Self.request("GET", "/v1/health", headers: (0..<2000).map { ("X-Field-\($0)", "v") })),
                ("a 100 KB request target", Self.request("GET", "/v1/objects/" + String(repeating: "k", count: 100_000))),
            ]
            for (port, identity) in [(env.port, "user-alice"), (env.ks.port, "admin")] {
                // The harness's control: the same client gets a 200 for a normal head.
                let normal = try await Self.send(Self.request("GET", "/v1/health"), to: port, as: identity, env)
                #expect(normal.status == 200)
                for (label, bytes) in heads {
                    let response = try await Self.send(bytes, to: port, as: identity, env, waitForClose: 10)
                    #expect(response.status == 400, "\(label) on port \(port)")
                    #expect(response.headers["connection"] == "close", "\(label) on port \(port)")
                    #expect(response.closed, "\(label): the connection stayed open")
                }
            }
            try await expectStillServing(env)
        }
    }

    @Test func bodiesOverTheLimitsAre413AndBrokenFramingIs400AndNothingIsKept() async throws {
        try await withStorageNode(editNodeConfig: { $0 + "limits:\n  maxObjectSize: 1000\n" }) { env in
            let objects = StorageNodeAPI.Path.objects
            let declared = try await Self.send(
                Self.request("PUT", objects + "/declared", body: RandomBytes.bytes(1001)), to: env.port, as: "user-alice", env)
            #expect(declared.status == 413)
            #expect(declared.code == .payloadTooLarge)
            // Chunked, so the node learns the size only while the stream passes the limit.
            var chunks: [UInt8] = []
            for _ in 0..<3 { chunks += Array("258\r\n".utf8) + RandomBytes.bytes(600) + Array("\r\n".utf8) }
            chunks += Array("0\r\n\r\n".utf8)
            let streamed = try await Self.send(
                Self.request("PUT", objects + "/streamed", body: chunks, chunked: true), to: env.port, as: "user-alice", env)
            #expect(streamed.status == 413)
            #expect(streamed.code == .payloadTooLarge)
            // A chunk size that is not hex breaks the framing mid-body: the client's fault.
            let broken = Array("5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n".utf8)
            let framing = try await Self.send(
                Self.request("PUT", objects + "/broken", body: broken, chunked: true), to: env.port, as: "user-alice", env)
            #expect(framing.status == 400)
            #expect(framing.code == .badRequest)
            // At the limit exactly it is stored.
            let exact = RandomBytes.bytes(1000)
            let stored = try await Self.send(Self.request("PUT", objects + "/exact", body: exact), to: env.port, as: "user-alice", env)
            #expect(stored.status == 201)

            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.GET, env.objectURL("exact")).body == Data(exact))
            for key in ["declared", "streamed", "broken"] {
                #expect(try await alice.send(.GET, env.objectURL(key)).error?.error.code == .noSuchObject, "\(key)")
            }
            let fm = FileManager.default
            #expect(try fm.contentsOfDirectory(atPath: env.stateDirectory.appendingPathComponent("tmp").path).isEmpty)
            let blobs = env.stateDirectory.appendingPathComponent("blobs")
            let blobFiles = try fm.subpathsOfDirectory(atPath: blobs.path).filter {
                var isDirectory: ObjCBool = false
                return fm.fileExists(atPath: blobs.appendingPathComponent($0).path, isDirectory: &isDirectory) && !isDirectory.boolValue
            }
            #expect(blobFiles.count == 1)

            // The KeyService: 1 MiB for JSON bodies, 64 KiB for a lifecycle action's body.
            let users = KeyServiceAPI.Path.users
            let tooBig = #"{"id":"dave","homeRegion":"eu-west","pad":""# + String(repeating: "p", count: 1 << 20) + #""}"#
            let bigJSON = try await Self.send(Self.json("POST", users, tooBig), to: env.ks.port, as: "admin", env)
            #expect(bigJSON.status == 413)
            #expect(bigJSON.code == .payloadTooLarge)
            let action = KeyServiceAPI.Path.user("alice", .minVersion)
            let bigAction = try await Self.send(
                Self.json("POST", action, #"{"version":1}"# + String(repeating: " ", count: 70_000)), to: env.ks.port, as: "admin", env)
            #expect(bigAction.status == 413)
            #expect(bigAction.code == .payloadTooLarge)
            let brokenJSON = try await Self.send(
                Self.request("POST", users, headers: [("Content-Type", "application/json")], body: broken, chunked: true),
                to: env.ks.port, as: "admin", env)
            #expect(brokenJSON.status == 400)
            #expect(brokenJSON.code == .badRequest)
            try await expectStillServing(env)
        }
    }

    /// What docs/STORAGENODE.md documents: one range only; malformed is 400 `invalid_range`; a
    /// list, or a start at or past the end, is 416 `range_not_satisfiable` with `bytes */SIZE`.
    @Test func rangeHeadersGetTheDocumentedAnswers() async throws {
        try await withStorageNode { env in
            let alice = try env.ks.client("user-alice")
            let object = Array(0..<100).map { UInt8($0) }
            #expect(try await alice.send(.PUT, env.objectURL("ranged"), body: object).status == .created)
            let huge = "99999999999999999999"  // past Int64
            let cases: [(String, Int, String?, ClosedRange<Int>?)] = [
                ("bytes=10-19", 206, nil, 10...19),
                ("bytes=90-200", 206, nil, 90...99),
                ("bytes=-10", 206, nil, 90...99),
                ("bytes=0-\(huge)", 206, nil, 0...99),
                ("bytes=-\(huge)", 206, nil, 0...99),
                ("bytes=abc", 400, "invalid_range", nil),
                ("bytes=5-2", 400, "invalid_range", nil),
                ("bytes=-0", 400, "invalid_range", nil),
                ("bytes=-", 400, "invalid_range", nil),
                ("bytes=+1-2", 400, "invalid_range", nil),
                ("bytes=1-2-3", 400, "invalid_range", nil),
                ("items=0-5", 400, "invalid_range", nil),
                ("0-5", 400, "invalid_range", nil),
                ("bytes=0-10,5-20", 416, "range_not_satisfiable", nil),
                ("bytes=0-1,2-3", 416, "range_not_satisfiable", nil),
                ("bytes=100-", 416, "range_not_satisfiable", nil),
                ("bytes=\(huge)-", 416, "range_not_satisfiable", nil),
            ]
            for (range, status, code, served) in cases {
                let response = try await alice.send(.GET, env.objectURL("ranged"), headers: [("Range", range)])
                #expect(Int(response.status.code) == status, "\(range): \(String(decoding: response.body, as: UTF8.self))")
                #expect(response.error?.error.code.rawValue == code, "\(range)")
                if let served {
                    #expect(response.body == Data(object[served]), "\(range)")
                    #expect(
                        response.headers.first(name: "Content-Range") == "bytes \(served.lowerBound)-\(served.upperBound)/100", "\(range)")
                }
                if status == 416 { #expect(response.headers.first(name: "Content-Range") == "bytes */100", "\(range)") }
            }
            // HEAD applies the same rules, and its refusals carry no content: over HTTP/2 a body
            // would reach the client as DATA on a HEAD stream, which it must reject.
            for client in [alice, try env.ks.client("user-alice", http1Only: true)] {
                let badRange = try await client.send(.HEAD, env.objectURL("ranged"), headers: [("Range", "bytes=5-2")])
                #expect(badRange.status == .badRequest)
                #expect(badRange.body.isEmpty)
                let missing = try await client.send(.HEAD, env.objectURL("missing"))
                #expect(missing.status == .notFound)
                #expect(missing.body.isEmpty)
                let ranged = try await client.send(.HEAD, env.objectURL("ranged"), headers: [("Range", "bytes=10-19")])
                #expect(ranged.status == .partialContent)
                #expect(ranged.headers.first(name: "Content-Length") == "10")
            }
            try await expectStillServing(env)
        }
    }

    @Test func objectKeysThatLeaveTheKeySpaceAreRefusedAndTouchNoFile() async throws {
        try await withStorageNode { env in
            let fm = FileManager.default
            func files() throws -> Set<String> {
                Set(
                    try fm.subpathsOfDirectory(atPath: env.ks.dir.path).filter {
                        !$0.hasPrefix("state/") && !$0.hasPrefix("attack") && !$0.hasSuffix(".log")
                    })
            }
            let before = try files()
            let marker = "escaped-marker"
            let refused = [
                "../\(marker)", "a/../../\(marker)", "%2e%2e/\(marker)", "%2E%2E%2F\(marker)", "..%2f\(marker)",
                "..%2F..%2F..%2F\(marker)", "a%2f%2f\(marker)", "%2f\(marker)", "\(marker)%00.txt", "\(marker)%0d%0aX-Injected:%201",
                "\(marker)%ff", "%c0%ae%c0%ae/\(marker)", "%zz\(marker)", ".", "a/./\(marker)", "\(marker)/", "%2e",
                String(repeating: "k", count: 1025), String(repeating: "k", count: 10_000),
            ]
            let attempts = refused.flatMap { key in
                ["PUT", "GET", "DELETE"].map { method in (method, key) }
            }
            let responses = try await Self.send(
                attempts.map { method, key in
                    Self.request(method, "/v1/objects/" + key, body: method == "PUT" ? Array("escaped".utf8) : nil)
                },
                to: env.port, as: "user-alice", env)
            for ((method, key), response) in zip(attempts, responses) {
                #expect(response.status == 400, "\(method) \(key.prefix(60))")
                #expect(response.code == .invalidKey, "\(method) \(key.prefix(60)): \(response.body)")
            }
            // The collection itself is no key: an unknown route, not a key error.
            let empty = try await Self.send(Self.request("PUT", "/v1/objects/", body: [1]), to: env.port, as: "user-alice", env)
            #expect(empty.status == 404)
            #expect(empty.code == .notFound)

            // Controls: keys are decoded exactly once, and the longest key is accepted.
            let accepted = [
                "%252e%252e/\(marker)": "%2e%2e/\(marker)", String(repeating: "k", count: 1024): String(repeating: "k", count: 1024),
            ]
            for (raw, key) in accepted {
                let put = try await Self.send(
                    Self.request("PUT", "/v1/objects/" + raw, body: Array(key.utf8)), to: env.port, as: "user-alice", env)
                #expect(put.status == 201, "\(raw.prefix(60)): \(put.body)")
                let get = try await Self.send(Self.request("GET", "/v1/objects/" + raw), to: env.port, as: "user-alice", env)
                #expect(get.status == 200 && get.body == key, "\(raw.prefix(60))")
            }
            let listing = try await env.ks.client("user-alice").call(.GET, env.baseURL + StorageNodeAPI.Path.objects)
            #expect(Set(try listing.decode(StorageNodeAPI.ObjectList.self).objects.map(\.key)) == Set(accepted.values))

            // Nothing appeared next to the state directory or above it, and no file is named by a key.
            #expect(try files() == before)
            #expect(try fm.subpathsOfDirectory(atPath: env.ks.dir.path).allSatisfy { !$0.contains(marker) })
            #expect(!fm.fileExists(atPath: env.ks.dir.deletingLastPathComponent().appendingPathComponent(marker).path))
            let blobs = env.stateDirectory.appendingPathComponent("blobs")
            let blobFiles = try fm.subpathsOfDirectory(atPath: blobs.path).filter {
                var isDirectory: ObjCBool = false
                return fm.fileExists(atPath: blobs.appendingPathComponent($0).path, isDirectory: &isDirectory) && !isDirectory.boolValue
            }
            #expect(blobFiles.count == accepted.count)
            try await expectStillServing(env)
        }
    }

    @Test func malformedJSONGetsA400WithItsCodeAndChangesNothing() async throws {
        try await withStorageNode { env in
            let generated = try await env.ks.client("node-eu-west").call(
                .POST, env.ks.baseURL + KeyServiceAPI.Path.generate, json: KeyServiceAPI.GenerateRequest(user: "alice", context: "c"))
            let wrapped = try generated.decode(KeyServiceAPI.GenerateResponse.self).wrapped
            let users = KeyServiceAPI.Path.users
            let unwrap = KeyServiceAPI.Path.unwrap
            let cases: [(String, String, String, String)] = [
                // (identity, path, body, code)
                ("admin", users, "", "invalid_json"),
                ("admin", users, "{", "invalid_json"),
                ("admin", users, "null", "invalid_json"),
                ("admin", users, "[]", "invalid_json"),
                ("admin", users, #"{"id":"dave"}"#, "invalid_json"),
                ("admin", users, #"{"id":5,"homeRegion":"eu-west"}"#, "invalid_json"),
                ("admin", users, #"{"id":["dave"],"homeRegion":"eu-west"}"#, "invalid_json"),
                ("admin", users, #"{"id":"dave","homeRegion":"eu-west"} trailing"#, "invalid_json"),
                ("admin", users, String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), "invalid_json"),
                ("admin", users, #"{"id":"../x","homeRegion":"eu-west"}"#, "invalid_user_id"),
                ("admin", users, #"{"id":"a\u0000b","homeRegion":"eu-west"}"#, "invalid_user_id"),
                ("admin", users, #"{"id":"dave","homeRegion":"EU WEST"}"#, "invalid_region"),
                ("node-eu-west", unwrap, "{}", "invalid_json"),
                ("node-eu-west", unwrap, #"{"user":"alice","wrapped":12345,"context":"c","reason":"scrub"}"#, "invalid_json"),
                ("node-eu-west", unwrap, #"{"user":1e999,"wrapped":"\#(wrapped)","context":"c","reason":"scrub"}"#, "invalid_json"),
                ("node-eu-west", unwrap, #"{"user":"alice","wrapped":"\#(wrapped)","context":1e30,"reason":"scrub"}"#, "invalid_json"),
                ("node-eu-west", unwrap, #"{"user":"alice","wrapped":"\#(wrapped)","context":"c","reason":"because"}"#, "invalid_json"),
                ("node-eu-west", unwrap, #"{"user":"alice","wrapped":"\#(wrapped)","context":"c"}"#, "invalid_json"),
                ("node-eu-west", unwrap, #"{"user":"alice","wrapped":"!!!","context":"c","reason":"scrub"}"#, "invalid_wrapped_key"),
                ("node-eu-west", unwrap, #"{"user":"alice","wrapped":"\#(wrapped)","context":"","reason":"scrub"}"#, "invalid_context"),
                (
                    "node-eu-west", unwrap, #"{"user":"bob","wrapped":"\#(wrapped)","context":"c","reason":"scrub"}"#,
                    "wrapped_key_user_mismatch"
                ),
                (
                    "node-eu-west", KeyServiceAPI.Path.generate, #"{"user":"alice","context":"\#(String(repeating: "c", count: 1025))"}"#,
                    "invalid_context"
                ),
                ("admin", KeyServiceAPI.Path.user("alice", .minVersion), #"{"version":99999999999}"#, "invalid_json"),
                ("admin", KeyServiceAPI.Path.user("alice", .minVersion), #"{"version":-1}"#, "invalid_json"),
            ]
            for identity in ["admin", "node-eu-west"] {
                let mine = cases.filter { $0.0 == identity }
                let responses = try await Self.send(mine.map { Self.json("POST", $0.1, $0.2) }, to: env.ks.port, as: identity, env)
                for ((_, path, body, code), response) in zip(mine, responses) {
                    #expect(response.status == 400, "\(path) \(body.prefix(80)): \(response.body)")
                    #expect(response.code?.rawValue == code, "\(path) \(body.prefix(80)): \(response.body)")
                }
            }
            // Bytes that are not UTF-8 inside a JSON string.
            let invalidUTF8 = Array(#"{"user":"alice","context":""#.utf8) + [0xff, 0xfe] + Array(#""}"#.utf8)
            let generate = Self.request(
                "POST", KeyServiceAPI.Path.generate, headers: [("Content-Type", "application/json")], body: invalidUTF8)
            #expect(try await Self.send(generate, to: env.ks.port, as: "node-eu-west", env).code == .invalidJson)

            // The control through the same client: a well-formed unwrap succeeds.
            let good = try await Self.send(
                Self.json("POST", unwrap, #"{"user":"alice","wrapped":"\#(wrapped)","context":"c","reason":"scrub"}"#),
                to: env.ks.port, as: "node-eu-west", env)
            #expect(good.status == 200)
            let list = try await env.ks.client("admin").call(.GET, env.ks.baseURL + users)
            #expect(try list.decode(KeyServiceAPI.UserList.self).users.map(\.id) == ["alice", "bob", "carol"])
            let alice = try await env.ks.client("admin").call(.GET, env.ks.baseURL + users + "/alice")
            #expect(try alice.decode(KeyServiceAPI.User.self).minKEKVersion == 1)
            try await expectStillServing(env)
        }
    }

    /// Slowloris: connections that trickle a request head, or never finish the TLS handshake, hold
    /// no one up and are closed by the idle timeout (5 s here) long before they could finish.
    @Test func slowClientsDoNotBlockOthersAndAreClosedByTheIdleTimeout() async throws {
        try await withStorageNode(
            editKeyServiceConfig: { $0.replacingOccurrences(of: "idleTimeout: 60", with: "idleTimeout: 5") },
            editNodeConfig: { $0 + "idleTimeout: 5\n" }
        ) { env in
            #expect(try String(contentsOfFile: env.ks.path("keyservice.yaml"), encoding: .utf8).contains("idleTimeout: 5"))
            let dir = try Self.workDirectory(env)
            // Each slow connection would need over 250 s to send its head; the cap ends the test either way.
            let cap = "40"
            var attackers: [(String, ChildProcess)] = []
            for (port, identity, daemon) in [(env.port, "user-bob", "StorageNode"), (env.ks.port, "auditor", "KeyService")] {
                for mode in ["slow", "silent"] {
                    let process = try ChildProcess(
                        executable: try tool("python3"),
                        arguments: try Self.arguments(env, port: port, identity: identity) + [mode, "6", cap],
                        logURL: dir.appendingPathComponent("\(mode)-\(port).log"))
                    attackers.append(("\(mode) to the \(daemon)", process))
                }
            }
            for (_, process) in attackers { try await process.waitForLog("READY") }

            // Meanwhile other clients are served, on new connections.
            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.PUT, env.objectURL("during"), body: [1, 2, 3]).status == .created)
            #expect(try await alice.send(.GET, env.objectURL("during")).body == Data([1, 2, 3]))
            #expect(try await env.ks.client("auditor").call(.GET, env.ks.baseURL + KeyServiceAPI.Path.users).status == .ok)
            let servedAt = Date().timeIntervalSince1970

            for (label, process) in attackers {
                #expect(await process.waitForExit(timeout: .seconds(90)) == 0, "\(label): \(process.log)")
                guard let line = process.log.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }),
                    let fields = try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any],
                    let connections = fields["connections"] as? [[String: Any]]
                else {
                    Issue.record("\(label): no result: \(process.log)")
                    continue
                }
                #expect(connections.count == 6)
                for connection in connections {
                    #expect(connection["outcome"] as? String == "closed", "\(label): \(connection)")
                    // Open while the normal requests ran, then closed by the server, not by finishing.
                    #expect((connection["closedAt"] as? Double ?? 0) > servedAt, "\(label): \(connection)")
                    if let length = fields["headLength"] as? Int { #expect((connection["sent"] as? Int ?? 0) < length, "\(label)") }
                }
            }
            try await expectStillServing(env)
        }
    }
}
