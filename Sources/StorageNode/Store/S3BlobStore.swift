import Foundation
import Logging
import NIOCore
import Shared

/// A ``BlobStore`` in one bucket of an S3-compatible object store: blob `NAME` is the object
/// `PREFIX + NAME`, so several nodes of a region can share one bucket (and other data can live
/// beside the blobs under other prefixes).
///
/// Durability: S3 acknowledges a PUT or a CompleteMultipartUpload only once the object is
/// stored, and makes it visible whole and at once; so ``S3BlobUpload/commit()`` returning means
/// durable, and overlapping uploads of one name end with the bytes of one of them (the last to
/// complete).
///
/// Owns its ``S3Client``: call ``shutdown()`` before dropping it.
final class S3BlobStore: BlobStore {
    let client: S3Client
    /// Put before every blob name to make its key (`blobs.s3.prefix`, `blobs/` by default).
    let prefix: String
    /// Bytes of one multipart part; an upload holds about this much in memory.
    let partSize: Int
    let logger: Logger

    /// The default `blobs.s3.prefix`.
    static let defaultPrefix = "blobs/"
    /// The default `blobs.s3.partSize` (8 MiB): above S3's 5 MiB minimum, small enough that
    /// many uploads at once do not hold much memory.
    static let defaultPartSize = 8 << 20
    /// The `blobs.s3.partSize` values accepted: S3's minimum part up to 512 MiB (each running
    /// upload holds one part in memory).
    static let partSizes = S3MultipartUpload.minimumPartSize...(512 << 20)

    init(client: S3Client, prefix: String = defaultPrefix, partSize: Int = defaultPartSize, logger: Logger) {
        self.client = client
        self.prefix = prefix
        self.partSize = partSize
        self.logger = logger
    }

    /// Closes the client's connections; no call may follow.
    func shutdown() async {
        do {
            try await client.shutdown()
        } catch {
            logger.warning("closing the S3 client failed", metadata: ["error": "\(error)"])
        }
    }

    func key(of name: String) throws(BlobStoreError) -> String {
        // Names come from BlobName; anything else (an empty name, a path) is refused rather
        // than turned into a key that could name another prefix's object.
        guard BlobName.isValid(name) else {
            throw .io("\(String(reflecting: String(name.prefix(80)))) is not a blob name of this store (a lower-case UUID)")
        }
        return prefix + name
    }

    func beginUpload(name: String) async throws(BlobStoreError) -> any BlobUpload {
        S3BlobUpload(name: name, key: try key(of: name), store: self)
    }

    func read(name: String, range: Range<Int64>) async throws(BlobStoreError) -> any BlobChunks {
        let key = try key(of: name)
        guard range.lowerBound >= 0 else { throw .io("range \(range) of blob \(name) starts before 0") }
        if range.isEmpty {
            // S3 has no empty ranged GET; the size alone tells whether the range lies inside.
            let size = try await size(of: name)
            guard range.upperBound <= size else { throw .io("range \(range) of blob \(name) reaches past its \(size) bytes") }
            return S3BlobChunks(stream: nil)
        }
        let stream: S3ObjectStream
        do {
            stream = try await client.getObject(key: key, range: range)
        } catch {
            throw Self.mapped(error, name: name)
        }
        // S3 cuts a range at the object's end; the contract refuses it instead.
        guard stream.range.upperBound == range.upperBound else {
            throw .io("range \(range) of blob \(name) reaches past its \(stream.objectSize) bytes")
        }
        return S3BlobChunks(stream: stream)
    }

    func readStart(name: String, length: Int64) async throws(BlobStoreError) -> BlobStart {
        let key = try key(of: name)
        guard length >= 0 else { throw .io("a read of the first \(length) bytes of blob \(name)") }
        if length > 0 {
            // S3 cuts the range at the object's end and names the whole size in Content-Range.
            do {
                let stream = try await client.getObject(key: key, range: 0..<length)
                let size = stream.objectSize
                return BlobStart(size: size, chunks: S3BlobChunks(stream: stream))
            } catch .invalidRange {
                // A range starting at 0 is unsatisfiable only for an empty object.
            } catch {
                throw Self.mapped(error, name: name)
            }
        }
        return BlobStart(size: try await size(of: name), chunks: S3BlobChunks(stream: nil))
    }

    func size(of name: String) async throws(BlobStoreError) -> Int64 {
        let key = try key(of: name)
        do {
            return try await client.headObject(key: key).size
        } catch {
            throw Self.mapped(error, name: name)
        }
    }

    func delete(name: String) async throws(BlobStoreError) {
        let key = try key(of: name)
        do {
            try await client.deleteObject(key: key)
        } catch {
            throw Self.mapped(error, name: name)
        }
    }

    func list(after: String?, limit: Int) async throws(BlobStoreError) -> [BlobListing] {
        guard limit > 0 else { return [] }
        var listings: [BlobListing] = []
        var token: String?
        // Pages are filled up to `limit`: keys under the prefix that are no blob name (left
        // there by hand) are skipped, and a page of only those must not read as the end.
        repeat {
            let page: S3ListPage
            do {
                page = try await client.listObjectsV2(
                    prefix: prefix, continuationToken: token, startAfter: token == nil ? after.map { prefix + $0 } : nil,
                    maxKeys: min(limit - listings.count, S3Client.maximumListKeys))
            } catch {
                throw Self.mapped(error, name: nil)
            }
            for object in page.objects where object.key.hasPrefix(prefix) {
                let name = String(object.key.dropFirst(prefix.count))
                guard BlobName.isValid(name) else { continue }
                listings.append(BlobListing(name: name, lastModified: object.lastModified))
            }
            token = page.nextContinuationToken
        } while token != nil && listings.count < limit
        return listings
    }

    /// What an S3 failure means to the node. The messages are for the operator's log.
    /// The label's key: under the prefix, beside the blobs, so it marks exactly the keys the
    /// node lists and collects; no blob name (a UUID) can take it.
    var labelKey: String { prefix + Self.labelName }
    static let labelName = "splitkey-label"

    func label() async throws(BlobStoreError) -> [UInt8]? {
        do throws(S3Error) {
            let stream = try await client.getObject(key: labelKey)
            guard stream.objectSize <= BlobStoreLimits.maximumLabelSize else {
                throw S3Error.invalidResponse("\(labelKey) holds \(stream.objectSize) bytes: not a label of this store")
            }
            var body = try await stream.collect(upTo: BlobStoreLimits.maximumLabelSize)
            return body.readBytes(length: body.readableBytes) ?? []
        } catch .noSuchKey {
            return nil
        } catch {
            throw Self.mapped(error, name: Self.labelName)
        }
    }

    func setLabel(_ bytes: [UInt8]) async throws(BlobStoreError) {
        guard bytes.count <= BlobStoreLimits.maximumLabelSize else { throw .io("a label of \(bytes.count) bytes") }
        do {
            _ = try await client.putObject(key: labelKey, body: ByteBuffer(bytes: bytes))
        } catch {
            throw Self.mapped(error, name: Self.labelName)
        }
    }

    static func mapped(_ error: S3Error, name: String?) -> BlobStoreError {
        switch error {
        case .noSuchKey:
            return .missing(name ?? "")
        case .slowDown, .unavailable:
            return .unavailable("\(error)")
        case .server(let status, let code):
            if status == 507 || fullCodes.contains(code) { return .full("S3 answered HTTP \(status) (\(code))") }
            if status == 500 || status == 502 || status == 503 || status == 504 { return .unavailable("\(error)") }
            return .io("\(error)")
        case .noSuchBucket, .accessDenied, .signatureDoesNotMatch:
            // The descriptions name the bucket setting or the credentials file to check.
            return .io("\(error)")
        case .cancelled:
            return .unavailable("\(error)")
        case .invalidRange:
            return .io("the range reaches past the end of blob \(name ?? "")")
        case .noSuchUpload, .etagMismatch, .invalidResponse, .invalidRequest:
            return .io("\(error)")
        }
    }

    /// S3 error codes that mean no room: a quota (SeaweedFS, Ceph), a full MinIO, an object
    /// over the store's size limit.
    static let fullCodes: Set<String> = ["QuotaExceeded", "XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "EntityTooLarge"]
}

/// The chunks of one ranged GET, passed through, cut to ``BlobStoreLimits/maximumChunkSize``.
final class S3BlobChunks: BlobChunks {
    private let stream: S3ObjectStream?
    private var pending: ByteBuffer?

    init(stream: consuming sending S3ObjectStream?) {
        self.stream = stream
    }

    func next() async throws(BlobStoreError) -> ByteBuffer? {
        if var rest = pending {
            return split(&rest)
        }
        guard let stream else { return nil }
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await stream.next()
            } catch {
                throw S3BlobStore.mapped(error, name: nil)
            }
            guard var chunk else { return nil }
            if chunk.readableBytes == 0 { continue }
            return split(&chunk)
        }
    }

    /// The first at most maximum-chunk bytes of `buffer`; the rest is kept for the next call.
    private func split(_ buffer: inout ByteBuffer) -> ByteBuffer {
        let limit = BlobStoreLimits.maximumChunkSize
        guard buffer.readableBytes > limit else {
            pending = nil
            return buffer
        }
        let head = buffer.readSlice(length: limit)!
        pending = buffer
        return head
    }
}
