import Foundation

/// The two timestamp forms of S3 answers: ISO 8601 in XML (`2026-12-02T07:41:43.000Z`, with or
/// without fractional seconds) and the HTTP date of `Last-Modified` (`Wed, 02 Dec 2026 07:41:43 GMT`).
///
/// Parsed by hand, as ``SigV4Date`` is: a listing of 1000 keys has 1000 of them, and Foundation's
/// ISO 8601 style does not take the fractional seconds S3 writes.
enum S3Timestamp {
    /// `yyyy-MM-ddTHH:mm:ss[.fraction]Z` (UTC only).
    static func iso8601(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b.last == UInt8(ascii: "Z")
        else { return nil }
        guard let year = number(b, 0..<4), let month = number(b, 5..<7), let day = number(b, 8..<10),
            let hour = number(b, 11..<13), let minute = number(b, 14..<16), let second = number(b, 17..<19)
        else { return nil }
        var fraction = 0.0
        if b.count > 20 {
            guard b[19] == UInt8(ascii: "."), b.count <= 30, let digits = number(b, 20..<(b.count - 1)) else { return nil }
            fraction = Double(digits) / pow(10, Double(b.count - 21))
        } else {
            guard b[19] == UInt8(ascii: "Z") else { return nil }
        }
        return date(year: year, month: month, day: day, hour: hour, minute: minute, second: second, fraction: fraction)
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate, `Wed, 02 Dec 2026 07:41:43 GMT` (RFC 9110's preferred form, which S3 sends).
    static func httpDate(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 29, b[3] == UInt8(ascii: ","), b[4] == UInt8(ascii: " "), b[7] == UInt8(ascii: " "),
            b[11] == UInt8(ascii: " "), b[16] == UInt8(ascii: " "), b[19] == UInt8(ascii: ":"), b[22] == UInt8(ascii: ":"),
            text.hasSuffix(" GMT")
        else { return nil }
        let monthName = String(decoding: b[8..<11], as: UTF8.self)
        guard let monthIndex = months.firstIndex(of: monthName), let day = number(b, 5..<7), let year = number(b, 12..<16),
            let hour = number(b, 17..<19), let minute = number(b, 20..<22), let second = number(b, 23..<25)
        else { return nil }
        return date(year: year, month: Int64(monthIndex + 1), day: day, hour: hour, minute: minute, second: second, fraction: 0)
    }

    private static func number(_ b: [UInt8], _ range: Range<Int>) -> Int64? {
        guard !range.isEmpty else { return nil }
        var v: Int64 = 0
        for i in range {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
            v = v * 10 + Int64(b[i] - UInt8(ascii: "0"))
        }
        return v
    }

    private static func date(year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, fraction: Double)
        -> Date?
    {
        guard (1...12).contains(month), day >= 1, day <= SigV4Date.daysIn(month: month, year: year), hour < 24, minute < 60,
            second < 61  // a leap second as S3 might write it
        else { return nil }
        let days = SigV4Date.days(fromCivil: year, month, day)
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second) + fraction)
    }
}
