import Foundation
import Shared
import SplitKeyTestSupport
import Testing

/// A node started on a blob store that belongs to another metadata database refuses to start
/// (exit 78, so systemd does not loop) before its collector could take the other database's
/// blobs for orphans, on both backends.
@Suite(.serialized)
struct StoreBindingStartTests {
    @Test(arguments: RegionBackend.allCases)
    func aNodeWhoseDatabaseIsAnotherRefusesToStartAndDeletesNothing(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend) { env in
            let alice = try env.ks.client("user-alice")
            let body = RandomBytes.bytes(3000)
            #expect(try await alice.send(.PUT, env.objectURL("kept"), body: body).status == .created)
            let blobs = try await env.storage.blobNames()
            #expect(blobs.count == 1)

            var overrides = ["SPLITKEY_LISTEN_PORT": String(try freeLoopbackPort())]
            let aside = env.stateDirectory.appendingPathComponent("aside")
            switch backend {
            case .s3Postgres:
                // A second node of the same bucket, with a typo in its database URL: a fresh
                // database, while the first node keeps running.
                let cluster = try #require(env.storage.postgres)
                overrides["SPLITKEY_METADATA_URL"] = try await cluster.createDatabase()
                let state = try TestPaths.temporaryDirectory("binding-state")
                overrides["SPLITKEY_STATE_DIRECTORY"] = state.path
            case .embedded:
                // The node's SQLite file lost (or replaced by another node's): a new, empty one
                // would be made beside the old blobs.
                await env.stopNode()
                try FileManager.default.createDirectory(at: aside, withIntermediateDirectories: true)
                for suffix in ["", "-wal", "-shm"] {
                    let file = env.stateDirectory.appendingPathComponent("metadata.sqlite" + suffix)
                    if FileManager.default.fileExists(atPath: file.path) {
                        try FileManager.default.moveItem(at: file, to: aside.appendingPathComponent(file.lastPathComponent))
                    }
                }
            }
            let run = try await ChildProcess.run(
                try TestPaths.binary("storagenode"), ["serve", "--config", env.ks.path("storagenode-eu-west.yaml")],
                environment: env.storage.nodeEnvironment.merging(overrides) { _, given in given }, in: env.ks.dir)
            #expect(run.status == 78, "\(run.output)")
            #expect(run.output.contains("the blob store belongs to metadata database"), "\(run.output)")
            #expect(!run.output.contains("storagenode listening"), "\(run.output)")
            #expect(try await env.storage.blobNames() == blobs)

            if backend == .embedded {
                for suffix in ["", "-wal", "-shm"] {
                    let name = "metadata.sqlite" + suffix
                    // The refused node's new, empty database goes; the node's own comes back.
                    try? FileManager.default.removeItem(at: env.stateDirectory.appendingPathComponent(name))
                    if FileManager.default.fileExists(atPath: aside.appendingPathComponent(name).path) {
                        try FileManager.default.moveItem(
                            at: aside.appendingPathComponent(name), to: env.stateDirectory.appendingPathComponent(name))
                    }
                }
                try await env.startNode()
            }
            // The pair that belongs together serves the object as stored.
            #expect(try await alice.send(.GET, env.objectURL("kept")).body == Data(body))
        }
    }
}
