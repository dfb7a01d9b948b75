import Foundation
import GRDB
import Shared
import Testing

@testable import StorageNode

/// Group commit of the node's metadata: concurrent writes share transactions, yet each write
/// succeeds or fails on its own and every acknowledged one is in the file.
struct MetadataGroupCommitTests {
    func record(_ n: Int, blob: String? = nil, dataKey: Int64) -> ObjectRecord {
        ObjectRecord(
            userID: "alice", key: "k\(n)", blobName: blob ?? "blob-\(n)", writeID: RandomBytes.bytes(16),
            dataKeyID: dataKey, size: Int64(n), createdAt: Date())
    }

    @Test func concurrentWritesAreEachDurableAndAFailingOneFailsAlone() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metadata-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteMetadataStore(directory: dir.path)
        let dataKey = try await store.insertDataKey(user: "alice", wrapped: [1, 2, 3], kekVersion: 1)

        // 200 writes at once; number 100 reuses the blob name of number 0 (a UNIQUE column), so
        // its savepoint is rolled back while the others in its transaction commit.
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for n in 0..<200 {
                group.addTask {
                    let blob = n == 100 ? "blob-0" : nil
                    do {
                        _ = try await store.put(record(n, blob: blob, dataKey: dataKey.id))
                        return (n, true)
                    } catch {
                        return (n, false)
                    }
                }
            }
            var all: [Int: Bool] = [:]
            for await (n, ok) in group { all[n] = ok }
            return all
        }
        // Either 0 or 100 came first; exactly one of the pair fails, every other write succeeds.
        #expect(outcomes.filter { !$0.value }.count == 1)
        #expect(outcomes[0] != outcomes[100])

        // What was acknowledged is in the file, read by a connection of its own.
        let onDisk = try DatabaseQueue(path: dir.appendingPathComponent(SQLiteMetadataStore.fileName).path)
        let keys = Set(try await onDisk.read { try String.fetchAll($0, sql: "SELECT key FROM objects") })
        for (n, ok) in outcomes {
            #expect(keys.contains("k\(n)") == ok, "k\(n): acknowledged \(ok), stored \(keys.contains("k\(n)"))")
        }
        let counted = try await onDisk.read { try Int.fetchOne($0, sql: "SELECT object_count FROM data_keys")! }
        #expect(counted == 199, "the failed write's count was rolled back with it")
    }
}
