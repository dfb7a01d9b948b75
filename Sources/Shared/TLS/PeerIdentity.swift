import Crypto
import Foundation
import SwiftASN1
import X509

/// Who is on the other end of a mutually authenticated connection, read from its validated
/// leaf certificate.
///
/// Two facts identify a peer: its SPIFFE ID (the certificate's single `spiffe://` URI SAN) and
/// the SHA-256 of its SubjectPublicKeyInfo. The Common Name is never consulted: any CA that
/// issues for other purposes may put anything there.
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The SPIFFE ID, for example `spiffe://splitkey.local/node/eu-west`, if the certificate has one.
    public var spiffeID: SPIFFEID?
    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo.
    public var spkiSHA256: String
    /// Lower-case hex serial number, for deny lists and audit.
    public var serialNumber: String
    /// Lower-case hex of the issuer's DER name, so CRL checks match serials per issuer.
    public var issuerDER: String

    public init(spiffeID: SPIFFEID?, spkiSHA256: String, serialNumber: String, issuerDER: String = "") {
        self.spiffeID = spiffeID
        self.spkiSHA256 = spkiSHA256
        self.serialNumber = serialNumber
        self.issuerDER = issuerDER
    }

    /// Reads the identity of a certificate that has already been validated.
    public init(certificate: Certificate) throws(PeerIdentityError) {
        let uris: [String]
        do {
            uris = (try certificate.extensions.subjectAlternativeNames ?? SubjectAlternativeNames()).compactMap {
                if case .uniformResourceIdentifier(let uri) = $0 { return uri }
                return nil
            }
        } catch {
            throw .malformedSubjectAlternativeNames
        }
        let spiffeURIs = uris.filter { $0.lowercased().hasPrefix("spiffe://") }
        // The SPIFFE X.509-SVID rule: exactly one URI SAN, or the identity is ambiguous.
        guard spiffeURIs.count <= 1 else { throw .multipleSPIFFEIDs(spiffeURIs) }
        let spiffeID = try spiffeURIs.first.map { uri throws(PeerIdentityError) in
            guard let id = SPIFFEID(uri) else { throw .invalidSPIFFEID(uri) }
            return id
        }
        let digest = SHA256.hash(data: Array(certificate.publicKey.subjectPublicKeyInfoBytes))
        var serializer = DER.Serializer()
        try? serializer.serialize(certificate.issuer)
        self.init(
            spiffeID: spiffeID,
            spkiSHA256: digest.hexString,
            serialNumber: Array(certificate.serialNumber.bytes).hexString,
            issuerDER: serializer.serializedBytes.hexString
        )
    }

    public var description: String {
        spiffeID?.description ?? "spki-sha256:\(spkiSHA256)"
    }
}

/// A peer certificate whose identity cannot be read unambiguously.
public enum PeerIdentityError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformedSubjectAlternativeNames
    case multipleSPIFFEIDs([String])
    case invalidSPIFFEID(String)

    public var description: String {
        switch self {
        case .malformedSubjectAlternativeNames: "the certificate's subjectAltName extension is malformed"
        case .multipleSPIFFEIDs(let ids): "the certificate carries more than one SPIFFE ID: \(ids.joined(separator: ", "))"
        case .invalidSPIFFEID(let id): "the certificate's SPIFFE ID is not valid: \(id)"
        }
    }
}

/// A SPIFFE ID: `spiffe://TRUST-DOMAIN/PATH`.
public struct SPIFFEID: Sendable, Hashable, CustomStringConvertible {
    public var trustDomain: String
    /// Path segments, never empty strings, never `.` or `..`.
    public var segments: [String]

    public init?(_ string: String) {
        let prefix = "spiffe://"
        guard string.count <= 2048, string.lowercased().hasPrefix(prefix) else { return nil }
        let rest = string.dropFirst(prefix.count)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let domain = parts.first, !domain.isEmpty,
            domain.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "-._".contains($0)) })
        else { return nil }
        let segments = Array(parts.dropFirst())
        let segmentChars = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
        for segment in segments {
            guard !segment.isEmpty, segment != ".", segment != "..", segment.allSatisfy(segmentChars.contains)
            else { return nil }
        }
        self.trustDomain = domain
        self.segments = segments
    }

    public var description: String {
        "spiffe://" + ([trustDomain] + segments).joined(separator: "/")
    }
}

extension Sequence<UInt8> {
    /// Lower-case hexadecimal.
    public var hexString: String {
        var out = ""
        for byte in self {
            out += String(byte >> 4, radix: 16) + String(byte & 0x0f, radix: 16)
        }
        return out
    }
}

extension Array<UInt8> {
    /// Parses lower- or upper-case hexadecimal; nil for odd length or other characters.
    public init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = Self.nibble(chars[i]), let lo = Self.nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self = out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
