import Shared

/// A single HTTP byte range (RFC 9110 section 14.1), resolved against an object's size.
enum ByteRange {
    /// nil when the header is absent; otherwise the half-open range to serve.
    static func parse(_ header: String?, size: Int64) throws(APIError) -> Range<Int64>? {
        guard let header else { return nil }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes=") else {
            throw APIError.badRequest("Range must be 'bytes=START-END'", code: .invalidRange)
        }
        let spec = trimmed.dropFirst(6)
        guard !spec.contains(",") else {
            throw unsatisfiable(size, "only a single range is supported")
        }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw APIError.badRequest("Range must be 'bytes=START-END'", code: .invalidRange) }
        let first = parts[0].trimmingCharacters(in: .whitespaces)
        let last = parts[1].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            guard let suffix = number(last), suffix > 0 else { throw APIError.badRequest("invalid suffix range", code: .invalidRange) }
            guard size > 0 else { throw unsatisfiable(size, "the object is empty") }
            return max(0, size - suffix)..<size
        }
        guard let start = number(first) else { throw APIError.badRequest("invalid range start", code: .invalidRange) }
        var end = size - 1
        if !last.isEmpty {
            guard let e = number(last), e >= start else { throw APIError.badRequest("invalid range end", code: .invalidRange) }
            end = min(e, size - 1)
        }
        guard start < size else { throw unsatisfiable(size, "range starts past the end") }
        return start..<(end + 1)
    }

    /// RFC 9110's 1*DIGIT: no sign (`Int64("+1")` would take one). A number too large for Int64
    /// saturates instead of failing, so a huge end or suffix still clamps to the object and a
    /// huge start is past its end (416), as the documented rules say for any other value.
    static func number(_ text: String) -> Int64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int64(text) ?? .max
    }

    static func unsatisfiable(_ size: Int64, _ why: String) -> APIError {
        APIError(
            .rangeNotSatisfiable, code: .rangeNotSatisfiable, "\(why) (object size \(size))",
            headers: ["Content-Range": "bytes */\(size)"])
    }
}
