/// The StorageNode's HTTP API (HTTPS with a user's client certificate, under `/v1/`).
///
/// Objects live at `/v1/objects/KEY` (PUT, GET with `Range`, HEAD, DELETE); `GET /v1/objects`
/// lists them. Object bodies are raw bytes; everything else is JSON.
public enum StorageNodeAPI {
    public enum Path {
        public static let objects = "/v1/objects"
        public static let health = "/v1/health"
    }

    public struct StoredObject: Codable, Sendable, Equatable {
        public var key: String
        public var size: Int64
        public var etag: String
        public var lastModified: String

        public init(key: String, size: Int64, etag: String, lastModified: String) {
            self.key = key
            self.size = size
            self.etag = etag
            self.lastModified = lastModified
        }
    }

    public struct ObjectList: Codable, Sendable {
        public var objects: [StoredObject]
        /// Pass as `start-after` to get the next page; absent on the last page.
        public var nextStartAfter: String?

        public init(objects: [StoredObject], nextStartAfter: String?) {
            self.objects = objects
            self.nextStartAfter = nextStartAfter
        }
    }
}
