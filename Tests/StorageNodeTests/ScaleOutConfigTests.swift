import Foundation
import Shared
import SplitKeyPostgres
import Testing

@testable import StorageNode

/// The `blobs.s3.*` and `metadata.*` keys: read as written, defaults as documented, and every
/// wrong value a start-up error that names the key to fix.
struct ScaleOutConfigTests {
    static let base = BlobsConfigTests.base

    /// Loads the base config plus `extra` in a folder of its own that holds a valid credentials
    /// file `creds` (mode 0600), with `environment` instead of the process's.
    func load(_ extra: String, environment: [String: String] = [:]) async throws(ConfigurationError) -> StorageNodeConfig {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-scale-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let creds = dir.appendingPathComponent("creds").path
        _ = FileManager.default.createFile(
            atPath: creds, contents: Data("AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG\n".utf8), attributes: [.posixPermissions: 0o600])
        let path = dir.appendingPathComponent("storagenode.yaml").path
        try? (Self.base + extra.replacingOccurrences(of: "CREDS", with: creds)).write(toFile: path, atomically: true, encoding: .utf8)
        return try await StorageNodeConfig.load(path: path, environment: environment)
    }

    static let s3 = """
        blobs:
          backend: s3
          s3:
            endpoint: https://s3.region.example:9000
            bucket: region-blobs
            credentialsFile: CREDS

        """

    @Test func theS3KeysAreReadWithTheirDefaults() async throws {
        let config = try await load(Self.s3)
        #expect(config.blobBackend == .s3)
        let s3 = try #require(config.blobS3)
        #expect(s3.settings.endpoint.absoluteString == "https://s3.region.example:9000")
        #expect(s3.settings.bucket == "region-blobs")
        #expect(s3.settings.region == "us-east-1")
        #expect(s3.settings.addressing == .path)
        #expect(s3.settings.credentials.accessKeyID == "AKIDEXAMPLE")
        #expect(s3.prefix == "blobs/")
        #expect(s3.partSize == 8 << 20)
        #expect(s3.settings.retry == S3RetryPolicy(maximumRetries: 4, totalTime: .seconds(10)))
    }

    @Test func everyS3KeyIsRead() async throws {
        let config = try await load(
            Self.s3 + "    region: eu-central-1\n    addressing: virtual-host\n    prefix: node-blobs/\n    partSize: 16777216\n")
        let s3 = try #require(config.blobS3)
        #expect(s3.settings.region == "eu-central-1")
        #expect(s3.settings.addressing == .virtualHost)
        #expect(s3.prefix == "node-blobs/")
        #expect(s3.partSize == 16 << 20)
    }

    @Test func theRetryBudgetIsASetting() async throws {
        let config = try await load(Self.s3 + "    timeout: 45\n    retries: 0\n")
        let s3 = try #require(config.blobS3)
        #expect(s3.settings.retry.totalTime == .seconds(45))
        #expect(s3.settings.retry.maximumRetries == 0)
    }

    /// 10000 parts of `partSize` must hold the largest object, or the node does not start.
    @Test func partsThatCannotHoldTheLargestObjectAreRefusedAtStart() async throws {
        let tooBig = "limits:\n  maxObjectSize: \(10_000 * (5 << 20))\n"
        do {
            _ = try await load(Self.s3 + "    partSize: \(5 << 20)\n" + tooBig)
            Issue.record("a part size too small for limits.maxObjectSize was accepted")
        } catch {
            #expect(error.description.contains("blobs.s3.partSize"), "\(error)")
            #expect(error.description.contains("limits.maxObjectSize"), "\(error)")
        }
        // One part more per object fits; the folder store has no such bound.
        _ = try await load(Self.s3 + "    partSize: \(6 << 20)\n" + tooBig)
        _ = try await load(tooBig)
    }

    @Test(arguments: [
        ("    addressing: dns\n", "blobs.s3.addressing"),
        ("    prefix: /abs\n", "blobs.s3.prefix"),
        ("    partSize: 1024\n", "blobs.s3.partSize"),
        ("    timeout: 0\n", "blobs.s3.timeout"),
        ("    retries: -1\n", "blobs.s3.retries"),
        ("    ca: /nonexistent/ca.pem\n", "blobs.s3.ca"),
    ])
    func aWrongS3ValueNamesItsKey(extra: String, key: String) async {
        do {
            _ = try await load(Self.s3 + extra)
            Issue.record("\(extra) was accepted")
        } catch {
            #expect(error.description.contains(key), "\(error)")
        }
    }

    @Test func aMissingBucketOrEndpointOrCredentialsNamesTheKey() async {
        for (drop, key) in [
            ("bucket:", "blobs.s3.bucket"), ("endpoint:", "blobs.s3.endpoint"), ("credentialsFile:", "blobs.s3.credentialsFile"),
        ] {
            let text = Self.s3.split(separator: "\n").filter { !$0.contains(drop) }.joined(separator: "\n") + "\n"
            do {
                _ = try await load(text)
                Issue.record("a config without \(key) was accepted")
            } catch {
                #expect(error.description.contains(key), "\(error)")
            }
        }
    }

    @Test func aNonHTTPEndpointIsRefused() async {
        await #expect(throws: ConfigurationError.self) {
            _ = try await load(Self.s3.replacingOccurrences(of: "https://s3.region.example:9000", with: "ftp://s3.example"))
        }
    }

    @Test func credentialsComeFromTheCredentialsDirectoryWithoutAFile() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-creds-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = FileManager.default.createFile(
            atPath: dir.appendingPathComponent("s3-credentials").path, contents: Data("AKIDSYSTEMD secretsecret\n".utf8),
            attributes: [.posixPermissions: 0o600])
        let text = Self.s3.split(separator: "\n").filter { !$0.contains("credentialsFile") }.joined(separator: "\n") + "\n"
        let config = try await load(text, environment: ["CREDENTIALS_DIRECTORY": dir.path])
        #expect(config.blobS3?.settings.credentials.accessKeyID == "AKIDSYSTEMD")
    }

    @Test func theMetadataBackendIsSQLiteUnlessPostgresIsNamed() async throws {
        #expect(try await load("").metadataBackend == .sqlite)
        let config = try await load(
            "metadata:\n  backend: postgres\n  url: postgres://node@db.region.example:5433/splitkey\n  timeout: 4\n")
        guard case .postgres(let settings) = config.metadataBackend else {
            Issue.record("metadata.backend postgres gave \(config.metadataBackend)")
            return
        }
        #expect(settings.host == "db.region.example")
        #expect(settings.port == 5433)
        #expect(settings.username == "node")
        #expect(settings.database == "splitkey")
        #expect(settings.timeout == .seconds(4))
    }

    @Test func aWrongMetadataSettingNamesItsKey() async {
        for (extra, key) in [
            ("metadata:\n  backend: mysql\n", "metadata.backend"),
            ("metadata:\n  backend: postgres\n", "metadata.url"),
            ("metadata:\n  backend: postgres\n  url: http://db.example/x\n", "metadata.url"),
        ] {
            do {
                _ = try await load(extra)
                Issue.record("\(extra) was accepted")
            } catch {
                #expect(error.description.contains(key), "\(extra): \(error)")
            }
        }
    }
}
