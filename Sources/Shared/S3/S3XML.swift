/// An element of an S3 XML answer: its local name (namespace prefix dropped), the character data
/// directly inside it (entities and CDATA decoded, not trimmed: a key's spaces are part of it),
/// and its child elements in order. Attributes are skipped; S3 answers carry none that matter.
struct S3XMLElement: Sendable, Equatable {
    var name: String
    var text: String
    var children: [S3XMLElement]

    func child(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }

    func children(named name: String) -> [S3XMLElement] { children.filter { $0.name == name } }

    /// The text of the first child called `name`.
    func text(of name: String) -> String? { child(name)?.text }
}

/// A small XML parser for the answers of S3, written here rather than taken from FoundationXML:
/// that one wraps libxml2, which a statically linked daemon would have to carry and which
/// understands DTDs and external entities that an answer from the network has no business using.
///
/// It reads elements, character data, the five predefined entities, character references, CDATA
/// sections, comments and processing instructions. A DOCTYPE is refused (so no entity can be
/// defined), as is anything malformed; depth and element count are bounded, and the caller bounds
/// the input's size. Not a validating or complete XML 1.0 parser: it accepts what S3 sends.
enum S3XML {
    static let maximumDepth = 32
    static let maximumElements = 100_000

    struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        var reason: String
        var offset: Int
        var description: String { "malformed XML at byte \(offset): \(reason)" }
    }

    static func parse(_ bytes: [UInt8]) throws(ParseError) -> S3XMLElement {
        var parser = Parser(bytes: bytes)
        return try parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0
        var elements = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }  // UTF-8 byte order mark
        }

        func fail(_ reason: String) -> ParseError { ParseError(reason: reason, offset: i) }

        func peek(_ literal: String) -> Bool {
            bytes[i...].starts(with: literal.utf8)
        }

        mutating func skipWhitespace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        /// Moves past the next `terminator`.
        mutating func skip(past terminator: String) throws(ParseError) {
            let t = Array(terminator.utf8)
            while i + t.count <= bytes.count {
                if bytes[i..<(i + t.count)].elementsEqual(t) {
                    i += t.count
                    return
                }
                i += 1
            }
            throw fail("no closing '\(terminator)'")
        }

        /// Skips a comment or processing instruction at `i`; false if neither starts here.
        mutating func skipMisc() throws(ParseError) -> Bool {
            if peek("<!--") {
                try skip(past: "-->")
                return true
            }
            if peek("<?") {
                try skip(past: "?>")
                return true
            }
            return false
        }

        mutating func document() throws(ParseError) -> S3XMLElement {
            while true {
                skipWhitespace()
                guard i < bytes.count else { throw fail("no root element") }
                if try skipMisc() { continue }
                if peek("<!") { throw fail("DOCTYPE and other declarations are not accepted") }
                break
            }
            let root = try element(depth: 1)
            while true {
                skipWhitespace()
                guard i < bytes.count else { return root }
                guard try skipMisc() else { throw fail("content after the root element") }
            }
        }

        static func isNameByte(_ b: UInt8) -> Bool {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            case UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ":"):
                true
            default:
                b >= 0x80  // non-ASCII name characters, taken as they are
            }
        }

        mutating func name() throws(ParseError) -> String {
            let start = i
            while i < bytes.count, Self.isNameByte(bytes[i]) { i += 1 }
            guard i > start, i - start <= 256 else { throw fail("expected an element name") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        /// An element starting at `<`.
        mutating func element(depth: Int) throws(ParseError) -> S3XMLElement {
            guard depth <= S3XML.maximumDepth else { throw fail("nested deeper than \(S3XML.maximumDepth) elements") }
            elements += 1
            guard elements <= S3XML.maximumElements else { throw fail("more than \(S3XML.maximumElements) elements") }
            guard i < bytes.count, bytes[i] == UInt8(ascii: "<") else { throw fail("expected '<'") }
            i += 1
            let qualified = try name()
            let local = qualified.split(separator: ":").last.map(String.init) ?? qualified
            var result = S3XMLElement(name: local, text: "", children: [])
            // Attributes: skipped, but their form is checked so a stray '>' in a value cannot end the tag.
            while true {
                skipWhitespace()
                guard i < bytes.count else { throw fail("unterminated start tag <\(qualified)>") }
                if bytes[i] == UInt8(ascii: "/") {
                    guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: ">") else { throw fail("expected '/>'") }
                    i += 2
                    return result
                }
                if bytes[i] == UInt8(ascii: ">") {
                    i += 1
                    break
                }
                _ = try name()
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { throw fail("expected '=' after an attribute name") }
                i += 1
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") else {
                    throw fail("expected a quoted attribute value")
                }
                let quote = bytes[i]
                i += 1
                while i < bytes.count, bytes[i] != quote {
                    guard bytes[i] != UInt8(ascii: "<") else { throw fail("'<' in an attribute value") }
                    i += 1
                }
                guard i < bytes.count else { throw fail("unterminated attribute value") }
                i += 1
            }
            var text: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("<\(qualified)> is not closed") }
                if bytes[i] != UInt8(ascii: "<") {
                    try characterData(into: &text)
                } else if peek("</") {
                    i += 2
                    let closing = try name()
                    guard closing == qualified else { throw fail("</\(closing)> closes <\(qualified)>") }
                    skipWhitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ">") else { throw fail("expected '>'") }
                    i += 1
                    result.text = String(decoding: text, as: UTF8.self)
                    return result
                } else if peek("<![CDATA[") {
                    i += 9
                    let start = i
                    try skip(past: "]]>")
                    text.append(contentsOf: bytes[start..<(i - 3)])
                } else if try skipMisc() {
                    continue
                } else if peek("<!") {
                    throw fail("a declaration inside an element")
                } else {
                    result.children.append(try element(depth: depth + 1))
                }
            }
        }

        /// Text up to the next `<`, with entity and character references decoded.
        mutating func characterData(into text: inout [UInt8]) throws(ParseError) {
            while i < bytes.count, bytes[i] != UInt8(ascii: "<") {
                guard bytes[i] == UInt8(ascii: "&") else {
                    text.append(bytes[i])
                    i += 1
                    continue
                }
                guard let semicolon = bytes[i...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                    throw fail("'&' without a reference")
                }
                let reference = String(decoding: bytes[(i + 1)..<semicolon], as: UTF8.self)
                switch reference {
                case "lt": text.append(UInt8(ascii: "<"))
                case "gt": text.append(UInt8(ascii: ">"))
                case "amp": text.append(UInt8(ascii: "&"))
                case "quot": text.append(UInt8(ascii: "\""))
                case "apos": text.append(UInt8(ascii: "'"))
                default:
                    var value: UInt32?
                    if reference.hasPrefix("#x") {
                        value = UInt32(reference.dropFirst(2), radix: 16)
                    } else if reference.hasPrefix("#") {
                        value = UInt32(reference.dropFirst(1), radix: 10)
                    }
                    guard let value, value != 0, let scalar = Unicode.Scalar(value) else {
                        throw fail("unknown reference '&\(reference.prefix(10));'")
                    }
                    text.append(contentsOf: Array(String(Character(scalar)).utf8))
                }
                i = semicolon + 1
            }
        }
    }
}
