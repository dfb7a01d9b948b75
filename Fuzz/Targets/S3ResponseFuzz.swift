// libFuzzer target: what the S3 client parses from the bytes an S3 store (or anything answering in
// its place) sends back: Sources/Shared/S3/S3XML.swift, S3Timestamp.swift, S3ObjectInfo.swift
// (`S3ListPage.parse`) and S3Error.swift (`sanitizedCode`, `description`), compiled in as they are
// (internal to Shared, hence `@testable import`). S3ErrorAnswer.swift, S3MultipartUpload.swift and
// S3Client.swift import swift-nio, swift-log and AsyncHTTPClient (S3ErrorAnswer needs S3Request,
// S3Settings and S3Transport), so their few lines between these calls are mirrored here:
// `S3ErrorAnswer.init`/`init?(okBody:)`/`error(for:settings:)`, `S3MultipartUpload.parseInitiate`
// and the CompleteMultipartUploadResult check of `completeMultipartUpload`.
//
// The whole input is one answer body (no mode byte, so the seeds are S3's answers byte for byte):
//   - `S3XML.parse`: a `ParseError` whose offset lies in the input, or a tree no deeper than
//     `S3XML.maximumDepth`, with at most `S3XML.maximumElements` elements and names made of name
//     bytes without a namespace prefix; re-encoded (text escaped, children after it) it parses back
//     to the same tree, and so does a second spelling of it (BOM, XML declaration, a namespace
//     prefix and an attribute on every name, text as CDATA or character references, comments);
//   - `S3ListPage.parse` on the tree: `.invalidResponse`, or a page of exactly the `Contents`
//     entries, whose keys, ETags, sizes (non-negative, the `Size` text's value) and dates are
//     those of the entries, with a continuation token exactly when the page is truncated; a
//     ListBucketResult written from the page parses back to the same page;
//   - the mirrored InitiateMultipartUploadResult, CompleteMultipartUploadResult and `<Error>`
//     readings: an upload id of 1...1024 bytes, an ETag and an error code that re-encode and parse
//     back; the error a caller sees (for every status S3 sends) carries the code only when it is
//     1...64 letters and digits, describes itself in printable ASCII, and is retryable only for
//     500, 503 and SlowDown;
//   - `S3Timestamp.iso8601` and `httpDate` on the whole input and on the text of each of the first
//     256 elements: nil, or a date that is the instant the text spells (checked against a calendar
//     computed here, not SigV4Date's), which re-formatted parses back to the same instant.
// Never a crash, trap, leak or hang.
//
// Known and tolerated: `httpDate` does not check the weekday; character references may name
// control characters XML 1.0 forbids (`&#1;`), and `UInt32(_:radix:)` takes a sign (`&#x+41;`);
// names are compared and split as Swift `String`s, so by Characters under canonical equivalence
// (`<\u{212A}ey>`, with a Kelvin sign, is a `Key`; a colon followed by a combining mark does not
// end a prefix). Names with bytes >= 0x80 are not valid S3 element names either way.
import Foundation

@testable import Shared

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkTimestamps(String(decoding: bytes, as: UTF8.self))
    let root: S3XMLElement
    do {
        root = try S3XML.parse(bytes)
    } catch {
        precondition((0...bytes.count).contains(error.offset), "parse error offset \(error.offset) outside the input")
        precondition(!error.description.isEmpty, "empty parse error")
        return 0
    }
    var stats = TreeStats()
    checkTree(root, depth: 1, stats: &stats)
    precondition(stats.elements <= S3XML.maximumElements, "\(stats.elements) elements accepted")
    if stats.longestName <= 250 {  // a name's invalid UTF-8 bytes come back as 3-byte U+FFFD
        checkReparse(root, plain(root), "the plain re-encoding")
        checkReparse(root, decorated(root), "the decorated re-encoding")
    }
    var budget = 256
    checkTexts(root, budget: &budget)
    checkListPage(root)
    checkInitiate(root)
    checkComplete(root)
    checkErrorAnswer(root)
    return 0
}

// MARK: - The tree

private struct TreeStats {
    var elements = 0
    var longestName = 0
}

private func isNameByte(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
    case UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ":"): true
    default: b >= 0x80
    }
}

private func checkTree(_ e: S3XMLElement, depth: Int, stats: inout TreeStats) {
    precondition(depth <= S3XML.maximumDepth, "an element at depth \(depth) accepted")
    stats.elements += 1
    let name = Array(e.name.utf8)
    precondition(!name.isEmpty && name.allSatisfy(isNameByte), "element name \(e.name.debugDescription)")
    // The local name: no prefix left (S3XML splits at ':' characters, so a colon that a combining
    // mark joins is not a separator), unless the whole name was colons (no local part).
    precondition(e.name.split(separator: ":").count == 1 || name.allSatisfy { $0 == UInt8(ascii: ":") }, "prefix kept in \(e.name)")
    stats.longestName = max(stats.longestName, name.count)
    for child in e.children { checkTree(child, depth: depth + 1, stats: &stats) }
}

private func checkReparse(_ root: S3XMLElement, _ encoded: [UInt8], _ what: String) {
    do {
        let again = try S3XML.parse(encoded)
        precondition(again == root, "\(what) parses to another tree")
    } catch {
        preconditionFailure("\(what) does not parse: \(error)")
    }
}

private func append(_ s: String, to out: inout [UInt8]) { out.append(contentsOf: s.utf8) }

private func containsBytes(_ text: String, _ needle: String) -> Bool {
    let (t, n) = (Array(text.utf8), Array(needle.utf8))
    return t.count >= n.count && (0...(t.count - n.count)).contains { t[$0..<($0 + n.count)].elementsEqual(n) }
}

private func escaped(_ text: String, into out: inout [UInt8]) {
    for b in text.utf8 {
        switch b {
        case UInt8(ascii: "&"): append("&amp;", to: &out)
        case UInt8(ascii: "<"): append("&lt;", to: &out)
        case UInt8(ascii: ">"): append("&gt;", to: &out)
        case UInt8(ascii: "\""): append("&quot;", to: &out)
        default: out.append(b)
        }
    }
}

/// `<name>text</name>` with the text escaped and the children after it.
private func plain(_ e: S3XMLElement) -> [UInt8] {
    var out: [UInt8] = []
    func write(_ e: S3XMLElement) {
        append("<\(e.name)>", to: &out)
        escaped(e.text, into: &out)
        for child in e.children { write(child) }
        append("</\(e.name)>", to: &out)
    }
    write(e)
    return out
}

/// The same tree spelled as S3 and its look-alikes might: BOM, declaration, a prefix and an
/// attribute on every (prefixable) name, text as CDATA (or as character references when it holds
/// `]]>`), split around a comment and a processing instruction, whitespace before `>` and `/>`.
private func decorated(_ root: S3XMLElement) -> [UInt8] {
    var out: [UInt8] = [0xEF, 0xBB, 0xBF]
    append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- S3 -->\n", to: &out)
    func write(_ e: S3XMLElement) {
        // A prefix only before an ASCII first byte: before a combining mark the colon would not separate.
        let name = e.name.utf8.contains(UInt8(ascii: ":")) || e.name.utf8.first! >= 0x80 ? e.name : "s3:" + e.name
        if e.text.isEmpty && e.children.isEmpty {
            append("<\(name) a='>' />", to: &out)
            return
        }
        append("<\(name) xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\" >", to: &out)
        if containsBytes(e.text, "]]>") {  // on bytes: as Characters, "]]>" + U+0341 holds no ">"
            for scalar in e.text.unicodeScalars {
                if scalar.value == 0 { out.append(0) } else { append("&#x\(String(scalar.value, radix: 16));", to: &out) }
            }
        } else {
            let text = Array(e.text.utf8)
            let half = text.count / 2
            append("<![CDATA[", to: &out)
            out += text[..<half]
            append("]]><!--c--><?pi x?><![CDATA[", to: &out)
            out += text[half...]
            append("]]>", to: &out)
        }
        for child in e.children { write(child) }
        append("</\(name)\n>", to: &out)
    }
    write(root)
    append("\n<!-- end --> ", to: &out)
    return out
}

// MARK: - ListObjectsV2

private func checkListPage(_ root: S3XMLElement) {
    let page: S3ListPage
    do {
        page = try S3ListPage.parse(root)
    } catch {
        guard case .invalidResponse = error else { preconditionFailure("ListBucketResult refused with \(error)") }
        _ = error.description
        return
    }
    precondition(root.name == "ListBucketResult", "a \(root.name) read as a listing")
    let entries = root.children(named: "Contents")
    precondition(page.objects.count == entries.count, "\(page.objects.count) objects from \(entries.count) entries")
    var modified: [String] = []
    for (object, entry) in zip(page.objects, entries) {
        precondition(object.key == entry.text(of: "Key"), "key \(object.key.debugDescription) is not the entry's")
        precondition(object.size >= 0, "negative size \(object.size)")
        precondition(entry.text(of: "Size").flatMap { Int64($0) } == object.size, "size \(object.size) is not the entry's")
        precondition(object.etag == entry.text(of: "ETag"), "ETag is not the entry's")
        let date = entry.text(of: "LastModified") ?? ""
        precondition(S3Timestamp.iso8601(date) == object.lastModified, "date is not the entry's")
        modified.append(date)
    }
    let truncated = root.text(of: "IsTruncated") == "true"
    if let token = page.nextContinuationToken {
        precondition(truncated && !token.isEmpty && token == root.text(of: "NextContinuationToken"), "a token on a last page")
    } else {
        precondition(!truncated, "a truncated page without a token")
    }
    // Written back as S3 would write this page, it reads as the same page.
    var out: [UInt8] = []
    append("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">", to: &out)
    for (object, date) in zip(page.objects, modified) {
        append("<Contents><Key>", to: &out)
        escaped(object.key, into: &out)
        append("</Key><LastModified>", to: &out)
        escaped(date, into: &out)
        append("</LastModified>", to: &out)
        if let etag = object.etag {
            append("<ETag>", to: &out)
            escaped(etag, into: &out)
            append("</ETag>", to: &out)
        }
        append("<Size>\(object.size)</Size></Contents>", to: &out)
    }
    if let token = page.nextContinuationToken {
        append("<IsTruncated>true</IsTruncated><NextContinuationToken>", to: &out)
        escaped(token, into: &out)
        append("</NextContinuationToken>", to: &out)
    }
    append("</ListBucketResult>", to: &out)
    do {
        let again = try S3ListPage.parse(try S3XML.parse(out))
        precondition(again == page, "a written page reads back as another page")
    } catch {
        preconditionFailure("a written page does not read back: \(error)")
    }
}

// MARK: - Multipart uploads (mirrored from S3MultipartUpload.parseInitiate and S3Client)

private func checkInitiate(_ root: S3XMLElement) {
    guard root.name == "InitiateMultipartUploadResult" else { return }
    guard let id = root.text(of: "UploadId"), !id.isEmpty, id.utf8.count <= 1024 else { return }
    var out: [UInt8] = []
    append("<InitiateMultipartUploadResult><Bucket>fuzz-bucket</Bucket><Key>k</Key><UploadId>", to: &out)
    escaped(id, into: &out)
    append("</UploadId></InitiateMultipartUploadResult>", to: &out)
    let again = try? S3XML.parse(out)
    precondition(again?.text(of: "UploadId") == id, "the upload id does not read back")
}

private func checkComplete(_ root: S3XMLElement) {
    // completeMultipartUpload: an <Error> in a 200 answer first, then the result's ETag.
    guard errorStatus(okBody: root) == nil, root.name == "CompleteMultipartUploadResult" else { return }
    let etag = root.text(of: "ETag") ?? ""
    var out: [UInt8] = []
    append("<CompleteMultipartUploadResult><Location>l</Location><ETag>", to: &out)
    escaped(etag, into: &out)
    append("</ETag></CompleteMultipartUploadResult>", to: &out)
    let again = try? S3XML.parse(out)
    precondition(again.map { $0.text(of: "ETag") ?? "" } == etag, "the completed ETag does not read back")
}

// MARK: - Error answers (mirrored from S3ErrorAnswer)

/// `S3ErrorAnswer.init?(okBody:headers:)`: the status a 200 answer's `<Error>` stands for.
private func errorStatus(okBody root: S3XMLElement) -> Int? {
    guard root.name == "Error" else { return nil }
    switch root.text(of: "Code") {
    case "InternalError": return 500
    case "SlowDown", "ServiceUnavailable": return 503
    default: return 400
    }
}

private let fuzzKey = "photos/cat.jpg"
private let fuzzBucket = "fuzz-bucket"
private let fuzzUpload = "fuzz-upload"

/// `S3ErrorAnswer.error(for:settings:)` for a request on `fuzzKey` (or on the bucket, `key` nil).
private func callerError(status: Int, code: String?, key: String?) -> S3Error {
    let sanitized = S3Error.sanitizedCode(code)
    switch code {
    case "NoSuchKey": return .noSuchKey(key ?? "")
    case "NoSuchBucket": return .noSuchBucket(fuzzBucket)
    case "NoSuchUpload": return .noSuchUpload(fuzzUpload)
    case "SignatureDoesNotMatch", "RequestTimeTooSkewed", "AuthorizationHeaderMalformed", "IncompleteSignature":
        return .signatureDoesNotMatch(sanitized)
    case "AccessDenied", "InvalidAccessKeyId", "AllAccessDisabled", "InvalidToken", "ExpiredToken":
        return .accessDenied(sanitized)
    case "SlowDown": return .slowDown
    case "InvalidRange": return .invalidRange
    default: break
    }
    switch status {
    case 404 where code == nil: return key.map { .noSuchKey($0) } ?? .noSuchBucket(fuzzBucket)
    case 403 where code == nil: return .accessDenied("HTTP 403")
    case 416: return .invalidRange
    default: return .server(status: status, code: sanitized)
    }
}

private func isPrintableASCII(_ s: String) -> Bool { s.utf8.allSatisfy { (0x20...0x7E).contains($0) } }

private func checkErrorAnswer(_ root: S3XMLElement) {
    // S3ErrorAnswer.init(status:headers:body:): the code of an <Error> body, whatever the status.
    let code = root.name == "Error" ? root.text(of: "Code") : nil
    let sanitized = S3Error.sanitizedCode(code)
    let looksLikeCode = code.map { (1...64).contains($0.utf8.count) && $0.utf8.allSatisfy(SigV4Authorization.isAlphanumeric) }
    precondition(sanitized == (looksLikeCode == true ? code! : "no error code"), "code \(String(describing: code)) shown as \(sanitized)")
    if let code {
        var out: [UInt8] = []
        append("<Error><Code>", to: &out)
        escaped(code, into: &out)
        append("</Code><Message>m</Message></Error>", to: &out)
        precondition((try? S3XML.parse(out))?.text(of: "Code") == code, "the error code does not read back")
    }
    var statuses = [400, 403, 404, 409, 416, 500, 503]
    if let status = errorStatus(okBody: root) { statuses.append(status) }
    for status in statuses {
        for key in [fuzzKey, nil] {
            let error = callerError(status: status, code: code, key: key)
            precondition(isPrintableASCII(error.description), "an unprintable error description")
            if case .server(_, let shown) = error { precondition(shown == sanitized, "server error shows \(shown)") }
            precondition(!error.isRetryable || status == 500 || status == 503 || error == .slowDown, "\(error) is retryable")
        }
    }
}

// MARK: - Timestamps

private func checkTexts(_ e: S3XMLElement, budget: inout Int) {
    guard budget > 0 else { return }
    budget -= 1
    if e.text.utf8.count <= 64 { checkTimestamps(e.text) }
    for child in e.children { checkTexts(child, budget: &budget) }
}

/// Days from 1970-01-01 to `year-month-day` (proleptic Gregorian), counted by leap years rather
/// than with SigV4Date's era arithmetic.
private func epochDays(_ year: Int, _ month: Int, _ day: Int) -> Int {
    func leapYearsBefore(_ y: Int) -> Int { (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400 }  // in 0..<y, y >= 0
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
    let dayOfYear = cumulative[month - 1] + (leap && month > 2 ? 1 : 0) + day - 1
    return 365 * (year - 1970) + leapYearsBefore(year) - leapYearsBefore(1970) + dayOfYear
}

private func daysInMonth(_ year: Int, _ month: Int) -> Int {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
}

private func digits(_ b: [UInt8], _ range: Range<Int>) -> Int? {
    guard !range.isEmpty, range.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[$0]) }) else { return nil }
    return range.reduce(0) { $0 * 10 + Int(b[$1] - UInt8(ascii: "0")) }
}

/// The instant a valid date and time stand for, or nil if the fields are out of range.
private func instant(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int) -> Int? {
    guard (1...12).contains(mo), d >= 1, d <= daysInMonth(y, mo), h < 24, mi < 60, s <= 60 else { return nil }
    return epochDays(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
}

private func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
private func four(_ v: Int) -> String { String(repeating: "0", count: max(0, 4 - "\(v)".count)) + "\(v)" }

private let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

private func checkTimestamps(_ text: String) {
    let b = Array(text.utf8)
    if let date = S3Timestamp.iso8601(text) {
        precondition((20...30).contains(b.count) && b.last == UInt8(ascii: "Z"), "ISO 8601 \(text.debugDescription) accepted")
        precondition(zip([4, 7, 10, 13, 16], "--T::".utf8).allSatisfy { b[$0] == $1 }, "ISO 8601 \(text.debugDescription) accepted")
        let fields = [0..<4, 5..<7, 8..<10, 11..<13, 14..<16, 17..<19].compactMap { digits(b, $0) }
        guard fields.count == 6, let seconds = instant(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]) else {
            preconditionFailure("ISO 8601 \(text.debugDescription) accepted")
        }
        let t = date.timeIntervalSince1970
        if b.count == 20 {
            precondition(t == Double(seconds), "\(text) read as \(t), not \(seconds)")
        } else {
            precondition(b[19] == UInt8(ascii: ".") && digits(b, 20..<(b.count - 1)) != nil, "fraction of \(text.debugDescription)")
            // The fraction, added to a large number of seconds, may round up to the next second.
            precondition(t >= Double(seconds) && t <= Double(seconds) + 1, "\(text) read as \(t), not \(seconds).x")
        }
        let whole =
            four(fields[0]) + "-" + two(fields[1]) + "-" + two(fields[2]) + "T" + two(fields[3]) + ":" + two(fields[4]) + ":"
            + two(fields[5]) + "Z"
        precondition(S3Timestamp.iso8601(whole)?.timeIntervalSince1970 == Double(seconds), "\(whole) does not read back")
    }
    if let date = S3Timestamp.httpDate(text) {
        precondition(b.count == 29 && Array(b[25...]) == Array(" GMT".utf8), "HTTP date \(text.debugDescription) accepted")
        precondition(zip([3, 4, 7, 11, 16, 19, 22], ",    ::".utf8).allSatisfy { b[$0] == $1 }, "HTTP date \(text.debugDescription)")
        guard let month = monthNames.firstIndex(where: { Array($0.utf8) == Array(b[8..<11]) }),
            let day = digits(b, 5..<7), let year = digits(b, 12..<16), let hour = digits(b, 17..<19),
            let minute = digits(b, 20..<22), let second = digits(b, 23..<25),
            let seconds = instant(year, month + 1, day, hour, minute, second)
        else { preconditionFailure("HTTP date \(text.debugDescription) accepted") }
        precondition(date.timeIntervalSince1970 == Double(seconds), "\(text) read as \(date.timeIntervalSince1970), not \(seconds)")
        // Re-formatted with the weekday the date really has (1970-01-01 was a Thursday).
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((epochDays(year, month + 1, day) % 7) + 7) % 7]
        let formatted = "\(weekday), \(two(day)) \(monthNames[month]) \(four(year)) \(two(hour)):\(two(minute)):\(two(second)) GMT"
        precondition(S3Timestamp.httpDate(formatted) == date, "\(formatted) does not read back")
    }
}
