import Foundation

/// What S3 says about an object, from a HEAD or a listing entry.
public struct S3ObjectInfo: Sendable, Equatable {
    public var key: String
    /// Bytes.
    public var size: Int64
    public var lastModified: Date
    /// As the store sent it, quotes included (`"d41d8cd98f00b204e9800998ecf8427e"`); the MD5 of
    /// the bytes for a single PUT, `"<hex>-<parts>"` for a multipart upload. Nil if not sent.
    public var etag: String?

    public init(key: String, size: Int64, lastModified: Date, etag: String?) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
        self.etag = etag
    }
}

/// One page of ListObjectsV2.
public struct S3ListPage: Sendable, Equatable {
    /// In key order (UTF-8 byte order, as S3 lists).
    public var objects: [S3ObjectInfo]
    /// Pass to the next ``S3Client/listObjectsV2(prefix:continuationToken:maxKeys:)`` call; nil
    /// on the last page.
    public var nextContinuationToken: String?

    public init(objects: [S3ObjectInfo], nextContinuationToken: String?) {
        self.objects = objects
        self.nextContinuationToken = nextContinuationToken
    }

    /// Parses a `ListBucketResult`.
    static func parse(_ root: S3XMLElement) throws(S3Error) -> S3ListPage {
        guard root.name == "ListBucketResult" else { throw .invalidResponse("expected ListBucketResult, got \(root.name)") }
        var objects: [S3ObjectInfo] = []
        for entry in root.children(named: "Contents") {
            guard let key = entry.text(of: "Key") else { throw .invalidResponse("a listing entry has no Key") }
            guard let sizeText = entry.text(of: "Size"), let size = Int64(sizeText), size >= 0 else {
                throw .invalidResponse("listing entry '\(key)' has no valid Size")
            }
            guard let modified = entry.text(of: "LastModified").flatMap(S3Timestamp.iso8601) else {
                throw .invalidResponse("listing entry '\(key)' has no valid LastModified")
            }
            objects.append(S3ObjectInfo(key: key, size: size, lastModified: modified, etag: entry.text(of: "ETag")))
        }
        let truncated = root.text(of: "IsTruncated") == "true"
        let token = root.text(of: "NextContinuationToken").flatMap { $0.isEmpty ? nil : $0 }
        // A truncated page without a token would make a caller list the first page for ever.
        if truncated && token == nil { throw .invalidResponse("a truncated listing without NextContinuationToken") }
        return S3ListPage(objects: objects, nextContinuationToken: truncated ? token : nil)
    }
}
