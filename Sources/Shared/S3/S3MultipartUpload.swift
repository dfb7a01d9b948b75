import Crypto
import NIOCore

/// A multipart upload in progress: what ``S3Client/uploadPart(_:number:body:)``,
/// ``S3Client/completeMultipartUpload(_:parts:)`` and ``S3Client/abortMultipartUpload(_:)`` need.
///
/// Hazard: an upload that is neither completed nor aborted keeps its parts (and their storage)
/// in the bucket, invisible to listings; a caller that gives up on an upload aborts it.
public struct S3MultipartUpload: Sendable, Equatable {
    public var key: String
    public var uploadID: String

    public init(key: String, uploadID: String) {
        self.key = key
        self.uploadID = uploadID
    }

    /// Part numbers S3 accepts.
    public static let partNumbers = 1...10_000
    /// The smallest size of every part but the last (5 MiB); S3 refuses the completion otherwise.
    public static let minimumPartSize = 5 * 1024 * 1024

    static func parseInitiate(_ root: S3XMLElement, key: String) throws(S3Error) -> S3MultipartUpload {
        guard root.name == "InitiateMultipartUploadResult" else {
            throw .invalidResponse("expected InitiateMultipartUploadResult, got \(root.name)")
        }
        guard let id = root.text(of: "UploadId"), !id.isEmpty, id.utf8.count <= 1024 else {
            throw .invalidResponse("InitiateMultipartUploadResult has no UploadId")
        }
        return S3MultipartUpload(key: key, uploadID: id)
    }
}

/// A part the store has acknowledged.
public struct S3UploadedPart: Sendable, Equatable {
    public var number: Int
    /// As the store sent it, quotes included.
    public var etag: String

    public init(number: Int, etag: String) {
        self.number = number
        self.etag = etag
    }
}

/// The ETag rules of S3 without server-side encryption: a single PUT's ETag is the hex MD5 of the
/// body, a multipart object's is the hex MD5 of its parts' binary MD5s joined, then `-` and the
/// number of parts. S3-compatible stores that use other ETags (some encrypt at rest and hash
/// the ciphertext) get no check: only an ETag of exactly these forms is compared.
enum S3ETag {
    static func md5Hex(_ body: ByteBufferView) -> String {
        var md5 = Insecure.MD5()
        body.withContiguousStorageIfAvailable { md5.update(bufferPointer: UnsafeRawBufferPointer($0)) }
            ?? md5.update(data: Array(body))
        return Hex.encode(md5.finalize())
    }

    /// The 32 hex digits of a `"<md5>"` ETag, lower-cased; nil for any other form.
    static func plainMD5(_ etag: String) -> String? {
        let inner = unquoted(etag).lowercased()
        return inner.utf8.count == 32 && inner.utf8.allSatisfy(isHexDigit) ? inner : nil
    }

    /// The ETag a multipart object of these parts gets, when every part's ETag is a plain MD5.
    static func multipart(_ parts: [S3UploadedPart]) -> String? {
        var joined: [UInt8] = []
        for part in parts {
            guard let hex = plainMD5(part.etag) else { return nil }
            joined += hexBytes(hex)
        }
        return Hex.encode(Insecure.MD5.hash(data: joined)) + "-\(parts.count)"
    }

    /// The bytes of lower-case hex digits (already checked by ``plainMD5(_:)``).
    private static func hexBytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { i in
            (SigV4Encoding.hexValue(digits[i]) ?? 0) << 4 | (SigV4Encoding.hexValue(digits[i + 1]) ?? 0)
        }
    }

    static func unquoted(_ etag: String) -> String {
        var s = Substring(etag)
        if s.hasPrefix("W/") { s = s.dropFirst(2) }
        if s.count >= 2, s.first == "\"", s.last == "\"" { s = s.dropFirst().dropLast() }
        return String(s)
    }

    static func isHexDigit(_ b: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b)
    }
}
