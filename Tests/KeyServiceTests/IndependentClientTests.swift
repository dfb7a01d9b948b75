import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// Clients that share no code with SplitKey: curl, openssl s_client and Python's ssl module.
@Suite(.serialized)
struct IndependentClientTests {
    typealias API = KeyServiceAPI

    static func tool(_ name: String) throws -> URL {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for dir in path + ["/usr/bin", "/usr/local/bin", "/bin"] {
            let url = URL(fileURLWithPath: dir).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw TestFailure("\(name) is not installed; .ci/run installs it")
    }

    func curl(_ ks: KeyServiceFixture, _ args: [String]) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(try Self.tool("curl"), ["--silent", "--show-error", "--cacert", ks.path("ca.pem")] + args, in: ks.dir)
    }

    @Test func curlWithAdminCertificateListsUsers() async throws {
        try await withKeyService { ks in
            try await DataKeyRoundTripTests.createUser(ks, "alice", region: "eu-west")
            try await DataKeyRoundTripTests.createUser(ks, "bob", region: "us-east")
            for version in ["--http1.1", "--http2"] {
                let result = try await curl(
                    ks, [version, "--cert", ks.path("admin.pem"), "--key", ks.path("admin-key.pem"), ks.baseURL + API.Path.users])
                #expect(result.status == 0, "\(result.output)")
                let list = try JSONDecoder().decode(API.UserList.self, from: Data(result.output.utf8))
                #expect(list.users.map(\.id) == ["alice", "bob"])
                #expect(list.users.map(\.homeRegion) == ["eu-west", "us-east"])
            }
            // Pagination.
            let page = try await curl(
                ks, ["--cert", ks.path("admin.pem"), "--key", ks.path("admin-key.pem"), ks.baseURL + API.Path.users + "?limit=1"])
            let first = try JSONDecoder().decode(API.UserList.self, from: Data(page.output.utf8))
            #expect(first.users.map(\.id) == ["alice"])
            #expect(first.next == "alice")
            // curl creates a user too, and gets the error shape for a duplicate.
            let create = try await curl(
                ks,
                [
                    "--cert", ks.path("admin.pem"), "--key", ks.path("admin-key.pem"),
                    "-H", "Content-Type: application/json", "--data", #"{"id":"alice","homeRegion":"eu-west"}"#,
                    ks.baseURL + API.Path.users,
                ])
            let error = try JSONDecoder().decode(ErrorBody.self, from: Data(create.output.utf8))
            #expect(error.error.code == .userExists)
        }
    }

    @Test func curlWithoutCertificateIsRefusedInTheHandshake() async throws {
        try await withKeyService { ks in
            let result = try await curl(ks, [ks.baseURL + API.Path.health])
            #expect(result.status != 0)
            let health = try await curl(
                ks, ["--cert", ks.path("user-alice.pem"), "--key", ks.path("user-alice-key.pem"), ks.baseURL + API.Path.health])
            #expect(health.status == 0)
            #expect(try JSONDecoder().decode(API.Health.self, from: Data(health.output.utf8)).status == .active)
        }
    }

    @Test func onlyTLS13IsSpoken() async throws {
        try await withKeyService { ks in
            let openssl = try Self.tool("openssl")
            let common = [
                "s_client", "-connect", "127.0.0.1:\(ks.port)", "-CAfile", ks.path("ca.pem"),
                "-cert", ks.path("admin.pem"), "-key", ks.path("admin-key.pem"),
            ]
            let tls12 = try await ChildProcess.run(openssl, common + ["-tls1_2"], in: ks.dir)
            #expect(tls12.status != 0)
            let tls13 = try await ChildProcess.run(openssl, common + ["-tls1_3"], in: ks.dir)
            #expect(tls13.output.contains("TLSv1.3"))
            #expect(tls13.output.contains("Verify return code: 0 (ok)"))
        }
    }

    @Test func pythonSSLClientUnwrapsWithNodeCertificate() async throws {
        try await withKeyService { ks in
            try await DataKeyRoundTripTests.createUser(ks, "alice", region: "eu-west")
            let result = try await ChildProcess.run(
                try Self.tool("python3"),
                [
                    try TestPaths.script("python-unwrap-client").path, ks.path("ca.pem"), ks.path("node-eu-west.pem"),
                    ks.path("node-eu-west-key.pem"), String(ks.port),
                ],
                in: ks.dir
            )
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("python-ok"))
        }
    }
}
