import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Shared

/// `/v1/objects`: PUT, GET (with a single `Range`), HEAD, DELETE and LIST for the user named by
/// the client certificate.
///
/// Only HTTP is done here: the object key is taken from the path, the declared size from
/// `Content-Length`, the range from `Range`, the body as a stream; ``ObjectService`` decides and
/// acts, and its results become status lines, headers and bodies. A GET's first segment is
/// verified before the status line is sent, so damage there is a clean 500; damage further in
/// ends the body short of the announced `Content-Length`.
struct ObjectRoutes: Sendable {
    let objects: ObjectService

    static let prefix = StorageNodeAPI.Path.objects + "/"

    func register(on router: Router<SplitKeyRequestContext>) {
        router.put("/v1/objects/**") { request, context in try await logged(context) { try await put(request, context) } }
        router.get("/v1/objects/**") { request, context in try await logged(context) { try await get(request, context, headOnly: false) } }
        router.head("/v1/objects/**") { request, context in try await logged(context) { try await get(request, context, headOnly: true) } }
        router.delete("/v1/objects/**") { request, context in try await logged(context) { try await delete(request, context) } }
        router.get(RouterPath(StorageNodeAPI.Path.objects)) { request, context in
            try await logged(context) { try await list(request, context) }
        }
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

    /// The object key as the path carries it, still percent-encoded (the service decodes and checks it).
    private func rawKey(_ request: Request) throws(APIError) -> Substring {
        let path = request.uri.path
        guard path.hasPrefix(Self.prefix) else { throw APIError.badRequest("no object key in path", code: .invalidKey) }
        return path.dropFirst(Self.prefix.count)
    }

    private func put(_ request: Request, _ context: SplitKeyRequestContext) async throws -> Response {
        let stored = try await objects.put(
            caller: try context.requirePeer(),
            rawKey: try rawKey(request),
            declaredSize: request.headers[.contentLength].flatMap { Int64($0) },
            body: request.body,
            logger: context.logger
        )
        var response = try JSONResponse.make(Self.wire(stored.record), status: stored.replaced ? .ok : .created)
        response.headers[.eTag] = stored.record.etag
        return response
    }

    private func get(_ request: Request, _ context: SplitKeyRequestContext, headOnly: Bool) async throws -> Response {
        let (caller, key) = (try context.requirePeer(), try rawKey(request))
        let rangeHeader = request.headers[.range]
        let found: ObjectService.Found
        let range: Range<Int64>?
        let content: ObjectContent?
        if headOnly {
            found = try await objects.find(caller: caller, rawKey: key)
            range = try ByteRange.parse(rangeHeader, size: found.record.size)
            content = nil
        } else {
            let opened = try await objects.read(
                caller: caller, rawKey: key, range: { size in try ByteRange.parse(rangeHeader, size: size) }, logger: context.logger)
            (found, range, content) = (opened.found, opened.range, opened.content)
        }
        let record = found.record
        var headers: HTTPFields = [
            .contentType: "application/octet-stream",
            .eTag: record.etag,
            .lastModified: HTTPDate.string(record.createdAt),
            .acceptRanges: "bytes",
        ]
        let wanted = range ?? 0..<record.size
        headers[.contentLength] = String(wanted.count)
        if let range {
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(record.size)"
        }
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        guard let content else {
            return Response(status: status, headers: headers, body: .init())
        }
        let body = ResponseBody(contentLength: content.length) { writer in
            try await content.stream { try await writer.write(ByteBuffer(bytes: $0)) }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    private func delete(_ request: Request, _ context: SplitKeyRequestContext) async throws -> Response {
        try await objects.delete(caller: try context.requirePeer(), rawKey: try rawKey(request), logger: context.logger)
        return Response(status: .noContent)
    }

    private func list(_ request: Request, _ context: SplitKeyRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let page = try await objects.list(
            caller: try context.requirePeer(),
            prefix: query["prefix"].map(String.init) ?? "",
            startAfter: query["start-after"].map(String.init) ?? "",
            limit: query["limit"].map(String.init)
        )
        return try JSONResponse.make(StorageNodeAPI.ObjectList(objects: page.objects.map(Self.wire), nextStartAfter: page.nextStartAfter))
    }

    static func wire(_ record: ObjectRecord) -> StorageNodeAPI.StoredObject {
        StorageNodeAPI.StoredObject(
            key: record.key,
            size: record.size,
            etag: record.etag,
            lastModified: Timestamps.string(record.createdAt)
        )
    }
}
