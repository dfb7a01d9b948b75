import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Shared

/// `/v1/objects`: PUT, GET (with a single `Range`), HEAD, DELETE and LIST for the user named by
/// the client certificate.
///
/// Rules kept here:
/// - A body larger than `maxObjectSize` is refused with 413: up front when Content-Length says
///   so, otherwise as soon as the stream passes the limit; nothing of it is kept.
/// - An object exists once its metadata commit returns, after its blob is durable.
/// - No plaintext leaves before its segment's tag verified. The first segment is verified before
///   the status line is sent, so damage there is a clean 500; damage further in aborts the
///   connection before the altered segment, short of the announced Content-Length.
struct ObjectRoutes: Sendable {
    let metadata: any MetadataStore
    let blobs: FileBlobStore
    let dataKeys: DataKeys
    let users: UserResolver
    let maxObjectSize: Int64
    let segmentSize: Int

    static let prefix = StorageNodeAPI.Path.objects + "/"

    func register(on router: Router<SplitKeyRequestContext>) {
        router.put("/v1/objects/**") { request, context in try await logged(context) { try await put(request, context) } }
        router.get("/v1/objects/**") { request, context in try await logged(context) { try await get(request, context, headOnly: false) } }
        router.head("/v1/objects/**") { request, context in try await logged(context) { try await get(request, context, headOnly: true) } }
        router.delete("/v1/objects/**") { request, context in try await logged(context) { try await delete(request, context) } }
        router.get(RouterPath(StorageNodeAPI.Path.objects)) { request, context in try await logged(context) { try await list(request, context) } }
    }

    /// Puts what a ``NodeError`` keeps from the client (the KeyService's refusal text, the
    /// store's error) in the node log, under the request id the client's answer carries.
    private func logged(_ context: SplitKeyRequestContext, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as NodeError {
            if let cause = error.cause {
                let level: Logger.Level = error.api.status.code >= 500 ? .error : .notice
                context.logger.log(level: level, "request failed", metadata: ["code": "\(error.api.code)", "detail": "\(cause)"])
            }
            throw error
        }
    }

    private func target(_ request: Request, _ context: SplitKeyRequestContext) throws -> (user: String, key: String) {
        let user = try users.user(for: try context.requirePeer())
        let path = request.uri.path
        guard path.hasPrefix(Self.prefix) else { throw APIError.badRequest("no object key in path", code: .invalidKey) }
        return (user, try ObjectKey.parse(rawPath: path.dropFirst(Self.prefix.count)))
    }

    private func put(_ request: Request, _ context: SplitKeyRequestContext) async throws -> Response {
        let (user, key) = try target(request, context)
        if let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared > maxObjectSize {
            throw tooLarge()
        }
        let (dataKeyID, dataKey) = try await dataKeys.forWrite(user: user)
        let header = ObjectHeader.fresh(segmentSize: segmentSize, dataKeyID: UInt64(dataKeyID))
        var sealer = try ObjectSealer(dataKey: dataKey, header: header, userID: user, objectKey: key)
        let writer = try await storage { () async throws(StorageError) in try await blobs.create() }
        do {
            for try await buffer in request.body {
                guard sealer.plaintextSize + Int64(buffer.readableBytes) <= maxObjectSize else { throw tooLarge() }
                let sealed = try sealer.append(buffer.readableBytesView)
                try await storage { () async throws(StorageError) in try await writer.write(sealed) }
            }
            let last = try sealer.finish()
            try await storage { () async throws(StorageError) in
                try await writer.write(last)
                try await writer.commit()
            }
        } catch {
            await writer.abort()
            if let nodeError = error as? NodeError, nodeError.api.code == .storageFailure || nodeError.api.code == .insufficientStorage
            {
                context.logger.error("object write failed", metadata: ["key": "\(key)", "error": "\(error)"])
            }
            throw error
        }
        let record = ObjectRecord(
            userID: user,
            key: key,
            blobName: writer.name,
            writeID: header.writeID,
            dataKeyID: dataKeyID,
            size: sealer.plaintextSize,
            createdAt: Date()
        )
        let replaced: ObjectRecord?
        do {
            replaced = try await metadata.put(record)
        } catch {
            try? await blobs.delete(writer.name)
            context.logger.error("metadata commit failed", metadata: ["key": "\(key)", "error": "\(error)"])
            throw NodeError(error)
        }
        if let replaced { await removeBlob(replaced.blobName, context) }
        var response = try JSONResponse.make(Self.wire(record), status: replaced == nil ? .created : .ok)
        response.headers[.eTag] = record.etag
        return response
    }

    private func get(_ request: Request, _ context: SplitKeyRequestContext, headOnly: Bool) async throws -> Response {
        let (user, key) = try target(request, context)
        guard let record = try await storage({ () async throws(StorageError) in try await metadata.object(user: user, key: key) }) else {
            throw APIError.notFound("no object '\(key)'", code: .noSuchObject)
        }
        // A size no write can record means the metadata was altered; refuse before the size
        // shapes a range or a Content-Length (a negative one used to stop the node).
        guard record.size >= 0 else {
            throw NodeError.integrity("the stored object '\(key)' has an impossible size in its metadata")
        }
        var headers: HTTPFields = [
            .contentType: "application/octet-stream",
            .eTag: record.etag,
            .lastModified: Self.httpDate(record.createdAt),
            .acceptRanges: "bytes",
        ]
        let range = try ByteRange.parse(request.headers[.range], size: record.size)
        let wanted = range ?? 0..<record.size
        headers[.contentLength] = String(wanted.count)
        if let range {
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(record.size)"
        }
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        if headOnly {
            return Response(status: status, headers: headers, body: .init())
        }
        let dataKey = try await dataKeys.forRead(user: user, dataKeyID: record.dataKeyID)
        let reader: BlobReader
        do {
            reader = try await blobs.openForReading(record.blobName)
        } catch {
            if case .integrity = error { throw NodeError(error) }
            // The metadata names a blob that is not there: metadata or blobs were altered or lost.
            // That is an integrity failure of this object, not a failing disk.
            if let path = try? blobs.path(of: record.blobName), !FileManager.default.fileExists(atPath: path) {
                throw NodeError.integrity("the stored object '\(key)' has no blob under the name its metadata records")
            }
            throw NodeError(error)
        }
        let opener: ObjectOpener
        do {
            let headerBytes = try await reader.read(offset: 0, length: min(Int(reader.size), ObjectHeader.encodedSize))
            let header = try ObjectHeader(encoded: headerBytes)
            guard header.dataKeyID == UInt64(record.dataKeyID) else { throw ObjectFormatError.integrity(segment: 0) }
            opener = try ObjectOpener(
                dataKey: dataKey,
                header: header,
                blobSize: reader.size,
                userID: user,
                objectKey: key,
                expectedWriteID: record.writeID
            )
            guard opener.plaintextSize == record.size else { throw ObjectFormatError.truncated }
        } catch {
            throw integrityFailure(error, key: key, context)
        }
        let segments: ClosedRange<Int64> = record.size == 0 ? 0...0 : try opener.segments(covering: wanted)
        let first = try await openSegment(segments.lowerBound, opener, reader, key: key, context)
        let segmentSize = Int64(opener.header.segmentSize)
        let logger = context.logger
        let body = ResponseBody(contentLength: Int(wanted.count)) { writer in
            for index in segments {
                let plain: [UInt8]
                if index == segments.lowerBound {
                    plain = first
                } else {
                    plain = try await openSegment(index, opener, reader, key: key, logger: logger)
                }
                let start = index * segmentSize
                let lo = Int(max(wanted.lowerBound, start) - start)
                let hi = Int(min(wanted.upperBound, start + Int64(plain.count)) - start)
                if hi > lo { try await writer.write(ByteBuffer(bytes: plain[lo..<hi])) }
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    private func openSegment(
        _ index: Int64,
        _ opener: ObjectOpener,
        _ reader: BlobReader,
        key: String,
        _ context: SplitKeyRequestContext
    ) async throws -> [UInt8] {
        try await openSegment(index, opener, reader, key: key, logger: context.logger)
    }

    private func openSegment(_ index: Int64, _ opener: ObjectOpener, _ reader: BlobReader, key: String, logger: Logger) async throws
        -> [UInt8]
    {
        let where_ = opener.sealedRange(segment: index)
        do {
            let sealed = try await reader.read(offset: where_.offset, length: where_.length)
            return try opener.open(segment: index, sealed: sealed)
        } catch {
            logger.error("object failed its integrity check", metadata: ["key": "\(key)", "segment": "\(index)", "error": "\(error)"])
            throw NodeError.integrity("object '\(key)' failed its integrity check: the stored data was altered")
        }
    }

    private func delete(_ request: Request, _ context: SplitKeyRequestContext) async throws -> Response {
        let (user, key) = try target(request, context)
        let removed: ObjectRecord?
        do {
            removed = try await metadata.delete(user: user, key: key)
        } catch {
            // The client's answer carries no detail (a 507 or a 500 `storage_failure`): log it here.
            context.logger.error("metadata delete failed", metadata: ["key": "\(key)", "error": "\(error)"])
            throw NodeError(error)
        }
        guard let removed else {
            throw APIError.notFound("no object '\(key)'", code: .noSuchObject)
        }
        await removeBlob(removed.blobName, context)
        return Response(status: .noContent)
    }

    private func list(_ request: Request, _ context: SplitKeyRequestContext) async throws -> Response {
        let user = try users.user(for: try context.requirePeer())
        let query = request.uri.queryParameters
        let prefix = query["prefix"].map(String.init) ?? ""
        let startAfter = query["start-after"].map(String.init) ?? ""
        let limitText = query["limit"].map(String.init) ?? "1000"
        guard let limit = Int(limitText), (1...1000).contains(limit) else {
            throw APIError.badRequest("limit must be an integer in 1-1000", code: .invalidLimit)
        }
        let page = try await storage { () async throws(StorageError) in
            try await metadata.list(user: user, prefix: prefix, startAfter: startAfter, limit: limit + 1)
        }
        let objects = page.prefix(limit).map(Self.wire)
        return try JSONResponse.make(
            StorageNodeAPI.ObjectList(objects: objects, nextStartAfter: page.count > limit ? objects.last?.key : nil))
    }

    private func removeBlob(_ name: String, _ context: SplitKeyRequestContext) async {
        do {
            try await blobs.delete(name)
        } catch {
            // The metadata no longer names it; the start-up sweep removes it if this failed.
            context.logger.warning("could not delete replaced blob", metadata: ["blob": "\(name)", "error": "\(error)"])
        }
    }

    private func integrityFailure(_ error: any Error, key: String, _ context: SplitKeyRequestContext) -> NodeError {
        context.logger.error("object failed its integrity check", metadata: ["key": "\(key)", "error": "\(error)"])
        return NodeError.integrity("object '\(key)' failed its integrity check: the stored data was altered")
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

    static func wire(_ record: ObjectRecord) -> StorageNodeAPI.StoredObject {
        StorageNodeAPI.StoredObject(
            key: record.key,
            size: record.size,
            etag: record.etag,
            lastModified: Timestamps.string(record.createdAt)
        )
    }

    static func httpDate(_ date: Date) -> String {
        HTTPDate.string(date)
    }
}
