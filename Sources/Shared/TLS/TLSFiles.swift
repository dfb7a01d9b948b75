import Foundation
import NIOSSL
import SwiftASN1
import X509

/// Where one daemon's TLS material lives: its certificate chain, its private key and the
/// operator's CA bundle that peers must chain to.
public struct TLSFiles: Sendable, Equatable {
    public var certificate: String
    public var privateKey: String
    public var ca: String
    /// X.509 CRLs (PEM or DER) of the CA; certificates they list are refused.
    public var crls: [String]
    /// Seconds a CRL may be used past its nextUpdate (0: refused at once).
    public var crlGracePeriod: Int

    public init(certificate: String, privateKey: String, ca: String, crls: [String] = [], crlGracePeriod: Int = 0) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.ca = ca
        self.crls = crls
        self.crlGracePeriod = crlGracePeriod
    }

    /// Reads and checks every file; a private key readable by group or others is refused.
    public func load() throws(TLSSetupError) -> LoadedTLSFiles {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw .unreadable(path: certificate, what: "certificate chain", detail: "\(error)")
        }
        guard !chain.isEmpty else { throw .unreadable(path: certificate, what: "certificate chain", detail: "no PEM certificate in file") }
        let keyBytes: [UInt8]
        do {
            keyBytes = try SecretFile.read(privateKey)
        } catch {
            throw .unreadable(path: privateKey, what: "private key", detail: error.description)
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw .unreadable(path: privateKey, what: "private key", detail: "not a PEM private key")
        }
        let roots: [Certificate]
        do {
            let pem = try String(contentsOfFile: ca, encoding: .utf8)
            roots = try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
        } catch {
            throw .unreadable(path: ca, what: "CA bundle", detail: "\(error)")
        }
        guard !roots.isEmpty else { throw .unreadable(path: ca, what: "CA bundle", detail: "no PEM certificate in file") }
        return LoadedTLSFiles(chain: chain, privateKey: key, roots: roots, caPath: ca)
    }
}

/// The parsed contents of ``TLSFiles``.
public struct LoadedTLSFiles: Sendable {
    public var chain: [NIOSSLCertificate]
    public var privateKey: NIOSSLPrivateKey
    public var roots: [Certificate]
    public var caPath: String
}

/// Why TLS could not be set up; each names the file to fix.
public enum TLSSetupError: Error, Sendable, CustomStringConvertible {
    case unreadable(path: String, what: String, detail: String)
    case contextCreation(detail: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let what, let detail): "cannot load TLS \(what) from \(path): \(detail)"
        case .contextCreation(let detail): "cannot create the TLS context: \(detail)"
        }
    }
}
