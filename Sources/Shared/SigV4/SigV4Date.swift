import Foundation

/// The SigV4 timestamp `yyyyMMdd'T'HHmmss'Z'` (ISO 8601 basic format, UTC), as `X-Amz-Date` carries it.
///
/// Parsed and formatted by hand with the civil-calendar algorithms of H. Hinnant rather than a
/// `DateFormatter`: the format has no locale or time zone, one formatter cannot be shared across
/// threads, and a strict parser refuses `20150230T...` (no 30 February) instead of rolling over.
public enum SigV4Date {
    /// Last second the four-digit year of the format can express (9999-12-31T23:59:59Z).
    static let latest: Int64 = 253_402_300_799

    /// `date` in whole seconds (rounded down), e.g. `20150830T123600Z`; clamped to
    /// 0000-01-01...9999-12-31 (and a NaN date to 1970), which no real clock reaches.
    public static func string(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        let seconds = t.isNaN ? 0 : Int64(min(max(t.rounded(.down), -62_167_219_200), Double(latest)))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var yearText = "\(year)"
        while yearText.count < 4 { yearText = "0" + yearText }
        return yearText + two(month) + two(day) + "T" + two(secondOfDay / 3600) + two(secondOfDay / 60 % 60)
            + two(secondOfDay % 60) + "Z"
    }

    /// The instant of a `yyyyMMdd'T'HHmmss'Z'` string, or nil unless the text is exactly that
    /// format with a real calendar date and a time in 00:00:00...23:59:59.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
                v = v * 10 + Int64(b[i] - UInt8(ascii: "0"))
            }
            return v
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = days(fromCivil: year, month, day)
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second))
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
