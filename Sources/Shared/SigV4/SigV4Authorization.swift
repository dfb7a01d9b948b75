/// The parts of a SigV4 authorization, parsed strictly from an `Authorization` header or from the
/// `X-Amz-*` parameters of a presigned URL.
///
/// Strict because the input is the attacker's: every field is length-bounded and checked against
/// its grammar before anything looks up a key or hashes a byte, and anything unexpected is a typed
/// ``SigV4Error``, never a trap. The parser checks form only; dates, service and signature are the
/// verifier's business.
public struct SigV4Authorization: Sendable, Equatable {
    /// Longest `Authorization` header, or presigned parameter value, accepted (bytes).
    public static let maximumLength = 8192
    /// Most header names SignedHeaders may list.
    public static let maximumSignedHeaders = 128
    /// Longest access key id, region, service and header name accepted.
    public static let maximumAccessKeyIDLength = 128
    public static let maximumScopeFieldLength = 64
    public static let maximumHeaderNameLength = 128
    /// `X-Amz-Expires` bounds: at most 7 days, as AWS allows.
    public static let expiresRange = 1...604_800

    /// The presigned parameters this parser reads; all but `X-Amz-Security-Token` are required.
    public static let algorithmParameter = "X-Amz-Algorithm"
    public static let credentialParameter = "X-Amz-Credential"
    public static let dateParameter = "X-Amz-Date"
    public static let expiresParameter = "X-Amz-Expires"
    public static let signedHeadersParameter = "X-Amz-SignedHeaders"
    public static let signatureParameter = "X-Amz-Signature"

    public var accessKeyID: String
    public var scope: SigV4Scope
    /// Lower-case, sorted, distinct.
    public var signedHeaders: [String]
    /// 64 lower-case hex digits.
    public var signature: String
    /// The 32 bytes the signature's hex stands for.
    public var signatureBytes: [UInt8]
    /// Presigned form only: `X-Amz-Date` (already checked to be a valid timestamp) and `X-Amz-Expires`.
    public var amzDate: String?
    public var expires: Int?

    /// Parses `AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request,
    /// SignedHeaders=a;b, Signature=<64 hex>`. The three parts may come in any order, each once,
    /// separated by `,` with optional spaces.
    public init(header: String) throws(SigV4Error) {
        let bytes = Array(header.utf8)
        guard bytes.count <= Self.maximumLength else { throw .authorizationTooLong(bytes.count) }
        guard bytes.allSatisfy({ (0x20...0x7E).contains($0) }) else { throw .nonASCIIAuthorization }
        let trimmed = bytes.drop { $0 == UInt8(ascii: " ") }
        let algorithmEnd = trimmed.firstIndex(of: UInt8(ascii: " ")) ?? trimmed.endIndex
        let algorithm = trimmed[trimmed.startIndex..<algorithmEnd]
        guard algorithm.elementsEqual(SigV4Scope.algorithm.utf8) else {
            throw .unsupportedAlgorithm(String(decoding: algorithm.prefix(32), as: UTF8.self))
        }
        var credential: ArraySlice<UInt8>?
        var signedHeaders: ArraySlice<UInt8>?
        var signature: ArraySlice<UInt8>?
        let rest = Self.trimmingSpaces(trimmed[algorithmEnd...])
        guard !rest.isEmpty else { throw .missingComponent("Credential") }
        for rawPart in rest.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let part = Self.trimmingSpaces(rawPart)
            guard let equals = part.firstIndex(of: UInt8(ascii: "=")) else { throw .unknownComponent }
            let key = part[part.startIndex..<equals]
            let value = part[part.index(after: equals)...]
            if key.elementsEqual("Credential".utf8) {
                guard credential == nil else { throw .duplicateComponent("Credential") }
                credential = value
            } else if key.elementsEqual("SignedHeaders".utf8) {
                guard signedHeaders == nil else { throw .duplicateComponent("SignedHeaders") }
                signedHeaders = value
            } else if key.elementsEqual("Signature".utf8) {
                guard signature == nil else { throw .duplicateComponent("Signature") }
                signature = value
            } else {
                throw .unknownComponent
            }
        }
        guard let credential else { throw .missingComponent("Credential") }
        guard let signedHeaders else { throw .missingComponent("SignedHeaders") }
        guard let signature else { throw .missingComponent("Signature") }
        (accessKeyID, scope) = try Self.parseCredential(credential)
        self.signedHeaders = try Self.parseSignedHeaders(signedHeaders)
        (self.signature, signatureBytes) = try Self.parseSignature(signature)
        amzDate = nil
        expires = nil
    }

    /// Parses the presigned parameters of a raw query string. Each must appear once; other
    /// parameters are left alone (they are signed, not parsed). Throws ``SigV4Error/missingAuthorization``
    /// if the query has none of them.
    public init(presignedQuery query: String) throws(SigV4Error) {
        var found: [String: [UInt8]] = [:]
        let names = [
            Self.algorithmParameter, Self.credentialParameter, Self.dateParameter, Self.expiresParameter,
            Self.signedHeadersParameter, Self.signatureParameter,
        ]
        for part in Array(query.utf8).split(separator: UInt8(ascii: "&")) {
            let equals = part.firstIndex(of: UInt8(ascii: "=")) ?? part.endIndex
            let rawKey = part[part.startIndex..<equals]
            // Only the parameter names matter here; a key longer than any of them is not one.
            guard rawKey.count <= 3 * 32, let name = names.first(where: { Self.decodedEquals(rawKey, $0) }) else { continue }
            let rawValue = equals == part.endIndex ? part[part.endIndex...] : part[part.index(after: equals)...]
            guard rawValue.count <= Self.maximumLength else { throw .authorizationTooLong(rawValue.count) }
            guard found[name] == nil else { throw .duplicateComponent(name) }
            let value = try SigV4Encoding.decode(rawValue, part: "query")
            guard value.allSatisfy({ (0x20...0x7E).contains($0) }) else { throw .nonASCIIAuthorization }
            found[name] = value
        }
        guard !found.isEmpty else { throw .missingAuthorization }
        for name in names where found[name] == nil { throw .missingComponent(name) }
        let algorithm = found[Self.algorithmParameter]!
        guard algorithm.elementsEqual(SigV4Scope.algorithm.utf8) else {
            throw .unsupportedAlgorithm(String(decoding: algorithm.prefix(32), as: UTF8.self))
        }
        (accessKeyID, scope) = try Self.parseCredential(found[Self.credentialParameter]![...])
        signedHeaders = try Self.parseSignedHeaders(found[Self.signedHeadersParameter]![...])
        (signature, signatureBytes) = try Self.parseSignature(found[Self.signatureParameter]![...])
        let date = String(decoding: found[Self.dateParameter]!, as: UTF8.self)
        guard SigV4Date.parse(date) != nil else { throw .malformedDate }
        amzDate = date
        let expiresText = found[Self.expiresParameter]!
        guard (1...6).contains(expiresText.count), expiresText.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let seconds = Int(String(decoding: expiresText, as: UTF8.self)), Self.expiresRange.contains(seconds)
        else { throw .malformedExpires }
        expires = seconds
    }

    /// Whether a raw query carries any presigned-URL parameter (so a request with both forms can
    /// be refused instead of verified by whichever one a caller happens to check).
    public static func hasPresignedParameters(_ query: String) -> Bool {
        Array(query.utf8).split(separator: UInt8(ascii: "&")).contains { part in
            let key = part[part.startIndex..<(part.firstIndex(of: UInt8(ascii: "=")) ?? part.endIndex)]
            return key.count <= 3 * 32
                && [algorithmParameter, credentialParameter, signatureParameter].contains { decodedEquals(key, $0) }
        }
    }

    /// Whether the raw (percent-encoded) `key` decodes to `name`; a bad escape is no match.
    static func decodedEquals(_ key: ArraySlice<UInt8>, _ name: String) -> Bool {
        if key.elementsEqual(name.utf8) { return true }
        guard key.contains(UInt8(ascii: "%")), let decoded = try? SigV4Encoding.decode(key, part: "query") else { return false }
        return decoded.elementsEqual(name.utf8)
    }

    static func trimmingSpaces(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while s.first == UInt8(ascii: " ") { s.removeFirst() }
        while s.last == UInt8(ascii: " ") { s.removeLast() }
        return s
    }

    static func parseCredential(_ value: ArraySlice<UInt8>) throws(SigV4Error) -> (String, SigV4Scope) {
        let fields = value.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard fields.count == 5 else {
            throw .malformedCredential("\(fields.count) '/'-separated fields instead of 5")
        }
        let akid = fields[0]
        guard (1...maximumAccessKeyIDLength).contains(akid.count),
            akid.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") })
        else {
            throw .malformedCredential("the access key id is not 1...\(maximumAccessKeyIDLength) letters, digits, '-', '_' or '.'")
        }
        let date = fields[1]
        guard date.count == 8, SigV4Date.parse(String(decoding: date, as: UTF8.self) + "T000000Z") != nil else {
            throw .malformedCredential("the date is not a calendar day yyyymmdd")
        }
        for (field, name) in [(fields[2], "region"), (fields[3], "service")] {
            guard (1...maximumScopeFieldLength).contains(field.count),
                field.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") })
            else {
                throw .malformedCredential("the \(name) is not 1...\(maximumScopeFieldLength) letters, digits, '-', '_' or '.'")
            }
        }
        guard fields[4].elementsEqual(SigV4Scope.terminator.utf8) else {
            throw .malformedCredential("the last field is not \(SigV4Scope.terminator)")
        }
        let text = { (s: ArraySlice<UInt8>) in String(decoding: s, as: UTF8.self) }
        return (text(akid), SigV4Scope(date: text(date), region: text(fields[2]), service: text(fields[3])))
    }

    static func parseSignedHeaders(_ value: ArraySlice<UInt8>) throws(SigV4Error) -> [String] {
        guard !value.isEmpty else { throw .malformedSignedHeaders("the list is empty") }
        let names = value.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        guard names.count <= maximumSignedHeaders else {
            throw .malformedSignedHeaders("\(names.count) names, more than \(maximumSignedHeaders)")
        }
        var previous: ArraySlice<UInt8>?
        for (n, name) in names.enumerated() {
            guard !name.isEmpty else { throw .malformedSignedHeaders("name \(n + 1) is empty") }
            guard name.count <= maximumHeaderNameLength else {
                throw .malformedSignedHeaders("name \(n + 1) is longer than \(maximumHeaderNameLength) bytes")
            }
            guard name.allSatisfy(isLowercaseToken) else {
                throw .malformedSignedHeaders("name \(n + 1) is not a lower-case header name")
            }
            if let previous {
                guard previous.lexicographicallyPrecedes(name) else {
                    throw .malformedSignedHeaders(
                        previous == name
                            ? "'\(String(decoding: name, as: UTF8.self))' appears twice"
                            : "'\(String(decoding: name, as: UTF8.self))' is out of order")
                }
            }
            previous = name
        }
        return names.map { String(decoding: $0, as: UTF8.self) }
    }

    static func parseSignature(_ value: ArraySlice<UInt8>) throws(SigV4Error) -> (String, [UInt8]) {
        guard value.count == 64 else { throw .malformedSignature }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var i = value.startIndex
        while i < value.endIndex {
            guard let high = lowerHexValue(value[i]), let low = lowerHexValue(value[i + 1]) else { throw .malformedSignature }
            bytes.append(high << 4 | low)
            i += 2
        }
        return (String(decoding: value, as: UTF8.self), bytes)
    }

    static func lowerHexValue(_ byte: UInt8) -> UInt8? {
        (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) ? nil : SigV4Encoding.hexValue(byte)
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }

    /// An RFC 9110 token character other than an upper-case letter.
    static func isLowercaseToken(_ b: UInt8) -> Bool {
        if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) { return true }
        return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
    }
}
