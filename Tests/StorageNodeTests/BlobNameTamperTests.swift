import AsyncHTTPClient
import Foundation
import GRDB
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// A blob name read from the metadata store is never trusted as a path: a row edited to
/// `../../victim` must not make GET read, PUT replace or DELETE unlink a file outside the data
/// directory. Each is an integrity failure, and the row stays as it was for the operator.
@Suite(.serialized)
struct BlobNameTamperTests {
    @Test(arguments: ["../../victim", "00/../../../../victim"])
    func aTamperedBlobNameNeverBecomesAPath(_ tamperedName: String) async throws {
        try await withStorageNode { env in
            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.PUT, env.objectURL("t"), body: Array("alice".utf8)).status == .created)

            let blobs = env.stateDirectory.appendingPathComponent("blobs")
            // Where the node's old path joining (blobs/XY/NAME) would have landed.
            let joined = blobs.path + "/" + String(tamperedName.prefix(2)) + "/" + tamperedName
            let victim = URL(fileURLWithPath: joined).standardizedFileURL
            #expect(!victim.path.hasPrefix(env.stateDirectory.path), "\(victim.path)")
            try FileManager.default.createDirectory(at: victim.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("not the node's".utf8).write(to: victim)
            defer { try? FileManager.default.removeItem(at: victim) }

            var config = Configuration()
            config.foreignKeysEnabled = false
            let db = try DatabaseQueue(path: env.stateDirectory.appendingPathComponent("metadata.sqlite").path, configuration: config)
            let original = try await db.read { try String.fetchOne($0, sql: "SELECT blob_name FROM objects WHERE key = 't'")! }
            try await db.write {
                try $0.execute(sql: "UPDATE objects SET blob_name = ? WHERE key = 't'", arguments: [tamperedName])
            }

            for (method, body) in [(HTTPMethod.GET, nil), (.HEAD, nil), (.PUT, Array("replacement".utf8)), (.DELETE, nil)]
                as [(HTTPMethod, [UInt8]?)]
            {
                let response = try await alice.send(method, env.objectURL("t"), body: body)
                #expect(response.status == .internalServerError, "\(method): \(response.status)")
                if method != .HEAD {
                    #expect(response.error?.error.code == .integrityError, "\(method)")
                    #expect(response.error?.error.message.contains("victim") == false, "\(method)")
                }
                #expect(FileManager.default.fileExists(atPath: victim.path), "\(method) removed \(victim.path)")
            }
            #expect(try Data(contentsOf: victim) == Data("not the node's".utf8))
            // The refused DELETE and PUT changed nothing: the row still names the tampered blob.
            #expect(try await db.read { try String.fetchOne($0, sql: "SELECT blob_name FROM objects WHERE key = 't'") } == tamperedName)
            #expect(env.node?.log.contains("integrity") == true)

            try await db.write { try $0.execute(sql: "UPDATE objects SET blob_name = ? WHERE key = 't'", arguments: [original]) }
            #expect(try await alice.send(.GET, env.objectURL("t")).body == Data("alice".utf8))
            #expect(try await alice.send(.DELETE, env.objectURL("t")).status == .noContent)
        }
    }
}
