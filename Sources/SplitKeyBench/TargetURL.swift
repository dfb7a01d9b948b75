import ArgumentParser
import Foundation

/// The parts of an `https://HOST:PORT/PATH` (or, for a plain-HTTP server such as an S3 store on
/// loopback, `http://HOST:PORT/PATH`) URL the load generator needs.
struct TargetURL: Sendable {
    /// false for `http://`: plain TCP, no TLS and no client certificate.
    let tls: Bool
    let host: String
    let port: Int
    let pathTemplate: String

    var scheme: String { tls ? "https" : "http" }

    init(parsing text: String) throws {
        if text.hasPrefix("https://") {
            tls = true
        } else if text.hasPrefix("http://") {
            tls = false
        } else {
            throw ValidationError("--url must start with https:// (or http:// for a plain-HTTP server)")
        }
        let rest = text.dropFirst(tls ? "https://".count : "http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        pathTemplate = slash == rest.endIndex ? "/" : String(rest[slash...])
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? -1 : (tls ? 443 : 80)
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = String(authority)
            port = tls ? 443 : 80
        }
        guard !host.isEmpty, (1...65535).contains(port) else {
            throw ValidationError("--url '\(text)' has no valid host and port")
        }
    }

    func path(sequence: Int) -> String {
        pathTemplate.replacingOccurrences(of: "{n}", with: String(sequence))
    }
}
