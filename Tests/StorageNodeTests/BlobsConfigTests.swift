import Foundation
import Shared
import Testing

@testable import StorageNode

/// The `blobs.*` keys of the node's configuration.
struct BlobsConfigTests {
    static let base = """
        region: eu-west
        tls:
          certificate: node.pem
          privateKey: node-key.pem
          ca: ca.pem
        stateDirectory: state
        keyService:
          url: https://ks.example:8443

        """

    func load(_ extra: String) async throws(ConfigurationError) -> StorageNodeConfig {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-blobs-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("storagenode.yaml").path
        try? (Self.base + extra).write(toFile: path, atomically: true, encoding: .utf8)
        return try await StorageNodeConfig.load(path: path)
    }

    @Test func theDefaultsAreTheFolderAnHourAndTenMinutes() async throws {
        let config = try await load("")
        #expect(config.blobBackend == .folder)
        #expect(config.blobOrphanGrace == 3600)
        #expect(config.blobCollectInterval == 600)
    }

    @Test func theKeysAreRead() async throws {
        let config = try await load("blobs:\n  backend: folder\n  orphanGrace: 7200\n  collectInterval: 30\n")
        #expect(config.blobBackend == .folder)
        #expect(config.blobOrphanGrace == 7200)
        #expect(config.blobCollectInterval == 30)
    }

    @Test func anUnknownBackendIsAConfigErrorNamingTheKey() async {
        do {
            _ = try await load("blobs:\n  backend: tape\n")
            Issue.record("blobs.backend: tape was accepted")
        } catch {
            #expect(error.description.contains("blobs.backend"), "\(error)")
            #expect(error.description.contains("'tape'") && error.description.contains("folder"), "\(error)")
        }
    }

    @Test func aGraceBelowAMinuteIsRefused() async {
        await #expect(throws: ConfigurationError.self) { _ = try await load("blobs:\n  orphanGrace: 5\n") }
    }
}
