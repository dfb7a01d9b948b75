import Foundation
import SplitKeyTestSupport
import Testing

/// `storagenode migrate`: applies the metadata schema and exits, while a node serves, as often
/// as it is run; it names the database whose identity the blob store's label carries.
@Suite(.serialized)
struct MigrateCommandTests {
    @Test(arguments: RegionBackend.allCases)
    func migrateWhileANodeServesIsIdempotentAndNamesTheDatabase(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend) { env in
            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.PUT, env.objectURL("m"), body: [1, 2, 3]).status == .created)
            var outputs: [String] = []
            for _ in 0..<2 {
                let run = try await ChildProcess.run(
                    try TestPaths.binary("storagenode"), ["migrate", "--config", env.ks.path("storagenode-eu-west.yaml")],
                    environment: env.storage.nodeEnvironment, in: env.ks.dir)
                #expect(run.status == 0, "\(run.output)")
                outputs.append(run.output)
            }
            let expected = backend == .embedded ? "schema up to date" : "schema at version 2"
            #expect(outputs.allSatisfy { $0.contains(expected) }, "\(outputs)")
            // Both runs name the same database, the one the blob store's label names.
            let ids = outputs.compactMap { $0.firstMatch(of: /\(database ([0-9a-f]{32})\)/).map { String($0.1) } }
            #expect(ids.count == 2 && ids[0] == ids[1], "\(outputs)")
            if let id = ids.first {
                let label = try await env.storage.label()
                #expect(label.contains("metadata \(id)"), "\(label)")
            }
            #expect(try await alice.send(.GET, env.objectURL("m")).body == Data([1, 2, 3]))
        }
    }
}
