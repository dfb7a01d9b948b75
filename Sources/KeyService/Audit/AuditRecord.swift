import Crypto
import Foundation
import Shared

/// One line of the audit trail: a key or admin operation, granted or refused, chained to the
/// line before.
///
/// `mac` = HMAC-SHA-256(audit key, `prev` | the record's canonical JSON without `mac`), and
/// `prev` is the previous record's `mac` (64 zeros for the first). Editing a record breaks its
/// `mac`; deleting or reordering records breaks the next record's `prev` and `seq`; cutting the
/// tail is caught against the authenticated head (``AuditHead``). A line is accepted only if its
/// bytes are exactly the canonical encoding of the record it decodes to, so an added,
/// duplicated or reordered JSON field is an error rather than something the MAC never saw.
struct AuditRecord: Codable, Sendable, Equatable {
    var seq: UInt64
    var time: String
    var op: String
    var user: String
    var peer: String
    var region: String?
    var reason: String?
    var outcome: String
    var requestId: String
    var detail: String?
    /// The KeyService replica that wrote the trail (`replica.id`); absent in trails written
    /// before replicas existed. One trail names one replica.
    var replica: String?
    /// The AWS KMS request metadata of an XKS call (`principal`, `kmsOperation`,
    /// `kmsRequestId`, `kmsKeyArn`, `viaService`, `sourceVpc`, `sourceVpce`, `uriPath`,
    /// `accessKeyId`); absent on every other record.
    var aws: [String: String]? = nil
    var prev: String
    var mac: String?

    static let genesis = String(repeating: "0", count: 64)

    /// The bytes the MAC covers: sorted-key JSON of every field but `mac`.
    func macInput() throws -> Data {
        var copy = self
        copy.mac = nil
        return try Self.canonicalEncoder.encode(copy)
    }

    /// One configured encoder for every record; encoding does not mutate it.
    static let canonicalEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    func computeMAC(key: SymmetricKey) throws -> String {
        Hex.encode(MessageAuthentication.hmacSHA256(key: key, Array(prev.utf8), Array(try macInput())))
    }

    /// The canonical line, newline included.
    func line() throws -> Data {
        try Self.canonicalEncoder.encode(self) + Data("\n".utf8)
    }

    /// The record a line (without its newline) holds, or nil unless the line is a complete
    /// record in canonical form with a MAC.
    static func parse<Bytes: DataProtocol>(line: Bytes) -> AuditRecord? {
        let data = Data(line)
        guard let record = try? JSONDecoder().decode(AuditRecord.self, from: data), record.mac != nil,
            let canonical = try? canonicalEncoder.encode(record), canonical == data
        else { return nil }
        return record
    }
}
