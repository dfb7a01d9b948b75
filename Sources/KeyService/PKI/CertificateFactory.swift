import Crypto
import Foundation
import Shared
import SwiftASN1
import X509

/// Issues the dev PKI's certificates: ECDSA P-256, SHA-256 signatures, SPIFFE URI SANs.
struct CertificateFactory {
    struct Issued {
        var certificate: Certificate
        var key: P256.Signing.PrivateKey

        var certificatePEM: String {
            get throws { try certificate.serializeAsPEM().pemString + "\n" }
        }

        var keyPEM: String { key.pemRepresentation + "\n" }
    }

    enum Purpose {
        case server
        case client
        case serverAndClient
    }

    let validity: TimeInterval

    /// A random positive serial of at most 159 bits: RFC 5280 allows 20 octets, and a 160-bit
    /// value with its top bit set would need a 21st (a leading zero) to stay positive, which
    /// strict parsers (Python's cryptography, some CRL tools) refuse.
    static func serialNumber() -> Certificate.SerialNumber {
        var bytes = RandomBytes.bytes(20)
        bytes[0] &= 0x7f
        if bytes[0] == 0 { bytes[0] = 0x01 }
        return Certificate.SerialNumber(bytes: bytes)
    }

    func makeCA(commonName: String, now: Date = Date()) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("SplitKey development")
            CommonName(commonName)
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Self.serialNumber(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(validity),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return Issued(certificate: certificate, key: key)
    }

    func issue(
        by ca: Issued,
        commonName: String,
        spiffeID: String,
        purpose: Purpose,
        dnsNames: [String] = [],
        ipAddresses: [[UInt8]] = [],
        now: Date = Date()
    ) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        var names: [GeneralName] = [.uniformResourceIdentifier(spiffeID)]
        names += dnsNames.map { .dnsName($0) }
        names += ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        let usages: [ExtendedKeyUsage.Usage] =
            switch purpose {
            case .server: [.serverAuth]
            case .client: [.clientAuth]
            case .serverAndClient: [.serverAuth, .clientAuth]
            }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Self.serialNumber(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(validity),
            issuer: ca.certificate.subject,
            subject: try DistinguishedName {
                OrganizationName("SplitKey development")
                CommonName(commonName)
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(usages)
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: try ca.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: Certificate.PrivateKey(ca.key)
        )
        return Issued(certificate: certificate, key: key)
    }
}
