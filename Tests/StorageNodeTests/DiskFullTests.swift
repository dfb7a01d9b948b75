import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The node's state directory on a small filesystem of its own that fills up: a PUT that does not
/// fit is 507 `insufficient_storage` (whether the blob or the SQLite commit ran out), leaves
/// nothing behind, harms no stored object, and the node keeps running and takes writes again once
/// space is freed.
@Suite(.serialized)
struct DiskFullTests {
    @Test(.enabled(if: getuid() == 0, "mounting a size-limited tmpfs needs root"))
    func fullDiskGives507LeavesNothingAndRecovers() async throws {
        let mount = try await SizedTmpfs(size: "8m")
        do {
            try await run(on: mount)
        } catch {
            await mount.remove()
            throw error
        }
        await mount.remove()
    }

    private func run(on mount: SizedTmpfs) async throws {
        let state = mount.dir.appendingPathComponent("state")
        try await withStorageNode(nodeEnvironment: ["SPLITKEY_STATE_DIRECTORY": state.path]) { env in
            let alice = try env.ks.client("user-alice")
            var stored: [String: [UInt8]] = [:]
            for i in 0..<3 {
                let body = RandomBytes.bytes(200_000 + i)
                #expect(try await alice.send(.PUT, env.objectURL("keep/\(i)"), body: body).status == .created)
                stored["keep/\(i)"] = body
            }

            // 1. The blob does not fit: fill with 1 MiB objects until one is refused.
            var refused: (key: String, response: APIResponse)?
            for i in 0..<20 {
                let key = "fill/\(i)"
                let body = RandomBytes.bytes(1 << 20)
                let response = try await alice.send(.PUT, env.objectURL(key), body: body)
                if response.status == .created {
                    stored[key] = body
                    continue
                }
                refused = (key, response)
                break
            }
            let (fullKey, full) = try #require(refused, "8 MiB never filled up")
            print("disk full after \(stored.count) objects: \(full.status.code) \(String(decoding: full.body, as: UTF8.self))")
            #expect(full.status.code == 507)
            #expect(full.error?.error.code == .insufficientStorage)
            #expect(full.error?.error.message.contains("no space left") == true)
            // Where and what failed is the operator's business: in the log, not in the answer.
            #expect(full.error?.error.message.contains(state.path) == false)
            #expect(env.node?.log.contains("No space left on device") == true)
            #expect(env.node?.isRunning == true)
            try await expectNothingLeft(env, alice, stored: stored, missing: fullKey)

            // 2. The blob fits but the metadata commit does not: leave one page free, which a tiny
            // blob takes, so SQLite cannot append its WAL frames and fails with SQLITE_FULL.
            let filler = mount.dir.appendingPathComponent("filler")
            try mount.fill(filler, leaving: 4096)
            #expect(mount.freeBytes == 4096)
            let logBefore = env.node?.log.count ?? 0
            let tiny = try await alice.send(.PUT, env.objectURL("tiny"), body: Array("tiny".utf8))
            print("commit on a full disk: \(tiny.status.code) \(String(decoding: tiny.body, as: UTF8.self))")
            #expect(tiny.status.code == 507)
            #expect(tiny.error?.error.code == .insufficientStorage)
            let newLog = String((env.node?.log ?? "").dropFirst(logBefore))
            #expect(newLog.contains("metadata commit failed"), "the refusal did not come from the commit:\n\(newLog)")
            #expect(env.node?.isRunning == true)
            try await expectNothingLeft(env, alice, stored: stored, missing: "tiny")
            // Reads still work on the full disk, and so does the node's health.
            let health = try await alice.send(.GET, env.baseURL + StorageNodeAPI.Path.health).decode(KeyServiceAPI.Health.self)
            #expect(health.status == .active)
            // Even a DELETE needs WAL space: on a disk this full it may be refused, but only with
            // 507, and then the object must still be whole.
            let delete = try await alice.send(.DELETE, env.objectURL("keep/0"))
            print("DELETE on a full disk: \(delete.status.code)")
            #expect(delete.status == .noContent || delete.status.code == 507)
            if delete.status == .noContent {
                stored["keep/0"] = nil
            } else {
                #expect(delete.error?.error.code == .insufficientStorage)
                #expect(env.node?.log.contains("metadata delete failed") == true)
                #expect(try await alice.send(.GET, env.objectURL("keep/0")).body == Data(stored["keep/0"]!))
            }
            try FileManager.default.removeItem(at: filler)

            // 3. Deleting objects frees space: writes are taken again.
            for i in 0..<3 where stored["fill/\(i)"] != nil {
                #expect(try await alice.send(.DELETE, env.objectURL("fill/\(i)")).status == .noContent)
                stored["fill/\(i)"] = nil
            }
            let again = RandomBytes.bytes(1 << 20)
            #expect(try await alice.send(.PUT, env.objectURL(fullKey), body: again).status == .created)
            stored[fullKey] = again
            #expect(try await alice.send(.PUT, env.objectURL("tiny"), body: Array("tiny".utf8)).status == .created)
            stored["tiny"] = Array("tiny".utf8)
            try await expectNothingLeft(env, alice, stored: stored, missing: nil)
        }
    }

    /// Every stored object reads back whole, `missing` is gone from GET and LIST, no temporary
    /// file is left and every blob on disk belongs to a listed object.
    private func expectNothingLeft(_ env: StorageNodeFixture, _ client: HTTPClient, stored: [String: [UInt8]], missing: String?)
        async throws
    {
        for (key, body) in stored {
            let response = try await client.send(.GET, env.objectURL(key))
            #expect(response.status == .ok, "\(key): \(response.status.code)")
            #expect(response.body == Data(body), "\(key) changed")
        }
        if let missing {
            #expect(try await client.send(.GET, env.objectURL(missing)).status == .notFound)
        }
        let list = try await client.send(.GET, env.baseURL + StorageNodeAPI.Path.objects).decode(StorageNodeAPI.ObjectList.self)
        #expect(Set(list.objects.map(\.key)) == Set(stored.keys))
        let state = env.stateDirectory.path
        let root = (env.environment["SPLITKEY_STATE_DIRECTORY"] ?? state)
        let fm = FileManager.default
        #expect(try fm.contentsOfDirectory(atPath: root + "/tmp").isEmpty, "a temporary file was left")
        var blobs = 0
        for shard in try fm.contentsOfDirectory(atPath: root + "/blobs") {
            blobs += try fm.contentsOfDirectory(atPath: root + "/blobs/" + shard).count
        }
        #expect(blobs == stored.count, "\(blobs) blobs on disk for \(stored.count) objects")
    }
}
