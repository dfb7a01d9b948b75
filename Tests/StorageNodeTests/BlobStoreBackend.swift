import Foundation
import Logging
import Shared
import SplitKeyTestSupport

@testable import StorageNode

/// The blob store backends the contract suite runs on. A new backend is a case here and a
/// branch in ``open(_:)``; every contract test then runs on it too.
enum BlobStoreBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case folder
    /// ``S3BlobStore`` on a fresh bucket of the shared SeaweedFS; skipped without weed.
    case s3

    var description: String { rawValue }

    /// A fresh, empty store of `backend` with what removes it afterwards; nil (with the reason
    /// printed) when the backend cannot run here, so its tests pass as skipped, not failed.
    static func open(_ backend: BlobStoreBackend) async throws -> OpenedBlobStore? {
        switch backend {
        case .folder:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blobstore-\(UUID().uuidString)")
            let store = try FileBlobStore(root: dir.path)
            return OpenedBlobStore(store: store) { try? FileManager.default.removeItem(at: dir) }
        case .s3:
            if let reason = SeaweedFS.skipReason {
                print("BlobStoreContractTests: s3 skipped: \(reason)")
                return nil
            }
            let server = try await SeaweedFS.shared()
            let bucket = try await server.createBucket()
            let logger = Logger(label: "test.s3blobs")
            let store = S3BlobStore(client: S3Client(settings: try server.settings(bucket: bucket), logger: logger), logger: logger)
            return OpenedBlobStore(store: store) { await store.shutdown() }
        }
    }
}

/// A store opened for one test.
struct OpenedBlobStore: Sendable {
    let store: any BlobStore
    let remove: @Sendable () async -> Void
}

/// Runs `body` on a fresh store of `backend` and removes the store afterwards, also when
/// `body` throws; does nothing when the backend is not available here.
func withBlobStore(_ backend: BlobStoreBackend, _ body: (any BlobStore) async throws -> Void) async throws {
    guard let opened = try await BlobStoreBackend.open(backend) else { return }
    do {
        try await body(opened.store)
    } catch {
        await opened.remove()
        throw error
    }
    await opened.remove()
}
