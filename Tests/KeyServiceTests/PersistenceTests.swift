import Crypto
import Foundation
import GRDB
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

@testable import KeyService

/// Keys survive restarts, and KEKs exist on disk only sealed under the root key.
@Suite(.serialized)
struct PersistenceTests {
    typealias API = KeyServiceAPI

    @Test func keysMadeBeforeARestartUnwrapAfterIt() async throws {
        try await withKeyService { ks in
            try await DataKeyRoundTripTests.createUser(ks, "alice", region: "eu-west")
            let key = try await ks.client("node-eu-west")
                .call(.POST, ks.baseURL + API.Path.generate, json: API.GenerateRequest(user: "alice", context: "c"))
                .decode(API.GenerateResponse.self)
            let status = try await ks.restart()
            #expect(status == 0, "SIGTERM must drain and exit 0")
            // The old pooled connection died with the old process; a new client connects afresh.
            let again = try await ks.client("node-eu-west", http1Only: true).call(
                .POST,
                ks.baseURL + API.Path.unwrap,
                json: API.UnwrapRequest(user: "alice", wrapped: key.wrapped, context: "c", reason: .userRequest)
            )
            #expect(again.status == .ok)
            #expect(try again.decode(API.UnwrapResponse.self).plaintext == key.plaintext)
        }
    }

    /// Opens the database with the root key, as only the KeyService could, and then searches the
    /// database and its WAL for the unsealed KEK bytes and the root key: neither may be there.
    @Test func kekBytesAppearNowhereInClear() async throws {
        try await withKeyService { ks in
            for (user, region) in [("alice", "eu-west"), ("bob", "us-east"), ("carol", "eu-west")] {
                try await DataKeyRoundTripTests.createUser(ks, user, region: region)
            }
            let stateDir = ks.dir.appendingPathComponent("state/keyservice")
            let rootKey = try RootKey.load(credentialsDirectory: nil, configuredFile: ks.path("root-key"))
            let sealer = KEKSealer(rootKey: rootKey)
            // Read while the daemon runs so the WAL still holds the recent commits.
            let rows = try DatabaseQueue(
                path: stateDir.appendingPathComponent(SQLiteKeyStore.fileName).path,
                configuration: {
                    var c = Configuration()
                    c.readonly = true
                    return c
                }()
            )
            .read { db in try Row.fetchAll(db, sql: "SELECT user_id, version, sealed FROM kek_versions") }
            #expect(rows.count == 3)
            let files = try FileManager.default.contentsOfDirectory(atPath: stateDir.path).map { stateDir.appendingPathComponent($0) }
            #expect(files.contains { $0.lastPathComponent.hasSuffix("-wal") })
            let contents = try files.map { try Data(contentsOf: $0) }
            for row in rows {
                let sealed = Array(row["sealed"] as Data)
                let kek = try sealer.open(sealed, userID: row["user_id"], version: UInt32(row["version"] as Int64))
                // The search does find what is there: the sealed form is on disk...
                #expect(contents.contains { $0.range(of: Data(sealed)) != nil })
                // ...and the KEK in clear is not, nor any 16-byte window of it.
                for data in contents {
                    #expect(data.range(of: Data(kek.rawBytes)) == nil)
                    #expect(data.range(of: Data(kek.rawBytes.prefix(16))) == nil)
                    #expect(data.range(of: Data(kek.rawBytes.suffix(16))) == nil)
                }
            }
            for data in contents {
                #expect(data.range(of: Data(rootKey.key.rawBytes)) == nil)
            }
            // A sealed KEK moved to another user's row does not open.
            let first = rows[0]
            #expect(throws: CipherError.self) {
                try sealer.open(Array(first["sealed"] as Data), userID: "someone-else", version: 1)
            }
        }
    }

    @Test func wrongRootKeyStopsTheStart() async throws {
        try await withKeyService { ks in
            try await DataKeyRoundTripTests.createUser(ks, "alice", region: "eu-west")
            _ = await ks.stop()
            try FileManager.default.removeItem(atPath: ks.path("root-key"))
            try RootKey.create(at: ks.path("root-key"))
            let result = try await ChildProcess.run(
                try TestPaths.binary("keyservice"),
                ["serve", "--config", ks.path("keyservice.yaml")],
                environment: ["SPLITKEY_LISTEN_PORT": String(ks.port)],
                in: ks.dir
            )
            #expect(result.status == 78)
            #expect(result.output.contains("wrong root key for this state directory"))
        }
    }
}
