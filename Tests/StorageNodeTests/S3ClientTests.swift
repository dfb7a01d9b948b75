import Crypto
import Foundation
import NIOCore
import Shared
import SplitKeyTestSupport
import Testing

/// Shared's S3 client against a real SeaweedFS (Tests/Support/SeaweedFS.swift): every operation,
/// ranges, multipart, paging, the typed errors, and the retry bounds when the store is gone.
/// (Here rather than in SharedTests, which cannot depend on the test support target.)
@Suite(.enabled(if: SeaweedFS.skipReason == nil, "SeaweedFS (weed) is not installed (see the printed reason)"))
struct S3ClientTests {
    static func randomBytes(_ count: Int) -> ByteBuffer {
        var generator = SystemRandomNumberGenerator()
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        var left = count
        while left >= 8 {
            buffer.writeInteger(generator.next() as UInt64)
            left -= 8
        }
        for _ in 0..<left { buffer.writeInteger(UInt8.random(in: 0...255)) }
        return buffer
    }

    /// A client on a new bucket of the shared server.
    static func withBucket<T: Sendable>(
        retry: S3RetryPolicy = S3RetryPolicy(), _ body: (S3Client, SeaweedFS) async throws -> T
    ) async throws -> T {
        let server = try await SeaweedFS.shared()
        let bucket = try await server.createBucket()
        return try await SeaweedFS.withClient(try server.settings(bucket: bucket, retry: retry)) { try await body($0, server) }
    }

    @Test func putGetHeadDelete() async throws {
        try await Self.withBucket { client, _ in
            let body = Self.randomBytes(10_000)
            // Spaces, '+', '=', a non-ASCII letter and folders: the key's encoding is signed as sent.
            let key = "dir/sub dir/a+b=c ü.bin"
            let started = Date()
            let etag = try await client.putObject(key: key, body: body)
            let md5 = Insecure.MD5.hash(data: Array(body.readableBytesView)).map { String(format: "%02x", $0) }.joined()
            #expect(etag == "\"\(md5)\"")

            let stream = try await client.getObject(key: key)
            #expect(stream.range == 0..<10_000)
            #expect(stream.objectSize == 10_000)
            #expect(try await stream.collect(upTo: 1 << 20) == body)

            let info = try await client.headObject(key: key)
            #expect(info.key == key && info.size == 10_000 && info.etag == etag)
            #expect(abs(info.lastModified.timeIntervalSince(started)) < 60)

            // Overwrite, then an empty object.
            let second = Self.randomBytes(123)
            try await client.putObject(key: key, body: second)
            #expect(try await client.getObject(key: key).collect(upTo: 1000) == second)
            try await client.putObject(key: "empty", body: ByteBuffer())
            #expect(try await client.headObject(key: "empty").size == 0)
            #expect(try await client.getObject(key: "empty").collect(upTo: 0).readableBytes == 0)

            try await client.deleteObject(key: key)
            await #expect(throws: S3Error.noSuchKey(key)) { _ = try await client.getObject(key: key) }
            await #expect(throws: S3Error.noSuchKey(key)) { _ = try await client.headObject(key: key) }
            try await client.deleteObject(key: key)  // deleting again is fine
            try await client.deleteObject(key: "never-written")
            try await client.createBucket()  // a bucket already owned is fine
        }
    }

    @Test func rangesFetchOnlyTheirBytes() async throws {
        try await Self.withBucket { client, _ in
            let size = 1_000_003
            let body = Self.randomBytes(size)
            try await client.putObject(key: "ranged", body: body)
            let cases: [(Range<Int64>, Range<Int64>)] = [
                (0..<1, 0..<1),  // first byte
                (Int64(size - 1)..<Int64(size), Int64(size - 1)..<Int64(size)),  // last byte
                (300_000..<700_123, 300_000..<700_123),  // middle
                (0..<Int64(size), 0..<Int64(size)),  // whole
                (999_000..<2_000_000, 999_000..<Int64(size)),  // past the end: cut at the end
            ]
            for (asked, expected) in cases {
                let stream = try await client.getObject(key: "ranged", range: asked)
                #expect(stream.range == expected, "range \(asked)")
                #expect(stream.objectSize == Int64(size))
                var got = ByteBuffer()
                var largestChunk = 0
                while var chunk = try await stream.next() {
                    largestChunk = max(largestChunk, chunk.readableBytes)
                    got.writeBuffer(&chunk)
                }
                #expect(got == body.getSlice(at: Int(expected.lowerBound), length: expected.count), "range \(asked)")
                #expect(largestChunk <= 256 * 1024, "chunks stay bounded: \(largestChunk) bytes")
            }
            await #expect(throws: S3Error.invalidRange) {
                _ = try await client.getObject(key: "ranged", range: Int64(size)..<Int64(size + 10))
            }
            await #expect(throws: S3Error.invalidRange) { _ = try await client.getObject(key: "ranged", range: 5..<5) }
            // collect refuses a range longer than asked for, before reading it.
            await #expect(throws: S3Error.self) { _ = try await client.getObject(key: "ranged").collect(upTo: 1000) }
        }
    }

    @Test func multipartUploadOf20MiBReadsBackIdentical() async throws {
        try await Self.withBucket { client, _ in
            let partSize = 5 * 1024 * 1024
            let body = Self.randomBytes(4 * partSize)
            let upload = try await client.createMultipartUpload(key: "big/object")
            var parts: [S3UploadedPart] = []
            for number in 1...4 {
                let slice = body.getSlice(at: (number - 1) * partSize, length: partSize)!
                parts.append(try await client.uploadPart(upload, number: number, body: slice))
            }
            #expect(parts.map(\.number) == [1, 2, 3, 4])
            let etag = try await client.completeMultipartUpload(upload, parts: parts)
            #expect(etag.hasSuffix("-4\""), "multipart ETag \(etag)")
            // Completing again finds the upload gone and the object that it made.
            #expect(try await client.completeMultipartUpload(upload, parts: parts) == etag)

            let info = try await client.headObject(key: "big/object")
            #expect(info.size == Int64(4 * partSize))
            var hash = SHA256()
            var count = 0
            let stream = try await client.getObject(key: "big/object")
            while let chunk = try await stream.next() {
                hash.update(data: Array(chunk.readableBytesView))
                count += chunk.readableBytes
            }
            #expect(count == 4 * partSize)
            #expect(Array(hash.finalize()) == Array(SHA256.hash(data: Array(body.readableBytesView))))
            // A range across a part boundary.
            let across = try await client.getObject(key: "big/object", range: Int64(partSize - 10)..<Int64(partSize + 10))
            #expect(try await across.collect(upTo: 20) == body.getSlice(at: partSize - 10, length: 20))

            // An aborted upload is gone: no more parts, no object; aborting again is fine.
            let abandoned = try await client.createMultipartUpload(key: "abandoned")
            _ = try await client.uploadPart(abandoned, number: 1, body: Self.randomBytes(1000))
            try await client.abortMultipartUpload(abandoned)
            try await client.abortMultipartUpload(abandoned)
            await #expect(throws: S3Error.self) { _ = try await client.uploadPart(abandoned, number: 2, body: Self.randomBytes(10)) }
            await #expect(throws: S3Error.noSuchKey("abandoned")) { _ = try await client.headObject(key: "abandoned") }

            await #expect(throws: S3Error.self) { _ = try await client.uploadPart(upload, number: 0, body: ByteBuffer()) }
            await #expect(throws: S3Error.self) { _ = try await client.completeMultipartUpload(upload, parts: parts.reversed()) }
        }
    }

    @Test func listingPagesWithContinuation() async throws {
        try await Self.withBucket { client, _ in
            var expected: [String: Int] = [:]
            for n in 0..<25 {
                let key = "p/" + String(format: "%03d", n) + (n % 5 == 0 ? " space" : "")
                expected[key] = n * 7
                try await client.putObject(key: key, body: Self.randomBytes(n * 7))
            }
            for other in ["q/1", "q/2", "pz"] { try await client.putObject(key: other, body: Self.randomBytes(3)) }

            var seen: [S3ObjectInfo] = []
            var pages: [Int] = []
            var token: String?
            repeat {
                let page = try await client.listObjectsV2(prefix: "p/", continuationToken: token, maxKeys: 10)
                pages.append(page.objects.count)
                seen += page.objects
                token = page.nextContinuationToken
            } while token != nil && pages.count < 10
            #expect(pages == [10, 10, 5])
            #expect(seen.map(\.key) == expected.keys.sorted())
            for object in seen { #expect(object.size == Int64(expected[object.key] ?? -1), "\(object.key)") }
            #expect(seen.allSatisfy { abs($0.lastModified.timeIntervalSinceNow) < 120 })

            let all = try await client.listObjectsV2()
            #expect(all.objects.count == 28 && all.nextContinuationToken == nil)
            #expect(try await client.listObjectsV2(prefix: "nothing/").objects.isEmpty)
            await #expect(throws: S3Error.self) { _ = try await client.listObjectsV2(maxKeys: 0) }
        }
    }

    @Test func listingStartsAfterAKeyWithoutAToken() async throws {
        try await Self.withBucket { client, _ in
            for key in ["s/a", "s/b", "s/c", "s/d", "t/a"] { try await client.putObject(key: key, body: Self.randomBytes(1)) }
            let page = try await client.listObjectsV2(prefix: "s/", startAfter: "s/b", maxKeys: 10)
            #expect(page.objects.map(\.key) == ["s/c", "s/d"])
            // A key that does not exist still starts the page after where it would sort.
            let between = try await client.listObjectsV2(prefix: "s/", startAfter: "s/bb", maxKeys: 1)
            #expect(between.objects.map(\.key) == ["s/c"])
            #expect(try await client.listObjectsV2(prefix: "s/", startAfter: "s/d").objects.isEmpty)
        }
    }

    @Test func missingKeyAndBucketAreTyped() async throws {
        try await Self.withBucket { client, server in
            await #expect(throws: S3Error.noSuchKey("nope")) { _ = try await client.getObject(key: "nope") }
            await #expect(throws: S3Error.noSuchKey("nope")) { _ = try await client.getObject(key: "nope", range: 0..<10) }
            await #expect(throws: S3Error.noSuchKey("nope")) { _ = try await client.headObject(key: "nope") }
            let missing = SeaweedFS.uniqueBucketName()
            try await SeaweedFS.withClient(try server.settings(bucket: missing)) { other in
                await #expect(throws: S3Error.noSuchBucket(missing)) { _ = try await other.getObject(key: "k") }
                await #expect(throws: S3Error.noSuchBucket(missing)) { _ = try await other.listObjectsV2() }
            }
        }
    }

    /// A wrong secret is a typed signature error and is not retried; an unknown key id is an
    /// access error. Neither message carries the store's error body.
    @Test func wrongCredentialsAreTypedAndNotRetried() async throws {
        let server = try await SeaweedFS.shared()
        let bucket = try await server.createBucket()
        let log = RecordedLog()
        let wrongSecret = SigV4Credentials(accessKeyID: server.accessKeyID, secret: "not-the-secret")
        let clock = ContinuousClock()
        let started = clock.now
        try await SeaweedFS.withClient(try server.settings(bucket: bucket, credentials: wrongSecret), logger: log.logger) { client in
            let error = await #expect(throws: S3Error.self) { try await client.putObject(key: "k", body: ByteBuffer(string: "x")) }
            #expect(error == .signatureDoesNotMatch("SignatureDoesNotMatch"))
            #expect(!(error?.description.contains("calculated") ?? true), "the store's message stays in the log")
            await #expect(throws: S3Error.signatureDoesNotMatch("SignatureDoesNotMatch")) { _ = try await client.listObjectsV2() }
        }
        // Not retried is what the log shows; the time is only printed (a loaded CI machine).
        print("S3ClientTests: wrong credentials refused in \(clock.now - started)")
        #expect(log.entries("S3 request failed, retrying").isEmpty, "4xx answers are not retried")
        let answers = log.entries("S3 error answer")
        #expect(answers.count == 2)
        #expect(answers.first?.metadata["s3.body"]?.contains("<Code>SignatureDoesNotMatch</Code>") == true, "the raw body is logged")

        let unknownKey = SigV4Credentials(accessKeyID: "AKUNKNOWN0000000000", secret: server.secretKey)
        try await SeaweedFS.withClient(try server.settings(bucket: bucket, credentials: unknownKey)) { client in
            let error = await #expect(throws: S3Error.self) { _ = try await client.getObject(key: "k") }
            switch error {
            case .accessDenied, .signatureDoesNotMatch: break
            default: Issue.record("an unknown access key gave \(String(describing: error))")
            }
        }
    }

    /// The store killed: bounded retries, then `.unavailable` within the time bound; restarted:
    /// the same client works again. Then the time bound alone, with a count that would take longer.
    @Test func outageRetriesAreBoundedAndTheClientRecovers() async throws {
        let server = try await SeaweedFS.start(label: "seaweedfs-outage")
        do {
            let bucket = try await server.createBucket()
            let log = RecordedLog()
            let policy = S3RetryPolicy(maximumRetries: 4, totalTime: .seconds(10))
            try await SeaweedFS.withClient(try server.settings(bucket: bucket, retry: policy), logger: log.logger) { client in
                let before = Self.randomBytes(4096)
                try await client.putObject(key: "before", body: before)

                try await server.kill()
                let clock = ContinuousClock()
                var started = clock.now
                let error = await #expect(throws: S3Error.self) { try await client.putObject(key: "during", body: before) }
                let elapsed = clock.now - started
                let retries = log.entries("S3 request failed, retrying").count
                print("S3ClientTests: store down: \(String(describing: error)) after \(retries) retries in \(elapsed)")
                guard case .unavailable = error else {
                    Issue.record("expected .unavailable, got \(String(describing: error))")
                    return
                }
                // At most the policy's retries, fewer when its 10 s ran out first (a loaded
                // machine); the time bound holds up to the last attempt's own deadline.
                #expect((1...4).contains(retries))
                #expect(elapsed < .seconds(25))

                try await server.start()
                #expect(try await client.getObject(key: "before").collect(upTo: 1 << 20) == before)
                try await client.putObject(key: "after", body: before)
                #expect(try await client.headObject(key: "after").size == 4096)

                // The time bound holds when the count alone would allow far more.
                try await server.kill()
                let longSettings = try server.settings(
                    bucket: bucket,
                    retry: S3RetryPolicy(
                        maximumRetries: 1000, totalTime: .seconds(2), baseDelay: .milliseconds(50), maximumDelay: .milliseconds(400)))
                started = clock.now
                try await SeaweedFS.withClient(longSettings) { impatient in
                    await #expect(throws: S3Error.self) { _ = try await impatient.headObject(key: "before") }
                }
                let bounded = clock.now - started
                print("S3ClientTests: 1000 retries allowed, 2 s budget: gave up after \(bounded)")
                // The budget ends the retries; on a loaded machine the last attempt's own
                // connect may run on past it, so only a count-sized overrun would be a bug.
                #expect(bounded < .seconds(15), "1000 retries allowed ran past the 2 s budget: \(bounded)")
                #expect(bounded > .milliseconds(1000), "it kept trying for most of the budget")
            }
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }
}
