import Foundation
import Shared

/// The SigV4 credentials KMS signs with, per XKS URI path: the `xks-credentials` file.
///
/// One credential per line, `URI_PATH ACCESS_KEY_ID SECRET_ACCESS_KEY`, `#` starts a comment.
/// A URI path may have several lines (rotation: add the new credential, tell KMS, remove the
/// old one; SIGHUP re-reads the file without closing connections). The file holds secrets, so
/// it must be mode 0600 (``SecretFile``). Rules (XKS spec appendix A and the KMS console's
/// format): URI path up to 128 characters of `a-zA-Z0-9/_-` ending in `/kms/xks/v1`; access
/// key id 20-30 characters of `A-Z2-7`; secret 43-64 characters of `a-zA-Z0-9+/=`.
struct XKSCredentials: Sendable, Equatable {
    struct Credential: Sendable, Equatable {
        var uriPath: String
        var accessKeyID: String
        var secret: [UInt8]
    }

    private(set) var byAccessKey: [String: Credential]
    /// Every configured URI path, longest first (so a path that extends another wins).
    private(set) var uriPaths: [String]

    init(_ credentials: [Credential]) {
        byAccessKey = Dictionary(credentials.map { ($0.accessKeyID, $0) }, uniquingKeysWith: { first, _ in first })
        uriPaths = Set(credentials.map(\.uriPath)).sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    static func load(path: String) throws(ConfigurationError) -> XKSCredentials {
        let bytes: [UInt8]
        do {
            bytes = try SecretFile.read(path)
        } catch {
            throw .invalid("xks.credentialsFile", path, "\(error)")
        }
        return try parse(String(decoding: bytes, as: UTF8.self), path: path)
    }

    static func parse(_ text: String, path: String) throws(ConfigurationError) -> XKSCredentials {
        var credentials: [Credential] = []
        var seen = Set<String>()
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            if fields.isEmpty { continue }
            let at = "line \(number + 1)"
            guard fields.count == 3 else {
                throw .invalid("xks.credentialsFile", path, "\(at): expected 'URI_PATH ACCESS_KEY_ID SECRET_ACCESS_KEY'")
            }
            guard isValidURIPath(fields[0]) else {
                throw .invalid(
                    "xks.credentialsFile", path,
                    "\(at): the URI path must be at most 128 characters of a-z A-Z 0-9 / _ - and end in \(XKSAPI.uriPathSuffix)")
            }
            guard isValidAccessKeyID(fields[1]) else {
                throw .invalid("xks.credentialsFile", path, "\(at): the access key id must be 20-30 characters of A-Z and 2-7")
            }
            guard isValidSecret(fields[2]) else {
                throw .invalid("xks.credentialsFile", path, "\(at): the secret must be 43-64 characters of a-z A-Z 0-9 + / =")
            }
            guard seen.insert(fields[1]).inserted else {
                throw .invalid("xks.credentialsFile", path, "\(at): access key id \(fields[1]) appears twice")
            }
            credentials.append(Credential(uriPath: fields[0], accessKeyID: fields[1], secret: Array(fields[2].utf8)))
        }
        guard !credentials.isEmpty else { throw .invalid("xks.credentialsFile", path, "holds no credential") }
        return XKSCredentials(credentials)
    }

    static func isValidURIPath(_ path: String) -> Bool {
        path.utf8.count <= XKSAPI.maximumURIPathLength && path.hasPrefix("/") && path.hasSuffix(XKSAPI.uriPathSuffix)
            && !path.contains("//")
            && path.utf8.allSatisfy {
                $0.isASCIILetterOrDigit || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            }
    }

    static func isValidAccessKeyID(_ id: String) -> Bool {
        (20...30).contains(id.utf8.count)
            && id.utf8.allSatisfy {
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "2")...UInt8(ascii: "7")).contains($0)
            }
    }

    static func isValidSecret(_ secret: String) -> Bool {
        (43...64).contains(secret.utf8.count)
            && secret.utf8.allSatisfy {
                $0.isASCIILetterOrDigit || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "=")
            }
    }

    /// A fresh credential in the formats KMS accepts: a 26-character access key id and a
    /// secret of 32 random bytes in base64 (256 bits, as the spec asks).
    static func generate(uriPath: String) -> Credential {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        let id = String(decoding: RandomBytes.bytes(26).map { alphabet[Int($0 & 31)] }, as: UTF8.self)
        return Credential(uriPath: uriPath, accessKeyID: id, secret: Array(Data(RandomBytes.bytes(32)).base64EncodedString().utf8))
    }

    /// The configured URI path `path` lies under, and the rest (`/health`, `/keys/ID/encrypt`).
    func split(path: String) -> (uriPath: String, rest: String)? {
        for uriPath in uriPaths where path.hasPrefix(uriPath + "/") {
            return (uriPath, String(path.dropFirst(uriPath.count)))
        }
        return nil
    }
}

extension UInt8 {
    fileprivate var isASCIILetterOrDigit: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
