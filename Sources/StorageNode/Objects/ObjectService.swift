import Foundation
import Logging
import NIOCore
import Shared

/// The object operations of one node, between the HTTP routes and the stores: put, find, read,
/// delete and list objects of the user a client certificate names.
///
/// The routes parse HTTP (path, headers, `Range`, the body stream) and turn what comes back into
/// responses; they never touch a store or the file system. Everything that decides is here, in
/// the order the checks run: the caller must be a user (``UserResolver``), the key must follow
/// the naming rules (``ObjectKey``), then the size limit, the data key, the blob and the metadata
/// row. So whoever calls an operation gets the same checks, and no route can skip one.
///
/// Rules kept here:
/// - A body larger than `maxObjectSize` is refused with 413: up front when the declared size says
///   so, otherwise as soon as the stream passes the limit; nothing of it is kept.
/// - An object exists once its metadata commit returns, after the blob store acknowledged its
///   blob (``BlobUpload/commit()`` returned). A crash between the two leaves a blob no row
///   names, which ``BlobCollector`` removes; never a row without its blob.
/// - No plaintext is given out before its segment's tag verified (``ObjectContent``).
struct ObjectService: Sendable {
    let metadata: any MetadataStore
    let blobs: any BlobStore
    let dataKeys: DataKeys
    let users: UserResolver
    let maxObjectSize: Int64
    let segmentSize: Int

    static let maximumPageSize = 1000

    /// An object found for a caller: the user and key asked for, and its metadata row.
    struct Found: Sendable {
        let user: String
        let key: String
        let record: ObjectRecord
    }

    /// What a PUT stored, and whether it replaced an object of the same key.
    struct Stored: Sendable {
        let record: ObjectRecord
        let replaced: Bool
    }

    /// One page of a listing; `nextStartAfter` is set only when more keys follow.
    struct Page: Sendable {
        let objects: [ObjectRecord]
        let nextStartAfter: String?
    }

    /// The user `caller` acts as, or 403 `not_a_user`.
    func user(of caller: PeerIdentity) throws(APIError) -> String {
        try users.user(for: caller)
    }

    /// Seals `body` under the user's current data key into a new blob, makes it durable, then
    /// commits its metadata row (replacing any object of the same key, whose blob is then deleted).
    func put<Body: AsyncSequence>(
        caller: PeerIdentity,
        rawKey: Substring,
        declaredSize: Int64?,
        body: Body,
        logger: Logger
    ) async throws -> Stored where Body.Element == ByteBuffer {
        let (user, key) = try target(caller, rawKey)
        if let declaredSize, declaredSize > maxObjectSize {
            throw tooLarge()
        }
        let (dataKeyID, dataKey) = try await dataKeys.forWrite(user: user)
        let header = ObjectHeader.fresh(segmentSize: segmentSize, dataKeyID: UInt64(dataKeyID))
        var sealer = try ObjectSealer(dataKey: dataKey, header: header, userID: user, objectKey: key)
        let name = BlobName.make()
        let upload = try await blobStore { () async throws(BlobStoreError) in try await blobs.beginUpload(name: name) }
        do {
            for try await buffer in body {
                guard sealer.plaintextSize + Int64(buffer.readableBytes) <= maxObjectSize else { throw tooLarge() }
                let sealed = try sealer.append(buffer.readableBytesView)
                try await blobStore { () async throws(BlobStoreError) in try await upload.write(ByteBuffer(bytes: sealed)) }
            }
            let last = try sealer.finish()
            try await blobStore { () async throws(BlobStoreError) in
                try await upload.write(ByteBuffer(bytes: last))
                try await upload.commit()
            }
        } catch {
            await upload.abort()
            if let nodeError = error as? NodeError,
                [.storageFailure, .insufficientStorage, .storeUnavailable].contains(nodeError.api.code)
            {
                logger.error("object write failed", metadata: ["key": "\(key)", "error": "\(error)"])
            }
            throw error
        }
        let record = ObjectRecord(
            userID: user,
            key: key,
            blobName: name,
            writeID: header.writeID,
            dataKeyID: dataKeyID,
            size: sealer.plaintextSize,
            createdAt: Date()
        )
        let replaced: ObjectRecord?
        do {
            replaced = try await metadata.put(record)
        } catch {
            if case .unavailable = error {
                // Cut off by the deadline or a lost connection: the database may still have
                // applied the commit, and then its row names this blob. Deleting it could leave
                // a row without its blob; keeping it costs at most an orphan, which the collector
                // removes (only if no row names it) once past its grace.
                logger.error(
                    "metadata commit outcome unknown; the blob is kept for the collector",
                    metadata: ["key": "\(key)", "blob": "\(name)", "error": "\(error)"])
            } else {
                // The commit failed: no row names the blob. If this delete fails too, the
                // collector removes it.
                try? await blobs.delete(name: name)
                logger.error("metadata commit failed", metadata: ["key": "\(key)", "error": "\(error)"])
            }
            throw NodeError(error)
        }
        if let replaced { await removeBlob(replaced.blobName, logger) }
        return Stored(record: record, replaced: replaced != nil)
    }

    /// The metadata row of an object (what HEAD answers from): neither the blob nor a data key
    /// is touched.
    func find(caller: PeerIdentity, rawKey: Substring) async throws -> Found {
        let (user, key) = try target(caller, rawKey)
        guard let record = try await storage({ () async throws(StorageError) in try await metadata.object(user: user, key: key) }) else {
            throw APIError.notFound("no object '\(key)'", code: .noSuchObject)
        }
        // A size no write can record means the metadata was altered; refuse before the size
        // shapes a range or a Content-Length (a negative one used to stop the node).
        guard record.size >= 0 else {
            throw NodeError.integrity("the stored object '\(key)' has an impossible size in its metadata")
        }
        return Found(user: user, key: key, record: record)
    }

    /// What a GET needs: the object's row, the range asked for (nil: all of it) and the content,
    /// opened and with its first segment verified.
    struct Opened: Sendable {
        let found: Found
        let range: Range<Int64>?
        let content: ObjectContent
    }

    /// Thrown by ``content(of:range:logger:)`` when the blob a row named is gone and the row
    /// changed meanwhile: another write (through this node or another) replaced or deleted the
    /// object between the row's read and the blob's. Not a failure of the object.
    struct Superseded: Error {
        /// The object's row now; nil when it was deleted.
        let current: Found?
    }

    /// How often ``read(caller:rawKey:range:logger:)`` starts over after ``Superseded``.
    static let maximumRereads = 3

    /// A GET: finds the object, `range` turns its size into the range asked for (it throws for a
    /// range that does not fit), and its content is opened. An object replaced or deleted
    /// while it is opened is read again from its new row (at most ``maximumRereads`` times), so
    /// a GET racing an overwrite answers the old or the new object whole, or 404 after a delete,
    /// never an integrity error.
    func read(
        caller: PeerIdentity, rawKey: Substring, range: (Int64) throws -> Range<Int64>?, logger: Logger
    ) async throws -> Opened {
        var found = try await find(caller: caller, rawKey: rawKey)
        for _ in 0...Self.maximumRereads {
            let wanted = try range(found.record.size)
            do {
                return Opened(
                    found: found, range: wanted,
                    content: try await content(of: found, range: wanted ?? 0..<found.record.size, logger: logger))
            } catch let superseded as Superseded {
                guard let current = superseded.current else {
                    throw APIError.notFound("no object '\(found.key)'", code: .noSuchObject)
                }
                logger.debug("object replaced while opened; reading its new row", metadata: ["key": "\(found.key)"])
                found = current
            }
        }
        throw APIError.unavailable(
            "the object '\(found.key)' was replaced \(Self.maximumRereads + 1) times while it was being read; retry later",
            retryAfterSeconds: 1, code: .storeUnavailable)
    }

    /// The plaintext bytes `range` of a found object: gets its data key, opens its blob, checks
    /// the blob's header against the metadata row and verifies the first segment to send, so
    /// damage there fails here, before any answer starts.
    ///
    /// Store requests: one when the range starts in the first segment (a whole GET: the blob's
    /// size, header and the sealed segments in one read, sized from the node's
    /// `objects.segmentSize`), two otherwise (size and header, then the segments), or when the
    /// blob was written with another segment size.
    func content(of found: Found, range: Range<Int64>, logger: Logger) async throws -> ObjectContent {
        let (user, key, record) = (found.user, found.key, found.record)
        let dataKey = try await dataKeys.forRead(user: user, dataKeyID: record.dataKeyID)
        // Names come from the metadata; one not of the node's format was altered there and is
        // never handed to a store.
        let blobName: String
        do {
            blobName = try BlobName.checked(record.blobName)
        } catch {
            throw NodeError(error)
        }
        let guess = Self.expectedBytes(range: range, size: record.size, segmentSize: segmentSize)
        let start: BlobStart
        do {
            start = try await blobs.readStart(name: blobName, length: guess)
        } catch .missing {
            throw try await missingBlob(found, logger: logger)
        } catch {
            throw NodeError(error)
        }
        var reader = SealedReader(start.chunks, blobName: blobName)
        let opener: ObjectOpener
        do {
            let headerBytes = try await reader.take(min(Int(start.size), ObjectHeader.encodedSize), what: "its header")
            let header = try ObjectHeader(encoded: headerBytes)
            guard header.dataKeyID == UInt64(record.dataKeyID) else { throw ObjectFormatError.integrity(segment: 0) }
            opener = try ObjectOpener(
                dataKey: dataKey,
                header: header,
                blobSize: start.size,
                userID: user,
                objectKey: key,
                expectedWriteID: record.writeID
            )
            guard opener.plaintextSize == record.size else { throw ObjectFormatError.truncated }
        } catch let error as BlobStoreError {
            throw ObjectContent.failure(error, key: key, logger: logger)
        } catch {
            logger.error("object failed its integrity check", metadata: ["key": "\(key)", "error": "\(error)"])
            throw ObjectContent.integrityFailure(key: key)
        }
        let segments: ClosedRange<Int64> = record.size == 0 ? 0...0 : try opener.segments(covering: range)
        let sealed = ObjectContent.sealedBytes(opener, segments)
        if sealed != Int64(ObjectHeader.encodedSize)..<guess {
            // The first read does not hold exactly these segments (a range further in, or a
            // blob of another segment size): read them on their own.
            do {
                reader = SealedReader(try await blobs.read(name: blobName, range: sealed), blobName: blobName)
            } catch .missing {
                throw try await missingBlob(found, logger: logger)
            } catch {
                throw ObjectContent.failure(error, key: key, logger: logger)
            }
        }
        return try await ObjectContent(range: range, segments: segments, opener: opener, reader: reader, key: key, logger: logger)
    }

    /// How many bytes from the blob's start a read of `range` needs if the blob was written
    /// with `segmentSize`: through the last segment the range touches when it starts in the
    /// first segment, else only the header.
    static func expectedBytes(range: Range<Int64>, size: Int64, segmentSize: Int) -> Int64 {
        let headerSize = Int64(ObjectHeader.encodedSize)
        let segment = Int64(segmentSize)
        guard range.lowerBound < segment || size == 0 else { return headerSize }
        let lastSegment = range.isEmpty ? 0 : (range.upperBound - 1) / segment
        let throughLast = headerSize + (lastSegment + 1) * (segment + Int64(AES256GCM.tagSize))
        return min(throughLast, ObjectHeader.fresh(segmentSize: segmentSize, dataKeyID: 0).blobSize(plaintextSize: size))
    }

    /// The blob `found` names is not there. If the row still names it, the metadata or the
    /// blobs were altered or lost: an integrity failure of this object, not a failing store. If
    /// the row changed, a write replaced or deleted the object meanwhile: ``Superseded``.
    private func missingBlob(_ found: Found, logger: Logger) async throws -> any Error {
        let current = try await storage { () async throws(StorageError) in try await metadata.object(user: found.user, key: found.key) }
        guard let current, current.blobName == found.record.blobName else {
            return Superseded(current: current.map { Found(user: found.user, key: found.key, record: $0) })
        }
        logger.error(
            "object failed its integrity check: its blob is missing", metadata: ["key": "\(found.key)", "blob": "\(current.blobName)"])
        return NodeError.integrity("the stored object '\(found.key)' has no blob under the name its metadata records")
    }

    /// Removes an object: its metadata row first (the moment it is gone), then its blob.
    func delete(caller: PeerIdentity, rawKey: Substring, logger: Logger) async throws {
        let (user, key) = try target(caller, rawKey)
        let removed: ObjectRecord?
        do {
            removed = try await metadata.delete(user: user, key: key)
        } catch {
            // The client's answer carries no detail (a 507 or a 500 `storage_failure`): log it here.
            logger.error("metadata delete failed", metadata: ["key": "\(key)", "error": "\(error)"])
            throw NodeError(error)
        }
        guard let removed else {
            throw APIError.notFound("no object '\(key)'", code: .noSuchObject)
        }
        await removeBlob(removed.blobName, logger)
    }

    /// The caller's objects whose keys start with `prefix`, after `startAfter`, in byte order.
    /// `limit` is the page size as the client wrote it (nil: the maximum); it is checked after
    /// the caller, so a non-user learns nothing from it.
    func list(caller: PeerIdentity, prefix: String, startAfter: String, limit limitText: String?) async throws -> Page {
        let user = try users.user(for: caller)
        guard let limit = Int(limitText ?? String(Self.maximumPageSize)), (1...Self.maximumPageSize).contains(limit) else {
            throw APIError.badRequest("limit must be an integer in 1-\(Self.maximumPageSize)", code: .invalidLimit)
        }
        let page = try await storage { () async throws(StorageError) in
            try await metadata.list(user: user, prefix: prefix, startAfter: startAfter, limit: limit + 1)
        }
        let objects = Array(page.prefix(limit))
        return Page(objects: objects, nextStartAfter: page.count > limit ? objects.last?.key : nil)
    }

    /// The user the caller acts as and the object key it names (percent-decoded and checked), in
    /// that order: who asks is decided before what is asked.
    private func target(_ caller: PeerIdentity, _ rawKey: Substring) throws(APIError) -> (user: String, key: String) {
        let user = try users.user(for: caller)
        return (user, try ObjectKey.parse(rawPath: rawKey))
    }

    private func removeBlob(_ name: String, _ logger: Logger) async {
        do {
            try await blobs.delete(name: name)
        } catch {
            // The metadata no longer names it; the collector removes it once past its grace.
            logger.warning("could not delete replaced blob", metadata: ["blob": "\(name)", "error": "\(error)"])
        }
    }

    private func tooLarge() -> APIError {
        APIError(.contentTooLarge, code: .payloadTooLarge, "objects are limited to \(maxObjectSize) bytes on this node")
    }

    private func storage<T>(_ body: () async throws(StorageError) -> T) async throws(NodeError) -> T {
        do {
            return try await body()
        } catch {
            throw NodeError(error)
        }
    }

    private func blobStore<T>(_ body: () async throws(BlobStoreError) -> T) async throws(NodeError) -> T {
        do {
            return try await body()
        } catch {
            throw NodeError(error)
        }
    }
}
