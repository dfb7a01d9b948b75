import Foundation

/// RFC 3339 UTC timestamps (`2026-11-29T10:11:00Z`) as the API, the stores and the audit trail
/// write them.
///
/// A value-type format style instead of `ISO8601DateFormatter`: creating that formatter cost
/// more than the rest of an audit record, and one instance cannot be shared across threads.
public enum Timestamps {
    public static func string(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    public static func date(_ text: String) -> Date? {
        try? Date(text, strategy: .iso8601)
    }
}
