import Crypto
import Foundation
import NIOCore
import Shared
import Testing

@testable import StorageNode

/// The ``BlobStore`` contract, run on every backend of ``BlobStoreBackend``: what the node relies
/// on from any store it keeps blobs in.
struct BlobStoreContractTests {
    static let backends = BlobStoreBackend.allCases

    @Test(arguments: backends)
    func committedBlobReadsBackWhole(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let name = BlobName.make()
            let bytes = RandomBytes.bytes(200_001)
            try await Self.put(store, name, bytes, chunk: 65_536)
            #expect(try await store.size(of: name) == Int64(bytes.count))
            #expect(try await Self.read(store, name, 0..<Int64(bytes.count)).bytes == bytes)
            #expect(try await store.list(after: nil, limit: 10).map(\.name) == [name])
        }
    }

    @Test(arguments: backends)
    func theLabelIsKeptBesideTheBlobsAndNeverListed(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            #expect(try await store.label() == nil)
            let name = BlobName.make()
            try await Self.put(store, name, [1, 2, 3], chunk: 2)
            try await store.setLabel(Array("first".utf8))
            try await store.setLabel(Array("second\n".utf8))
            #expect(try await store.label() == Array("second\n".utf8))
            #expect(try await store.list(after: nil, limit: 10).map(\.name) == [name])
            await #expect(throws: BlobStoreError.self) {
                try await store.setLabel([UInt8](repeating: 0x61, count: BlobStoreLimits.maximumLabelSize + 1))
            }
            #expect(try await store.label() == Array("second\n".utf8))
        }
    }

    @Test(arguments: backends)
    func emptyBlobIsABlob(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let name = BlobName.make()
            try await Self.put(store, name, [], chunk: 1)
            #expect(try await store.size(of: name) == 0)
            #expect(try await Self.read(store, name, 0..<0).bytes.isEmpty)
        }
    }

    @Test(arguments: backends)
    func rangedReadsGiveExactlyTheirBytes(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let name = BlobName.make()
            // Over two maximum chunks, so a long range comes in several.
            let bytes = RandomBytes.bytes(2 * BlobStoreLimits.maximumChunkSize + 12_345)
            let size = Int64(bytes.count)
            try await Self.put(store, name, bytes, chunk: 300_000)
            let ranges: [Range<Int64>] = [
                0..<1, (size - 1)..<size, 1000..<1_500_000, 0..<size, 0..<0, 17..<17, size..<size,
                Int64(BlobStoreLimits.maximumChunkSize - 1)..<Int64(BlobStoreLimits.maximumChunkSize + 1),
            ]
            for range in ranges {
                let got = try await Self.read(store, name, range)
                #expect(got.bytes == Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)]), "\(range)")
                #expect(got.largestChunk <= BlobStoreLimits.maximumChunkSize, "\(range)")
                #expect(got.chunks.allSatisfy { $0 > 0 }, "\(range): an empty chunk")
            }
            // A range reaching past the end is refused, not cut short.
            for range: Range<Int64> in [0..<(size + 1), (size + 1)..<(size + 1), (size - 1)..<(size + 10), -1..<3] {
                await #expect(throws: BlobStoreError.self, "\(range)") { _ = try await Self.read(store, name, range) }
            }
        }
    }

    /// `readStart` gives the whole size and the first bytes, cut at the blob's end, in one read.
    @Test(arguments: backends)
    func readStartGivesTheSizeAndTheFirstBytes(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let name = BlobName.make()
            let bytes = RandomBytes.bytes(BlobStoreLimits.maximumChunkSize + 4_321)
            let size = Int64(bytes.count)
            try await Self.put(store, name, bytes, chunk: 200_000)
            for length: Int64 in [0, 1, 72, 65_608, size - 1, size, size + 1, size * 3] {
                let start = try await store.readStart(name: name, length: length)
                #expect(start.size == size, "\(length)")
                var got: [UInt8] = []
                while let chunk = try await start.chunks.next() {
                    #expect(chunk.readableBytes > 0 && chunk.readableBytes <= BlobStoreLimits.maximumChunkSize, "\(length)")
                    got += Array(buffer: chunk)
                }
                #expect(got == Array(bytes.prefix(Int(min(length, size)))), "\(length)")
            }
            let empty = BlobName.make()
            try await Self.put(store, empty, [], chunk: 1)
            let start = try await store.readStart(name: empty, length: 100)
            #expect(start.size == 0)
            #expect(try await start.chunks.next() == nil)
            let absent = BlobName.make()
            for length: Int64 in [0, 100] {
                do {
                    _ = try await store.readStart(name: absent, length: length)
                    Issue.record("readStart of an absent blob did not fail")
                } catch {
                    #expect(error as? BlobStoreError == .missing(absent))
                }
            }
        }
    }

    @Test(arguments: backends)
    func uncommittedAndAbortedUploadsLeaveNothing(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let name = BlobName.make()
            let upload = try await store.beginUpload(name: name)
            try await upload.write(ByteBuffer(bytes: RandomBytes.bytes(70_000)))
            // Written but not committed: not visible.
            await Self.expectMissing(store, name)
            #expect(try await store.list(after: nil, limit: 10).isEmpty)
            await upload.abort()
            await upload.abort()
            await Self.expectMissing(store, name)
            #expect(try await store.list(after: nil, limit: 10).isEmpty)

            // An abort after a commit that returned changes nothing.
            let kept = try await store.beginUpload(name: name)
            try await kept.write(ByteBuffer(bytes: [1, 2, 3]))
            try await kept.commit()
            await kept.abort()
            #expect(try await Self.read(store, name, 0..<3).bytes == [1, 2, 3])
        }
    }

    @Test(arguments: backends)
    func aMissingBlobIsMissing(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            await Self.expectMissing(store, BlobName.make())
        }
    }

    @Test(arguments: backends)
    func deleteIsIdempotent(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let name = BlobName.make()
            try await store.delete(name: name)
            try await Self.put(store, name, [9, 9], chunk: 1)
            try await store.delete(name: name)
            try await store.delete(name: name)
            await Self.expectMissing(store, name)
            #expect(try await store.list(after: nil, limit: 10).isEmpty)
        }
    }

    @Test(arguments: backends)
    func listingPagesVisitEveryBlobOnceInOrder(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let before = Date().addingTimeInterval(-60)
            var names: [String] = []
            for _ in 0..<23 {
                let name = BlobName.make()
                try await Self.put(store, name, [1], chunk: 1)
                names.append(name)
            }
            let after = Date().addingTimeInterval(60)
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            while true {
                let page = try await store.list(after: cursor, limit: 5)
                guard let last = page.last else { break }
                #expect(page.count <= 5)
                for listing in page {
                    #expect(listing.lastModified > before && listing.lastModified < after, "\(listing)")
                }
                seen += page.map(\.name)
                cursor = last.name
                pages += 1
            }
            #expect(seen == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            #expect(pages >= 5)
            #expect(try await store.list(after: nil, limit: 0).isEmpty)
            // A cursor that is no blob's name still continues after it.
            let middle = seen[11]
            let cut = String(middle.dropLast()) + (middle.last == "0" ? "1" : "0")
            let next = try await store.list(after: cut, limit: 100).map(\.name)
            #expect(next == seen.filter { cut.utf8.lexicographicallyPrecedes($0.utf8) })
        }
    }

    @Test(arguments: backends)
    func concurrentUploadsOfOneNameEndWithOneWholeBlob(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let name = BlobName.make()
            let writers = 8
            let bodies = (0..<writers).map { _ in RandomBytes.bytes(300_000) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for body in bodies {
                    group.addTask {
                        // Small chunks with yields, so the uploads interleave.
                        let upload = try await store.beginUpload(name: name)
                        for start in stride(from: 0, to: body.count, by: 10_000) {
                            try await upload.write(ByteBuffer(bytes: body[start..<min(start + 10_000, body.count)]))
                            await Task.yield()
                        }
                        try await upload.commit()
                    }
                }
                try await group.waitForAll()
            }
            let stored = try await Self.read(store, name, 0..<(try await store.size(of: name))).bytes
            #expect(bodies.contains(stored), "the blob is no single upload's bytes (\(stored.count) bytes)")
            #expect(try await store.list(after: nil, limit: 10).map(\.name) == [name])
        }
    }

    @Test(arguments: backends)
    func aLargeBlobStreamsInBoundedChunks(_ backend: BlobStoreBackend) async throws {
        try await withBlobStore(backend) { store in
            let name = BlobName.make()
            let chunk = 1 << 20
            let count = 40
            // One random block, stamped with its index: distinct chunks without 40 MiB of randomness.
            let block = RandomBytes.bytes(chunk)
            func chunkBytes(_ index: Int) -> [UInt8] {
                var bytes = block
                withUnsafeBytes(of: UInt64(index).bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
                return bytes
            }
            var written = SHA256()
            let upload = try await store.beginUpload(name: name)
            for index in 0..<count {
                let bytes = chunkBytes(index)
                written.update(data: bytes)
                try await upload.write(ByteBuffer(bytes: bytes))
            }
            try await upload.commit()
            #expect(try await store.size(of: name) == Int64(chunk * count))

            var read = SHA256()
            var total = 0
            var largest = 0
            let chunks = try await store.read(name: name, range: 0..<Int64(chunk * count))
            while let buffer = try await chunks.next() {
                largest = max(largest, buffer.readableBytes)
                total += buffer.readableBytes
                buffer.withUnsafeReadableBytes { read.update(bufferPointer: $0) }
            }
            #expect(total == chunk * count)
            #expect(largest <= BlobStoreLimits.maximumChunkSize)
            #expect(Array(read.finalize()) == Array(written.finalize()))
        }
    }

    // MARK: helpers

    static func put(_ store: any BlobStore, _ name: String, _ bytes: [UInt8], chunk: Int) async throws {
        let upload = try await store.beginUpload(name: name)
        do {
            for start in stride(from: 0, to: bytes.count, by: chunk) {
                try await upload.write(ByteBuffer(bytes: bytes[start..<min(start + chunk, bytes.count)]))
            }
            try await upload.commit()
        } catch {
            await upload.abort()
            throw error
        }
    }

    /// The bytes of a ranged read, with the size of each chunk it came in.
    static func read(_ store: any BlobStore, _ name: String, _ range: Range<Int64>) async throws -> (
        bytes: [UInt8], chunks: [Int], largestChunk: Int
    ) {
        let chunks = try await store.read(name: name, range: range)
        var bytes: [UInt8] = []
        var sizes: [Int] = []
        while let buffer = try await chunks.next() {
            sizes.append(buffer.readableBytes)
            bytes += Array(buffer: buffer)
        }
        return (bytes, sizes, sizes.max() ?? 0)
    }

    static func expectMissing(_ store: any BlobStore, _ name: String) async {
        do {
            _ = try await store.size(of: name)
            Issue.record("size(of:) of \(name) did not fail")
        } catch {
            #expect(error == .missing(name))
        }
        do {
            _ = try await store.read(name: name, range: 0..<0)
            Issue.record("read of \(name) did not fail")
        } catch {
            #expect(error == .missing(name))
        }
    }
}
