import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing
import X509

@testable import KeyService

/// SIGHUP swaps certificates and policy without closing the listener; bad configurations and
/// secrets stop the start with a message naming the cause.
@Suite(.serialized)
struct ReloadAndStartupTests {
    typealias API = KeyServiceAPI

    func servedSerial(_ ks: KeyServiceFixture) async throws -> String {
        let result = try await ChildProcess.run(
            try IndependentClientTests.tool("openssl"),
            [
                "s_client", "-connect", "127.0.0.1:\(ks.port)", "-CAfile", ks.path("ca.pem"),
                "-cert", ks.path("admin.pem"), "-key", ks.path("admin-key.pem"), "-showcerts",
            ],
            in: ks.dir
        )
        guard let begin = result.output.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = result.output.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<result.output.endIndex)
        else { throw TestFailure("no certificate from s_client: \(result.output)") }
        let pem = String(result.output[begin.lowerBound..<end.upperBound])
        return Array(try Certificate(pemEncoded: pem).serialNumber.bytes).hexString
    }

    @Test func sighupSwapsServerCertificateAndPolicyWithoutDroppingTheListener() async throws {
        try await withKeyService { ks in
            let before = try await servedSerial(ks)
            let admin = try ks.client("admin", http1Only: true)
            #expect(try await admin.call(.GET, ks.baseURL + API.Path.users).status == .ok)

            // A new server certificate from the same CA, and a policy that drops the admin grant.
            let caPEM = try String(contentsOfFile: ks.path("ca.pem"), encoding: .utf8)
            let caKeyPEM = try String(contentsOfFile: ks.path("ca-key.pem"), encoding: .utf8)
            let ca = CertificateFactory.Issued(
                certificate: try Certificate(pemEncoded: caPEM),
                key: try .init(pemRepresentation: caKeyPEM)
            )
            let fresh = try CertificateFactory(validity: 86_400).issue(
                by: ca,
                commonName: "keyservice-rotated",
                spiffeID: "spiffe://splitkey.local/keyservice",
                purpose: .serverAndClient,
                dnsNames: ["localhost"],
                ipAddresses: [[127, 0, 0, 1]]
            )
            try fresh.certificatePEM.write(toFile: ks.path("keyservice.pem"), atomically: true, encoding: .utf8)
            try SecretFile.write(Array(fresh.keyPEM.utf8), to: ks.path("keyservice-key.pem"), overwrite: true)
            let configPath = ks.path("keyservice.yaml")
            let config = try String(contentsOfFile: configPath, encoding: .utf8)
            try config.replacingOccurrences(of: "    - \"admin spiffe://splitkey.local/admin/*\"\n", with: "")
                .write(toFile: configPath, atomically: true, encoding: .utf8)

            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("reload complete")
            let after = try await servedSerial(ks)
            #expect(after != before)
            #expect(after == Array(fresh.certificate.serialNumber.bytes).hexString)
            // The pooled connection made before the reload still works (listener not dropped),
            // and the new policy applies to it at once.
            let refused = try await admin.call(.GET, ks.baseURL + API.Path.users)
            #expect(refused.status == .forbidden)
            #expect(ks.daemon.isRunning)
        }
    }

    @Test func brokenReloadKeepsTheOldState() async throws {
        try await withKeyService { ks in
            let configPath = ks.path("keyservice.yaml")
            let config = try String(contentsOfFile: configPath, encoding: .utf8)
            try (config + "\nbogusSetting: 1\n").write(toFile: configPath, atomically: true, encoding: .utf8)
            ks.daemon.signal(SIGHUP)
            try await ks.daemon.waitForLog("reload failed")
            #expect(ks.daemon.log.contains("bogusSetting"))
            #expect(try await ks.client("admin").call(.GET, ks.baseURL + API.Path.users).status == .ok)
        }
    }

    /// Starts `keyservice serve` on an edited copy of a fresh dev config and expects it to refuse.
    func expectStartRefused(
        _ edit: (URL) throws -> Void,
        environment: [String: String] = [:],
        mentions: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let dir = try TestPaths.temporaryDirectory("start")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pki = try await ChildProcess.run(try TestPaths.binary("keyservice"), ["pki", "init", "--dir", dir.path], in: dir)
        #expect(pki.status == 0)
        try edit(dir)
        var env = environment
        env["SPLITKEY_LISTEN_PORT"] = String(try freeLoopbackPort())
        let result = try await ChildProcess.run(
            try TestPaths.binary("keyservice"),
            ["serve", "--config", dir.appendingPathComponent("keyservice.yaml").path],
            environment: env,
            in: dir
        )
        #expect(result.status == 78, "\(result.output)", sourceLocation: sourceLocation)
        #expect(result.output.contains(mentions), "\(result.output)", sourceLocation: sourceLocation)
    }

    func editConfig(_ dir: URL, _ change: (String) -> String) throws {
        let path = dir.appendingPathComponent("keyservice.yaml").path
        try change(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func invalidConfigurationsNameTheKey() async throws {
        try await expectStartRefused(
            { try editConfig($0) { $0.replacingOccurrences(of: "  certificate: keyservice.pem\n", with: "") } },
            mentions: "'tls.certificate' is required")
        try await expectStartRefused(
            { try editConfig($0) { $0.replacingOccurrences(of: "cacheTTL: 300", with: "cacheTTL: soon") } }, mentions: "'cacheTTL'")
        try await expectStartRefused({ try editConfig($0) { $0 + "\ncachTTL: 5\n" } }, mentions: "'cachTTL'")
        try await expectStartRefused({ _ in }, environment: ["SPLITKEY_CACHE_TTL": "-1"], mentions: "'cacheTTL'")
        try await expectStartRefused(
            { try editConfig($0) { $0.replacingOccurrences(of: "\"admin spiffe", with: "\"root spiffe") } }, mentions: "unknown role 'root'"
        )
        try await expectStartRefused(
            { try editConfig($0) { $0.replacingOccurrences(of: "certificate: keyservice.pem", with: "certificate: nowhere.pem") } },
            mentions: "nowhere.pem")
    }

    @Test func unsafeRootKeysStopTheStart() async throws {
        try await expectStartRefused(
            { chmod($0.appendingPathComponent("root-key").path, 0o640) }, mentions: "must not be readable by group or others")
        try await expectStartRefused(
            { dir in
                let path = dir.appendingPathComponent("root-key").path
                try FileManager.default.removeItem(atPath: path)
                try SecretFile.write(Array("abcd\n".utf8), to: path)
            },
            mentions: "a short or damaged key"
        )
        try await expectStartRefused(
            { try FileManager.default.removeItem(at: $0.appendingPathComponent("root-key")) }, mentions: "root-key does not exist")
        try await expectStartRefused({ chmod($0.appendingPathComponent("keyservice-key.pem").path, 0o644) }, mentions: "keyservice-key.pem")
    }

    @Test func rootKeyFromCredentialsDirectoryWins() async throws {
        // A credentials directory with a different key than the configured file: the KeyService
        // uses the credential, so the key check made with it at first start later refuses the file.
        let creds = try TestPaths.temporaryDirectory("creds")
        defer { try? FileManager.default.removeItem(at: creds) }
        try RootKey.create(at: creds.appendingPathComponent("root-key").path)
        try await withKeyService { ks in
            _ = await ks.stop()
            let port = String(ks.port)
            let withCreds = try ChildProcess(
                executable: try TestPaths.binary("keyservice"),
                arguments: ["serve", "--config", ks.path("keyservice.yaml")],
                environment: ["SPLITKEY_LISTEN_PORT": port, "CREDENTIALS_DIRECTORY": creds.path],
                logURL: ks.dir.appendingPathComponent("creds.log")
            )
            // The state dir was made with the file key, so the credential key must be refused...
            #expect(await withCreds.waitForExit() == 78)
            #expect(withCreds.log.contains("\(creds.path)/root-key") || withCreds.log.contains("wrong root key"))
        }
    }
}

@Test func initRootKeyWritesAPrivateKeyAndRefusesToOverwrite() async throws {
    let dir = try TestPaths.temporaryDirectory("rootkey")
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("root-key").path
    let first = try await ChildProcess.run(try TestPaths.binary("keyservice"), ["init-root-key", "--out", path], in: dir)
    #expect(first.status == 0)
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    let key = try RootKey.load(credentialsDirectory: nil, configuredFile: path)
    #expect(key.key.bitCount == 256)
    #expect(!first.output.contains(key.key.rawBytes.hexString))
    let second = try await ChildProcess.run(try TestPaths.binary("keyservice"), ["init-root-key", "--out", path], in: dir)
    #expect(second.status != 0)
    #expect(second.output.contains("already exists"))
    #expect(try RootKey.load(credentialsDirectory: nil, configuredFile: path).key.rawBytes == key.key.rawBytes)
}

@Test func rootKeyNeverAppearsInTheLog() async throws {
    try await withKeyService { ks in
        try await ks.createUser("alice", region: "eu-west")
        _ = try await ks.client("node-eu-west").call(
            .POST,
            ks.baseURL + KeyServiceAPI.Path.generate,
            json: KeyServiceAPI.GenerateRequest(user: "alice", context: "c")
        )
        let rootKey = try RootKey.load(credentialsDirectory: nil, configuredFile: ks.path("root-key"))
        #expect("\(rootKey)".contains("redacted"))
        _ = await ks.stop()
        let log = ks.daemon.log
        #expect(log.contains("root key loaded"))
        #expect(!log.contains(rootKey.key.rawBytes.hexString))
        #expect(!log.contains(Data(rootKey.key.rawBytes).base64EncodedString()))
    }
}
