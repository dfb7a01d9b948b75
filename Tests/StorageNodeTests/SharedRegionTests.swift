import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Synchronization
import Testing

/// Several StorageNodes of one region on one bucket (SeaweedFS) and one database (PostgreSQL),
/// as real processes: what one node writes, another serves; concurrent writers on the same keys
/// end with whole objects; a node killed mid-PUT, the object store killed and PostgreSQL stopped
/// lose nothing acknowledged and need no node restart to recover.
@Suite(.serialized)
struct SharedRegionTests {
    static let backend = RegionBackend.s3Postgres

    /// The body of write `n` by `writer`: unique, so what a GET returns names the write it came from.
    static func body(_ writer: String, _ n: Int, size: Int) -> [UInt8] {
        Array("\(writer) write \(n) ".utf8) + RandomBytes.bytes(size)
    }

    @Test func whatOneNodeWritesAnotherServes() async throws {
        try await withStorageNode(backend: Self.backend) { env in
            let second = try await env.startExtraNode()
            let alice = try env.ks.client("user-alice")
            let small = RandomBytes.bytes(1000)
            let large = RandomBytes.bytes(3 * 65_536 + 77)
            #expect(try await alice.send(.PUT, env.objectURL("docs/a"), body: small).status == .created)
            #expect(try await alice.send(.PUT, second.objectURL("docs/b"), body: large).status == .created)
            #expect(try await alice.send(.GET, second.objectURL("docs/a")).body == Data(small))
            #expect(try await alice.send(.GET, env.objectURL("docs/b")).body == Data(large))
            let range = try await alice.send(.GET, second.objectURL("docs/b"), headers: [("Range", "bytes=65530-131080")])
            #expect(range.status == .partialContent)
            #expect(range.body == Data(large[65_530...131_080]))
            let list = try await alice.send(.GET, second.baseURL + StorageNodeAPI.Path.objects)
            #expect(try list.decode(StorageNodeAPI.ObjectList.self).objects.map(\.key) == ["docs/a", "docs/b"])
            // An overwrite through one node is what the other serves next; a delete through one is
            // gone through the other.
            let newer = RandomBytes.bytes(500)
            #expect(try await alice.send(.PUT, second.objectURL("docs/a"), body: newer).status == .ok)
            #expect(try await alice.send(.GET, env.objectURL("docs/a")).body == Data(newer))
            #expect(try await alice.send(.DELETE, env.objectURL("docs/b")).status == .noContent)
            #expect(try await alice.send(.GET, second.objectURL("docs/b")).status == .notFound)
            // The superseded and deleted blobs are gone from the bucket: one blob, for docs/a.
            #expect(try await env.storage.blobNames().count == 1)
        }
    }

    /// Writers on both nodes overwrite the same keys at once; afterwards each key holds exactly
    /// one acknowledged body, whole, and both nodes serve the same one.
    @Test func concurrentOverwritesThroughTwoNodesEndWithOneWholeObject() async throws {
        try await withStorageNode(backend: Self.backend) { env in
            let second = try await env.startExtraNode()
            let keys = (0..<4).map { "shared/k\($0)" }
            let urls: [@Sendable (String) -> String] = [{ env.objectURL($0) }, { second.objectURL($0) }]
            let acknowledged = try await withThrowingTaskGroup(of: [String: [[UInt8]]].self) { group in
                for writer in 0..<6 {
                    group.addTask {
                        let client = try env.ks.freshClient("user-alice")
                        var mine: [String: [[UInt8]]] = [:]
                        for n in 0..<8 {
                            let key = keys[(writer + n) % keys.count]
                            // Sizes on both sides of the single-PUT/multipart and segment limits.
                            let body = Self.body("w\(writer)", n, size: [100, 70_000, 300_000][n % 3])
                            let status = try await client.send(.PUT, urls[writer % 2](key), body: body).status
                            if status == .created || status == .ok {
                                mine[key, default: []].append(body)
                            } else {
                                Issue.record("writer \(writer) PUT \(key): \(status)")
                            }
                        }
                        try await client.shutdown()
                        return mine
                    }
                }
                return try await group.reduce(into: [String: [[UInt8]]]()) { all, part in all.merge(part) { $0 + $1 } }
            }
            let alice = try env.ks.client("user-alice")
            for key in keys {
                let first = try await alice.send(.GET, env.objectURL(key))
                let other = try await alice.send(.GET, second.objectURL(key))
                #expect(first.status == .ok && other.status == .ok, "\(key): \(first.status), \(other.status)")
                #expect(first.body == other.body, "\(key): the two nodes serve different bodies")
                #expect(acknowledged[key, default: []].contains(Array(first.body)), "\(key): not one whole acknowledged body")
            }
        }
    }

    /// A GET reads a key's row, then its blob; an overwrite or delete through the other node
    /// between the two removes the blob the row named. Readers racing a writer must get the old
    /// or the new object whole (or 404 after a delete), never an integrity error, with whole
    /// reads and ranged reads further in (two store reads) alike.
    @Test func getsRacingOverwritesAndDeletesThroughAnotherNodeGetWholeObjects() async throws {
        try await withStorageNode(backend: Self.backend) { env in
            let second = try await env.startExtraNode()
            let key = "race/k"
            let bodies = (0..<60).map { Self.body("v", $0, size: 140_000) }
            let finished = Finished()
            let writing = Task {
                defer { finished.set() }
                let client = try env.ks.freshClient("user-alice")
                for (n, body) in bodies.enumerated() {
                    let status = try await client.send(.PUT, env.objectURL(key), body: body).status
                    #expect(status == .created || status == .ok, "PUT \(n): \(status)")
                    if n % 10 == 9 {
                        #expect(try await client.send(.DELETE, env.objectURL(key)).status == .noContent)
                    }
                }
                try await client.shutdown()
            }
            let outcomes = try await withThrowingTaskGroup(of: [String: Int].self) { group in
                for reader in 0..<3 {
                    group.addTask {
                        let client = try env.ks.freshClient("user-alice")
                        var seen: [String: Int] = [:]
                        while !finished.value, seen.values.reduce(0, +) < 400 {
                            let ranged = reader == 2
                            let answer = try await client.send(
                                .GET, second.objectURL(key), headers: ranged ? [("Range", "bytes=70000-")] : [])
                            switch answer.status {
                            case .ok where !ranged:
                                #expect(bodies.contains(Array(answer.body)), "a GET returned no whole written body")
                            case .partialContent where ranged:
                                #expect(
                                    bodies.contains { Array($0[70_000...]) == Array(answer.body) }, "a ranged GET returned no written tail")
                            case .notFound:
                                break
                            default:
                                Issue.record(
                                    "GET during overwrites: \(answer.status) \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
                            }
                            seen["\(answer.status.code)", default: 0] += 1
                        }
                        try await client.shutdown()
                        return seen
                    }
                }
                return try await group.reduce(into: [String: Int]()) { all, part in all.merge(part, uniquingKeysWith: +) }
            }
            try await writing.value
            print("GETs racing 60 overwrites and 6 deletes through the other node: \(outcomes.sorted { $0.key < $1.key })")
        }
    }

    /// A commit the node gave up on (`metadata.timeout`) may still land: PostgreSQL finishes a
    /// COMMIT it is running even when the client has left. The PUT answers 503; afterwards the
    /// key reads back whole if the commit landed, or is absent, never a row without its blob.
    @Test func aPutWhoseCommitOutcomeIsUnknownKeepsItsBlob() async throws {
        try await withStorageNode(backend: Self.backend, nodeEnvironment: ["SPLITKEY_METADATA_TIMEOUT": "1"]) { env in
            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.PUT, env.objectURL("warm"), body: [1, 2, 3]).status == .created)
            // A deferred constraint trigger runs inside COMMIT: it holds the commit 3 s, past the
            // node's 1 s deadline, and then the commit completes.
            _ = try await env.storage.psql(
                """
                CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
                CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE ON objects DEFERRABLE INITIALLY DEFERRED
                    FOR EACH ROW EXECUTE FUNCTION slow_commit();
                """)
            let body = RandomBytes.bytes(100_000)
            let put = try await alice.send(.PUT, env.objectURL("slow"), body: body)
            #expect(put.status == .serviceUnavailable, "\(put.status)")
            // DROP TRIGGER waits for the lock the slow commit holds, so the commit has ended.
            _ = try await env.storage.psql("DROP TRIGGER slow_commit ON objects; DROP FUNCTION slow_commit();")
            let row = try await env.storage.psql("SELECT count(*) FROM objects WHERE key = 'slow'")
            let get = try await alice.send(.GET, env.objectURL("slow"))
            print(
                "PUT answered 503 at the deadline; the commit landed: \(row.trimmingCharacters(in: .whitespacesAndNewlines) == "1"); GET: \(get.status)"
            )
            if row.trimmingCharacters(in: .whitespacesAndNewlines) == "1" {
                #expect(get.status == .ok, "the row landed but its object does not read: \(get.status)")
                #expect(get.body == Data(body))
            } else {
                #expect(get.status == .notFound, "\(get.status)")
            }
        }
    }

    /// kill -9 of one node while both take PUTs: everything acknowledged by either reads back
    /// through the survivor, and through the killed node once it is started again.
    @Test func aNodeKilledMidPutLosesNothingAcknowledged() async throws {
        try await withStorageNode(backend: Self.backend) { env in
            let second = try await env.startExtraNode()
            let acks = ManagedAtomicCounter()
            // Every write in order, acknowledged or not; each writer has its own keys and stops
            // at its first failure (the kill), so per key at most one write after the last
            // acknowledged one may or may not have landed.
            let results = await withTaskGroup(of: [(key: String, body: [UInt8], acknowledged: Bool)].self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        guard let client = try? env.ks.freshClient("user-alice") else { return [] }
                        var mine: [(key: String, body: [UInt8], acknowledged: Bool)] = []
                        for n in 0..<40 {
                            let key = "w\(writer)/k\(n % 5)"
                            let body = Self.body("w\(writer)", n, size: [200, 70_000, 200_000][n % 3])
                            let url = writer % 2 == 0 ? env.objectURL(key) : second.objectURL(key)
                            let status = try? await client.send(.PUT, url, body: body).status
                            let acknowledged = status == .created || status == .ok
                            mine.append((key, body, acknowledged))
                            guard acknowledged else { break }
                            acks.increment()
                        }
                        try? await client.shutdown()
                        return mine
                    }
                }
                group.addTask {
                    let limit = ContinuousClock.now + .seconds(60)
                    while acks.value < 12 && ContinuousClock.now < limit { try? await Task.sleep(for: .milliseconds(5)) }
                    await second.stop(signal: SIGKILL)
                    return []
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            var allowed: [String: [[UInt8]]] = [:]
            for write in results {
                if write.acknowledged { allowed[write.key] = [write.body] } else { allowed[write.key, default: []].append(write.body) }
            }
            let acknowledgedKeys = Set(results.filter(\.acknowledged).map(\.key))
            #expect(acknowledgedKeys.count >= 5, "too few acknowledged writes to mean anything: \(acknowledgedKeys.count) keys")
            let alice = try env.ks.client("user-alice")
            func check(_ url: (String) -> String, _ through: String) async throws {
                for key in acknowledgedKeys.sorted() {
                    let response = try await alice.send(.GET, url(key))
                    #expect(response.status == .ok, "\(key) through \(through): \(response.status)")
                    #expect(
                        allowed[key, default: []].contains(Array(response.body)), "\(key) through \(through): not the acknowledged body")
                }
            }
            try await check({ env.objectURL($0) }, "the surviving node")
            try await env.startExtraNode(second)
            try await check({ second.objectURL($0) }, "the restarted node")
            print(
                "two nodes, one killed mid-PUT: \(results.filter(\.acknowledged).count) acknowledged writes, \(results.filter { !$0.acknowledged }.count) cut off, \(acknowledgedKeys.count) keys intact"
            )
        }
    }

    /// SeaweedFS killed while requests run: they end with 503 store_unavailable and Retry-After
    /// (none hangs, none gets a 500); started again, the same node serves everything that was
    /// acknowledged and takes new writes.
    @Test func theObjectStoreKilledGives503AndServiceResumes() async throws {
        try await withStorageNode(backend: Self.backend, privateEngines: true) { env in
            let alice = try env.ks.client("user-alice")
            var stored: [String: [UInt8]] = [:]
            for i in 0..<6 {
                let body = Self.body("before", i, size: [300, 100_000][i % 2])
                #expect(try await alice.send(.PUT, env.objectURL("o\(i)"), body: body).status == .created)
                stored["o\(i)"] = body
            }
            let server = try #require(env.storage.seaweedFS)
            try await server.kill()
            let started = ContinuousClock.now
            let answers = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for i in 0..<6 {
                    group.addTask {
                        i % 2 == 0
                            ? try await alice.send(.GET, env.objectURL("o\(i)"))
                            : try await alice.send(.PUT, env.objectURL("during\(i)"), body: RandomBytes.bytes(5000))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            print("object store down: \(answers.map(\.status.code)) within \(ContinuousClock.now - started)")
            for answer in answers {
                #expect(
                    answer.status == .serviceUnavailable, "\(answer.status): \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
                #expect(answer.error?.error.code == .storeUnavailable)
                #expect(answer.headers.first(name: "Retry-After") != nil)
            }
            try await server.start()
            try await expectServiceResumes(env, alice)
            for (key, body) in stored { #expect(try await alice.send(.GET, env.objectURL(key)).body == Data(body), "\(key)") }
            #expect(try await alice.send(.PUT, env.objectURL("after"), body: [1, 2, 3]).status == .created)
            #expect(env.node?.isRunning == true, "the node had to restart")
        }
    }

    /// PostgreSQL stopped: every request that needs metadata ends with 503 store_unavailable and
    /// Retry-After within the store's deadline; started again, the node serves as before.
    @Test func postgresStoppedGives503AndServiceResumes() async throws {
        try await withStorageNode(backend: Self.backend, privateEngines: true, nodeEnvironment: ["SPLITKEY_METADATA_TIMEOUT": "3"]) { env in
            let alice = try env.ks.client("user-alice")
            let body = RandomBytes.bytes(20_000)
            #expect(try await alice.send(.PUT, env.objectURL("kept"), body: body).status == .created)
            let cluster = try #require(env.storage.postgres)
            try await cluster.stop()
            for (method, key) in [(HTTPMethod.GET, "kept"), (.PUT, "new"), (.DELETE, "kept")] {
                let started = ContinuousClock.now
                let answer = try await alice.send(method, env.objectURL(key), body: method == .PUT ? [1, 2, 3] : nil)
                print("metadata store down: \(method) answered \(answer.status.code) after \(ContinuousClock.now - started)")
                #expect(answer.status == .serviceUnavailable, "\(method): \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
                #expect(answer.error?.error.code == .storeUnavailable, "\(method)")
                #expect(answer.headers.first(name: "Retry-After") != nil, "\(method)")
            }
            try await cluster.start()
            try await expectServiceResumes(env, alice)
            #expect(try await alice.send(.GET, env.objectURL("kept")).body == Data(body), "the refused DELETE removed the object")
            #expect(try await alice.send(.GET, env.objectURL("new")).status == .notFound, "the refused PUT stored something")
            #expect(env.node?.isRunning == true, "the node had to restart")
        }
    }

    /// Waits (bounded) until the node answers a listing again after its engine came back.
    private func expectServiceResumes(_ env: StorageNodeFixture, _ client: HTTPClient) async throws {
        let started = ContinuousClock.now
        var status: HTTPResponseStatus = .serviceUnavailable
        while status != .ok && ContinuousClock.now - started < .seconds(60) {
            status = try await client.send(.GET, env.baseURL + StorageNodeAPI.Path.objects).status
            if status != .ok { try await Task.sleep(for: .milliseconds(250)) }
        }
        print("service resumed after \(ContinuousClock.now - started): \(status)")
        #expect(status == .ok, "the node did not recover by itself")
    }
}

/// Set once when a writer is done, read by the tasks racing it.
private final class Finished: Sendable {
    private let flag = Atomic<Bool>(false)
    var value: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
