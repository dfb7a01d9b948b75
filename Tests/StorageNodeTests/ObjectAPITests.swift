import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// The object API through curl, the `storagenode` CLI and AsyncHTTPClient, against real
/// KeyService and StorageNode processes.
@Suite(.serialized)
struct ObjectAPITests {
    static let segment = 64 * 1024

    func curl(_ env: StorageNodeFixture, user: String = "alice", _ args: [String]) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(
            try tool("curl"),
            [
                "--silent", "--show-error", "--cacert", env.ks.path("ca.pem"), "--cert", env.ks.path("user-\(user).pem"),
                "--key", env.ks.path("user-\(user)-key.pem"),
            ] + args,
            in: env.ks.dir
        )
    }

    func cli(_ env: StorageNodeFixture, user: String = "alice", _ command: String, _ args: [String]) async throws -> (
        status: Int32, output: String
    ) {
        try await ChildProcess.run(
            try TestPaths.binary("storagenode"),
            [
                command, "--url", env.baseURL, "--cert", env.ks.path("user-\(user).pem"), "--key", env.ks.path("user-\(user)-key.pem"),
                "--ca", env.ks.path("ca.pem"),
            ] + args,
            in: env.ks.dir
        )
    }

    @Test(arguments: RegionBackend.allCases) func curlAndCLIPutGetRangeListDelete(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend) { env in
            let plaintext = RandomBytes.bytes(3 * Self.segment + 1234)
            let file = env.ks.dir.appendingPathComponent("in.bin")
            try Data(plaintext).write(to: file)

            // curl PUT with Content-Length, CLI GET.
            let put = try await curl(env, ["-T", file.path, "-w", "\n%{http_code}", env.objectURL("docs/report.bin")])
            #expect(put.output.hasSuffix("201"), "\(put.output)")
            let out = env.ks.dir.appendingPathComponent("out.bin")
            let get = try await cli(env, "get", ["docs/report.bin", "-o", out.path])
            #expect(get.status == 0, "\(get.output)")
            #expect(try Data(contentsOf: out) == Data(plaintext))

            // CLI PUT from stdin-less file, curl GET whole.
            let put2 = try await cli(env, "put", ["docs/копия.bin", file.path])
            #expect(put2.status == 0, "\(put2.output)")
            let whole = try await curl(
                env, ["-o", out.path, "-w", "%{http_code}", env.objectURL("docs/%D0%BA%D0%BE%D0%BF%D0%B8%D1%8F.bin")])
            #expect(whole.output == "200")
            #expect(try Data(contentsOf: out) == Data(plaintext))

            // Ranges across segment boundaries, with curl and the CLI.
            let s = Self.segment
            for (lo, hi) in [(0, 0), (s - 10, s + 10), (s - 1, s), (2 * s - 5, 3 * s + 5), (3 * s, 3 * s + 1233), (100, 3 * s + 1233)] {
                let r = try await curl(env, ["-o", out.path, "-w", "%{http_code}", "-r", "\(lo)-\(hi)", env.objectURL("docs/report.bin")])
                #expect(r.output == "206")
                #expect(try Data(contentsOf: out) == Data(plaintext[lo...hi]), "range \(lo)-\(hi)")
            }
            let suffix = try await cli(env, "get", ["docs/report.bin", "--range=-100", "-o", out.path])
            #expect(suffix.status == 0)
            #expect(try Data(contentsOf: out) == Data(plaintext.suffix(100)))
            let beyond = try await curl(
                env, ["-o", "/dev/null", "-w", "%{http_code}", "-r", "\(plaintext.count)-", env.objectURL("docs/report.bin")])
            #expect(beyond.output == "416")

            // HEAD and LIST.
            let head = try await cli(env, "head", ["docs/report.bin"])
            #expect(head.output.contains("Content-Length: \(plaintext.count)"))
            for name in ["a/1", "a/2", "a/3", "b/1"] {
                #expect(try await curl(env, ["-T", "-", "-w", "%{http_code}", "-o", "/dev/null", env.objectURL(name)]).output == "201")
            }
            let page = try await curl(env, [env.baseURL + "/v1/objects?prefix=a/&limit=2"])
            let list = try JSONDecoder().decode(StorageNodeAPI.ObjectList.self, from: Data(page.output.utf8))
            #expect(list.objects.map(\.key) == ["a/1", "a/2"])
            #expect(list.nextStartAfter == "a/2")
            let ls = try await cli(env, "ls", ["a/"])
            let listed: [String] = ls.output.split(separator: "\n").compactMap { line in line.split(separator: "\t").last.map(String.init) }
            #expect(listed == ["a/1", "a/2", "a/3"])

            // DELETE, then 404.
            #expect(try await cli(env, "rm", ["a/2"]).status == 0)
            #expect(try await curl(env, ["-X", "DELETE", "-o", "/dev/null", "-w", "%{http_code}", env.objectURL("a/1")]).output == "204")
            #expect(try await curl(env, ["-o", "/dev/null", "-w", "%{http_code}", env.objectURL("a/1")]).output == "404")
            let missing = try await cli(env, "get", ["a/2"])
            #expect(missing.status != 0)
            #expect(missing.output.contains("no_such_object"))
        }
    }

    @Test(arguments: RegionBackend.allCases) func chunkedUploadsAndEmptyObjects(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend) { env in
            // curl -T - sends chunked transfer encoding (no Content-Length).
            let text = String(repeating: "chunked body line\n", count: 10_000)
            let file = env.ks.dir.appendingPathComponent("chunked.txt")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let put = try await curl(
                env, ["-H", "Transfer-Encoding: chunked", "-T", file.path, "-w", "%{http_code}", "-o", "/dev/null", env.objectURL("c")])
            #expect(put.output == "201")
            #expect(try await curl(env, [env.objectURL("c")]).output == text)
            #expect(
                try await curl(env, ["-T", "/dev/null", "-w", "%{http_code}", "-o", "/dev/null", env.objectURL("empty")]).output == "201")
            let empty = try await curl(env, ["-w", "%{http_code}", env.objectURL("empty")])
            #expect(empty.output == "200")
            // Overwrite replaces, and the old blob is gone from the store.
            #expect(
                try await curl(env, ["-T", file.path, "-w", "%{http_code}", "-o", "/dev/null", env.objectURL("empty")]).output == "200")
            #expect(try await curl(env, [env.objectURL("empty")]).output == text)
            let blobs = try await env.storage.blobNames()
            #expect(blobs.count == 2, "\(blobs)")
        }
    }

    @Test(arguments: RegionBackend.allCases) func badKeysAndOversizedBodiesAreRefused(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend, editNodeConfig: { $0 + "limits:\n  maxObjectSize: 100000\n" }) { env in
            let client = try env.ks.client("user-alice")
            for bad in ["a/../b", "a//b", "./a", "a/%00b", "a%0Ab", "a/.."] {
                let response = try await client.send(.PUT, env.objectURL(bad), body: [1, 2, 3])
                #expect(response.status == .badRequest, "\(bad)")
                #expect(response.error?.error.code == .invalidKey, "\(bad)")
            }
            let long = String(repeating: "k", count: 1025)
            #expect(try await client.send(.PUT, env.objectURL(long), body: [1]).status == .badRequest)

            // Declared too large: refused before the body is read.
            let big = RandomBytes.bytes(100_001)
            let declared = try await client.send(.PUT, env.objectURL("big"), body: big)
            #expect(declared.status == .payloadTooLarge)
            #expect(declared.error?.error.code == .payloadTooLarge)
            // Chunked and too large: refused once the stream passes the limit.
            let file = env.ks.dir.appendingPathComponent("big.bin")
            try Data(big).write(to: file)
            let chunked = try await curl(
                env, ["-H", "Transfer-Encoding: chunked", "-T", file.path, "-w", "%{http_code}", "-o", "/dev/null", env.objectURL("big")])
            #expect(chunked.output == "413")
            #expect(try await client.send(.GET, env.objectURL("big")).status == .notFound)
            // Nothing of the refused bodies is left: no blob, and on the folder store no temporary file.
            #expect(try await env.storage.blobNames().isEmpty)
            if backend == .embedded {
                let tmp = try FileManager.default.contentsOfDirectory(atPath: env.stateDirectory.appendingPathComponent("tmp").path)
                #expect(tmp.isEmpty)
            }
            let exact = try await client.send(.PUT, env.objectURL("max"), body: Array(big.prefix(100_000)))
            #expect(exact.status == .created)
        }
    }

    @Test(arguments: RegionBackend.allCases) func usersSeeOnlyTheirOwnObjectsAndOtherRegionsAreRefused(_ backend: RegionBackend)
        async throws
    {
        try await withStorageNode(backend: backend) { env in
            let alice = try env.ks.client("user-alice")
            let bob = try env.ks.client("user-bob")
            #expect(try await alice.send(.PUT, env.objectURL("secret"), body: Array("alice's".utf8)).status == .created)
            #expect(try await bob.send(.GET, env.objectURL("secret")).status == .notFound)
            #expect(try await bob.send(.PUT, env.objectURL("secret"), body: Array("bob's".utf8)).status == .created)
            #expect(try await alice.send(.GET, env.objectURL("secret")).body == Data("alice's".utf8))
            #expect(try await bob.send(.GET, env.objectURL("secret")).body == Data("bob's".utf8))
            // carol is homed in us-east: the KeyService gives this eu-west node no key for her.
            let carol = try await env.ks.client("user-carol").send(.PUT, env.objectURL("x"), body: [1])
            #expect(carol.status == .forbidden)
            #expect(carol.error?.error.code == .keyRefused)
            // A node certificate is not a user.
            let node = try await env.ks.client("node-eu-west").send(.GET, env.baseURL + StorageNodeAPI.Path.objects)
            #expect(node.status == .forbidden)
            #expect(node.error?.error.code == .notAUser)
        }
    }
}

func tool(_ name: String) throws -> URL {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    for dir in path + ["/usr/bin", "/bin"] {
        let url = URL(fileURLWithPath: dir).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    throw TestFailure("\(name) is not installed")
}

/// A user's data key is replaced after the configured number of objects; older objects keep
/// opening under the keys they were sealed with.
@Test func dataKeysAreReplacedAfterTheirObjectCount() async throws {
    try await withStorageNode(editNodeConfig: { $0 + "dataKeys:\n  maxObjects: 2\n" }) { env in
        let alice = try env.ks.client("user-alice")
        var bodies: [[UInt8]] = []
        for i in 0..<5 {
            let body = RandomBytes.bytes(100 + i)
            bodies.append(body)
            #expect(try await alice.send(.PUT, env.objectURL("k\(i)"), body: body).status == .created)
        }
        let generates = env.ks.daemon.log.components(separatedBy: "SPLITKEY_OP=generate ").count - 1
        #expect(generates == 3, "5 objects at 2 per data key need 3 data keys")
        try await env.restartNode()
        for (i, body) in bodies.enumerated() {
            #expect(try await alice.send(.GET, env.objectURL("k\(i)")).body == Data(body))
        }
    }
}
