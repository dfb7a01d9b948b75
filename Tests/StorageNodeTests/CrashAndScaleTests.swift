import AsyncHTTPClient
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

@Suite(.serialized)
struct CrashAndScaleTests {
    /// kill -9 of the node in the middle of concurrent PUTs: after a restart every acknowledged
    /// object reads back intact, and every unacknowledged one is either absent or whole.
    @Test func killDuringConcurrentPutsLosesNothingAcknowledged() async throws {
        try await withStorageNode { env in
            let alice = try env.ks.client("user-alice")
            struct Attempt: Sendable {
                var key: String
                var body: [UInt8]
                var acknowledged: Bool
            }
            // Kill once 20 writes were acknowledged (or after 60 s on a very slow machine), so the
            // test means the same whatever the load; writers stop at the first failure after it.
            let acks = ManagedAtomicCounter()
            let killed = ManagedAtomicCounter()
            let attempts = await withTaskGroup(of: [Attempt].self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var mine: [Attempt] = []
                        var n = 0
                        // Bounded: at most 400 writes per worker.
                        while n < 400 {
                            let size = [100, 70_000, 150_000][n % 3]
                            let body = RandomBytes.bytes(size)
                            let key = "w\(worker)/\(n)"
                            var ok = false
                            if let response = try? await alice.send(.PUT, env.objectURL(key), body: body) {
                                ok = response.status == .created
                            }
                            mine.append(Attempt(key: key, body: body, acknowledged: ok))
                            n += 1
                            if ok { acks.increment() }
                            if !ok && killed.value > 0 { break }
                        }
                        return mine
                    }
                }
                group.addTask {
                    let limit = ContinuousClock.now + .seconds(60)
                    while acks.value < 20 && ContinuousClock.now < limit {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    await env.stopNode(signal: SIGKILL)
                    killed.increment()
                    return []
                }
                var all: [Attempt] = []
                for await part in group { all += part }
                return all
            }
            let acknowledged = attempts.filter(\.acknowledged)
            #expect(acknowledged.count >= 5, "too few writes before the kill to mean anything")
            #expect(attempts.count > acknowledged.count, "the kill interrupted no write")

            try await env.startNode()
            let fresh = try env.ks.client("user-alice", http1Only: true)
            for attempt in attempts {
                let response = try await fresh.send(.GET, env.objectURL(attempt.key))
                if attempt.acknowledged {
                    #expect(response.status == .ok, "acknowledged \(attempt.key) lost")
                    #expect(response.body == Data(attempt.body), "acknowledged \(attempt.key) damaged")
                } else {
                    #expect(response.status == .notFound || response.body == Data(attempt.body), "\(attempt.key) half-written")
                }
            }
            let tmp = try FileManager.default.contentsOfDirectory(atPath: env.stateDirectory.appendingPathComponent("tmp").path)
            #expect(tmp.isEmpty, "unfinished writes left in tmp/")
            print(
                "crash test: \(attempts.count) writes attempted, \(acknowledged.count) acknowledged before kill -9; all acknowledged read back"
            )
        }
    }

    /// A 256 MiB object streams through with the node's memory bounded by a few segments (and,
    /// on S3, by the multipart upload's part in flight).
    @Test(arguments: RegionBackend.allCases) func largeObjectRoundTripsWithBoundedMemory(_ backend: RegionBackend) async throws {
        try await withStorageNode(backend: backend) { env in
            let alice = try env.ks.client("user-alice", readTimeout: 600)
            let size = 256 << 20
            let chunk = 1 << 20
            // Distinct content per chunk without paying for a generator in a debug build: one
            // random block, with the chunk index stamped into its first bytes.
            let block = RandomBytes.bytes(chunk)
            @Sendable func chunkBytes(_ index: Int) -> [UInt8] {
                var bytes = block
                withUnsafeBytes(of: UInt64(index).bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
                return bytes
            }
            var expected = SHA256()
            var request = HTTPClientRequest(url: env.objectURL("big"))
            request.method = .PUT
            let stream = AsyncStream<ByteBuffer> { continuation in
                for i in 0..<(size / chunk) {
                    let bytes = chunkBytes(i)
                    continuation.yield(ByteBuffer(bytes: bytes))
                }
                continuation.finish()
            }
            for i in 0..<(size / chunk) { expected.update(data: chunkBytes(i)) }
            request.body = .stream(stream, length: .known(Int64(size)))
            let put = try await alice.execute(request, timeout: .minutes(10))
            #expect(put.status == .created)
            _ = try await put.body.collect(upTo: 1 << 16)

            let get = try await alice.execute(HTTPClientRequest(url: env.objectURL("big")), timeout: .minutes(10))
            #expect(get.status == .ok)
            var actual = SHA256()
            var received = 0
            for try await buffer in get.body {
                received += buffer.readableBytes
                actual.update(data: Data(buffer: buffer))
            }
            #expect(received == size)
            #expect(actual.finalize() == expected.finalize())

            let peakKiB = try #require(peakRSSKiB(of: env.node!.process.processIdentifier))
            print("256 MiB round trip on \(backend): storagenode peak RSS \(peakKiB / 1024) MiB")
            #expect(peakKiB < 200 * 1024, "node peak RSS \(peakKiB) KiB is not bounded by a few segments")
        }
    }
}

/// A counter shared by test tasks.
final class ManagedAtomicCounter: Sendable {
    private let box = NIOLockedValueBox(0)
    func increment() { box.withLockedValue { $0 += 1 } }
    var value: Int { box.withLockedValue { $0 } }
}

/// VmHWM (peak resident set) of a process, from /proc.
func peakRSSKiB(of pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    }
    return nil
}
