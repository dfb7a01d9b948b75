import COpenSSLCRL
import Foundation
import SwiftASN1
import X509

/// Certificate serial numbers revoked by the operator's CA, read from X.509 CRLs with OpenSSL 3.
///
/// The rules: a CRL counts only if its signature verifies with one of the configured CA
/// certificates (an unsigned or foreign CRL is an error, not an empty list); a CRL past its
/// nextUpdate is refused, unless the operator allows a grace period, within which it is applied
/// and reported (an attacker who can block the CA's distribution point must not be able to keep
/// an old CRL, without the latest revocations, in force for ever); on reload, a CRL whose
/// CRLNumber is lower than the one in force for its issuer is refused (a replayed older CRL).
/// A serial is revoked for certificates issued by the CRL's issuer.
public struct RevocationList: Sendable, Equatable {
    /// Issuer DER name bytes (hex) -> revoked serials (lower-case hex, no leading zeros).
    public private(set) var revoked: [String: Set<String>] = [:]
    /// Human-readable warnings (CRLs within their grace period).
    public private(set) var warnings: [String] = []
    /// Issuer DER name bytes (hex) -> the CRLNumber of its CRL (upper-case hex), when it has one.
    public private(set) var numbers: [String: String] = [:]

    public init() {}

    /// Loads every CRL file (PEM or DER), verifying each against `caFile`'s certificates; a CRL
    /// more than `gracePeriod` seconds past its nextUpdate is refused.
    public init(crlFiles: [String], caFile: String, gracePeriod: Int = 0, now: Date = Date()) throws(TLSSetupError) {
        guard !crlFiles.isEmpty else { return }
        let cas = try Self.loadCertificates(caFile)
        defer { cas.forEach { X509_free($0) } }
        for path in crlFiles {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .unreadable(path: path, what: "CRL", detail: "cannot read the file")
            }
            guard let crl = Self.parseCRL(data) else {
                throw .unreadable(path: path, what: "CRL", detail: "not a PEM or DER X.509 CRL")
            }
            defer { X509_CRL_free(crl) }
            let signer = cas.first { ca in
                guard let key = X509_get0_pubkey(ca) else { return false }
                return X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 && X509_CRL_verify(crl, key) == 1
            }
            guard signer != nil else {
                throw .unreadable(path: path, what: "CRL", detail: "its signature does not verify with any certificate in the CA bundle")
            }
            let seconds = Int64(now.timeIntervalSince1970)
            if splitkey_crl_expired_before(crl, seconds - Int64(gracePeriod)) != 0 {
                throw .unreadable(
                    path: path, what: "CRL",
                    detail: "it is past its nextUpdate\(gracePeriod > 0 ? " by more than the grace period of \(gracePeriod) s" : ""); "
                        + "fetch a fresh CRL from the CA (or allow a grace period with tls.crlGracePeriod)")
            }
            if splitkey_crl_expired_before(crl, seconds) != 0 {
                warnings.append("CRL \(path) is past its nextUpdate (within the grace period); fetch a fresh one from the CA")
            }
            let issuer = Self.nameHex(X509_CRL_get_issuer(crl))
            if let hex = splitkey_crl_number_hex(crl) {
                numbers[issuer] = Self.normalize(String(cString: hex)).uppercased()
                CRYPTO_free(hex, #fileID, #line)
            }
            var serials = revoked[issuer] ?? []
            for index in 0..<splitkey_revoked_count(crl) {
                guard let entry = splitkey_revoked_at(crl, index), let serial = X509_REVOKED_get0_serialNumber(entry) else { continue }
                if let hex = Self.serialHex(serial) { serials.insert(hex) }
            }
            revoked[issuer] = serials
        }
    }

    /// Refuses a reload whose CRL of an issuer has a lower CRLNumber than the one in force, or
    /// drops the number an earlier CRL had: both would put back an older list.
    public func checkSuccession(after previous: RevocationList) throws(TLSSetupError) {
        for (issuer, old) in previous.numbers {
            guard let new = numbers[issuer] else {
                throw .unreadable(
                    path: "tls.crl", what: "CRL", detail: "the new CRLs have no CRLNumber for an issuer whose CRL in force has \(old)")
            }
            if (new.count, new) < (old.count, old) {
                throw .unreadable(
                    path: "tls.crl", what: "CRL",
                    detail: "its CRLNumber \(new) is lower than \(old) of the CRL in force: an older CRL was put back; the old state stays")
            }
        }
    }

    /// Whether `certificate` is revoked by a loaded CRL of its issuer.
    public func isRevoked(_ certificate: Certificate) -> Bool {
        guard !revoked.isEmpty else { return false }
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(certificate.issuer)) != nil else { return false }
        return isRevoked(serial: Array(certificate.serialNumber.bytes).hexString, issuerDER: serializer.serializedBytes.hexString)
    }

    /// Whether the certificate an identity was read from is revoked.
    public func isRevoked(_ identity: PeerIdentity) -> Bool {
        isRevoked(serial: identity.serialNumber, issuerDER: identity.issuerDER)
    }

    func isRevoked(serial: String, issuerDER: String) -> Bool {
        revoked[issuerDER]?.contains(Self.normalize(serial)) ?? false
    }

    public var count: Int { revoked.values.reduce(0) { $0 + $1.count } }

    /// Adds one revoked serial without a CRL file (unit tests of what consumes the list).
    mutating func revokeForTesting(serial: String, issuerDER: String) {
        revoked[issuerDER, default: []].insert(Self.normalize(serial))
    }

    static func normalize(_ hex: String) -> String {
        let trimmed = hex.lowercased().drop { $0 == "0" }
        return trimmed.isEmpty ? "0" : String(trimmed)
    }

    static func serialHex(_ serial: UnsafePointer<ASN1_INTEGER>) -> String? {
        guard let bn = ASN1_INTEGER_to_BN(serial, nil) else { return nil }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return nil }
        defer { CRYPTO_free(hex, #fileID, #line) }
        return normalize(String(cString: hex))
    }

    static func nameHex(_ name: OpaquePointer?) -> String {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509_NAME(name, &out)
        guard length > 0, let out else { return "" }
        defer { CRYPTO_free(out, #fileID, #line) }
        return UnsafeBufferPointer(start: out, count: Int(length)).hexString
    }

    static func parseCRL(_ data: Data) -> OpaquePointer? {
        data.withUnsafeBytes { raw -> OpaquePointer? in
            guard let base = raw.baseAddress else { return nil }
            if let bio = BIO_new_mem_buf(base, Int32(raw.count)) {
                defer { BIO_free(bio) }
                if let crl = PEM_read_bio_X509_CRL(bio, nil, nil, nil) { return crl }
            }
            ERR_clear_error()
            var pointer: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
            return d2i_X509_CRL(nil, &pointer, raw.count)
        }
    }

    static func loadCertificates(_ path: String) throws(TLSSetupError) -> [OpaquePointer] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, what: "CA bundle", detail: "cannot read the file")
        }
        var certificates: [OpaquePointer] = []
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, let bio = BIO_new_mem_buf(base, Int32(raw.count)) else { return }
            defer { BIO_free(bio) }
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                certificates.append(certificate)
            }
            ERR_clear_error()
        }
        return certificates
    }
}
