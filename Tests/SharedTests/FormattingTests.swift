import Foundation
import Shared
import Testing

/// The hand-written formatters that replaced Foundation formatters on hot paths must produce
/// exactly what the replaced ones did.
struct FormattingTests {
    @Test func httpDateIsIMFFixdate() {
        // The example of RFC 9110, section 5.6.7.
        #expect(HTTPDate.string(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.string(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 GMT")
        // Fractions are cut, not rounded up into the next second.
        #expect(HTTPDate.string(Date(timeIntervalSince1970: 1_795_946_399.999)) == "Sun, 29 Nov 2026 09:59:59 GMT")
    }

    @Test func httpDateMatchesDateFormatterOverManyDates() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let date = Date(timeIntervalSince1970: TimeInterval(UInt32.random(in: 0...UInt32.max, using: &generator)))
            #expect(HTTPDate.string(date) == formatter.string(from: date))
        }
    }

    @Test func timestampsRoundTripAndMatchISO8601DateFormatter() {
        let date = Date(timeIntervalSince1970: 1_795_946_400)
        #expect(Timestamps.string(date) == "2026-11-29T10:00:00Z")
        #expect(Timestamps.string(date) == ISO8601DateFormatter().string(from: date))
        #expect(Timestamps.date("2026-11-29T10:00:00Z") == date)
        #expect(Timestamps.date("not a date") == nil)
    }

    @Test func hexIsLowerCaseTwoDigitsPerByte() {
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.encode([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        let bytes = (0...255).map { UInt8($0) }
        #expect(Hex.encode(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
    }
}
