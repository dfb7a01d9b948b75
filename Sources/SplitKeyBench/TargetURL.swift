import ArgumentParser
import Foundation

/// The parts of an `https://HOST:PORT/PATH` URL the load generator needs.
struct TargetURL: Sendable {
    let host: String
    let port: Int
    let pathTemplate: String

    init(parsing text: String) throws {
        guard text.hasPrefix("https://") else {
            throw ValidationError("--url must start with https://")
        }
        let rest = text.dropFirst("https://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        pathTemplate = slash == rest.endIndex ? "/" : String(rest[slash...])
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? -1 : 443
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = String(authority)
            port = 443
        }
        guard !host.isEmpty, (1...65535).contains(port) else {
            throw ValidationError("--url '\(text)' has no valid host and port")
        }
    }

    func path(sequence: Int) -> String {
        pathTemplate.replacingOccurrences(of: "{n}", with: String(sequence))
    }
}
