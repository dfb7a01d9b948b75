import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Shared
import Testing

@testable import StorageNode

/// The garbage collector of blobs: a blob no metadata row names is deleted once older than the
/// grace; a young one (an upload whose row is still to come) and one a row names are kept.
struct BlobCollectorTests {
    /// A folder blob store and an SQLite metadata store in one fresh directory.
    struct Stores {
        let dir: URL
        let blobs: FileBlobStore
        let metadata: SQLiteMetadataStore
        let dataKeyID: Int64

        static func make() async throws -> Stores {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("collector-\(UUID().uuidString)")
            let blobs = try FileBlobStore(root: dir.path)
            let metadata = try SQLiteMetadataStore(directory: dir.path)
            let dataKey = try await metadata.insertDataKey(user: "alice", wrapped: [1, 2, 3], kekVersion: 1)
            return Stores(dir: dir, blobs: blobs, metadata: metadata, dataKeyID: dataKey.id)
        }

        /// A committed blob, with a metadata row naming it when `referenced`.
        func blob(referenced: Bool) async throws -> String {
            let name = BlobName.make()
            let upload = try await blobs.beginUpload(name: name)
            try await upload.write(ByteBuffer(bytes: [1, 2, 3]))
            try await upload.commit()
            if referenced {
                _ = try await metadata.put(
                    ObjectRecord(
                        userID: "alice", key: "k-\(name)", blobName: name, writeID: RandomBytes.bytes(16), dataKeyID: dataKeyID,
                        size: 3, createdAt: Date()))
            }
            return name
        }

        func exists(_ name: String) async throws -> Bool {
            do {
                _ = try await blobs.size(of: name)
                return true
            } catch .missing {
                return false
            }
        }

        func collector(grace: TimeInterval = 3600, pageSize: Int = 1000, clockAhead: TimeInterval) -> BlobCollector {
            BlobCollector(
                blobs: blobs, metadata: metadata, grace: grace, interval: .seconds(600), pageSize: pageSize,
                logger: Logger(label: "collector-test"), now: { Date().addingTimeInterval(clockAhead) })
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    @Test func anOrphanPastTheGraceIsRemovedAndAReferencedBlobKept() async throws {
        let stores = try await Stores.make()
        defer { stores.remove() }
        let orphan = try await stores.blob(referenced: false)
        let referenced = try await stores.blob(referenced: true)
        let pass = try await stores.collector(clockAhead: 2 * 3600).collect()
        #expect(pass.removed == [orphan])
        #expect(pass.examined == 2)
        #expect(try await !stores.exists(orphan))
        #expect(try await stores.exists(referenced))
    }

    @Test func anOrphanYoungerThanTheGraceIsKept() async throws {
        let stores = try await Stores.make()
        defer { stores.remove() }
        let young = try await stores.blob(referenced: false)
        // An hour's grace, half an hour on: an upload whose row may still come.
        let pass = try await stores.collector(clockAhead: 1800).collect()
        #expect(pass.removed.isEmpty)
        #expect(pass.young == 1)
        #expect(try await stores.exists(young))
    }

    @Test func aPassPagesThroughTheWholeStore() async throws {
        let stores = try await Stores.make()
        defer { stores.remove() }
        var orphans: Set<String> = []
        var referenced: Set<String> = []
        for n in 0..<25 {
            let name = try await stores.blob(referenced: n % 3 == 0)
            if n % 3 == 0 { referenced.insert(name) } else { orphans.insert(name) }
        }
        let pass = try await stores.collector(pageSize: 4, clockAhead: 2 * 3600).collect()
        #expect(pass.examined == 25)
        #expect(Set(pass.removed) == orphans)
        #expect(pass.removed.count == orphans.count, "a blob was removed twice")
        let left = try await stores.blobs.list(after: nil, limit: 1000).map(\.name)
        #expect(Set(left) == referenced)
        // A second pass finds nothing more to do.
        #expect(try await stores.collector(pageSize: 4, clockAhead: 2 * 3600).collect().removed.isEmpty)
    }

    @Test func theServicePassesAtStartAndStopsPromptlyOnShutdown() async throws {
        let stores = try await Stores.make()
        defer { stores.remove() }
        let orphan = try await stores.blob(referenced: false)
        let logger = Logger(label: "collector-test")
        let group = ServiceGroup(services: [stores.collector(clockAhead: 2 * 3600)], logger: logger)
        let running = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while try await stores.exists(orphan), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await !stores.exists(orphan), "the pass at start did not remove the orphan")
        // Between passes (an interval of 600 s), a graceful shutdown ends it at once.
        let stopping = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        // Far below the 600 s interval it would otherwise sleep; the time itself is printed, as a
        // loaded CI machine stretches it.
        print("blob collector stopped \(ContinuousClock.now - stopping) after the graceful shutdown")
        #expect(ContinuousClock.now - stopping < .seconds(60))
    }
}
