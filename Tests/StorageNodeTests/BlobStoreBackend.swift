import Foundation

@testable import StorageNode

/// The blob store backends the contract suite runs on. A new backend is a case here and a
/// branch in ``open(_:)``; every contract test then runs on it too.
enum BlobStoreBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case folder

    var description: String { rawValue }

    /// A fresh, empty store of `backend` with what removes it afterwards; nil (with the reason
    /// printed) when the backend cannot run here, so its tests pass as skipped, not failed.
    static func open(_ backend: BlobStoreBackend) async throws -> OpenedBlobStore? {
        switch backend {
        case .folder:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blobstore-\(UUID().uuidString)")
            let store = try FileBlobStore(root: dir.path)
            return OpenedBlobStore(store: store) { try? FileManager.default.removeItem(at: dir) }
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
