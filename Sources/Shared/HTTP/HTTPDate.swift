import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP date of RFC 9110 (IMF-fixdate, `Sun, 29 Nov 2026 10:11:00 GMT`) for `Last-Modified`.
///
/// Built from `gmtime_r` rather than a `DateFormatter`: making and configuring a formatter per
/// response was the largest single cost of a small GET (ICU set-up, about 18% of the node's CPU),
/// and the format has no locale to honour.
public enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func string(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
