import Foundation

/// AWS Signature Version 4 (header form) for the load generator's signed mode (`--sigv4`): each
/// request is signed afresh with its own path and time, as an S3 client does, so a load of PUTs
/// to `{n}` paths is accepted by a store that checks every signature (SeaweedFS's S3 gateway).
///
/// Written here on its own (SHA-256 and HMAC in plain Swift) rather than taken from Shared's
/// signer, so the benchmark client keeps its dependencies (NIO, NIOSSL, ArgumentParser): it
/// measures servers, it is not one. What it costs per request is small and fixed: the signing
/// key (five HMACs) and one SHA-256 of the canonical request plus one HMAC of the string to
/// sign, a few microseconds. The body is the same for every request, so its SHA-256
/// (`x-amz-content-sha256`, which the server checks) is computed once per run.
struct RequestSigner: Sendable {
    let accessKey: String
    let secretKey: String
    let region: String
    let service: String
    /// Hex SHA-256 of the body every request sends.
    let payloadHash: String

    init(credentialsFile: String, region: String, service: String, body: Data) throws {
        let text = try String(contentsOfFile: credentialsFile, encoding: .utf8)
        let line = text.split(whereSeparator: \.isNewline).first { !$0.hasPrefix("#") && !$0.allSatisfy(\.isWhitespace) }
        let fields = line.map { $0.split(whereSeparator: \.isWhitespace) } ?? []
        guard fields.count == 2 else {
            throw SignerError.credentials(credentialsFile)
        }
        accessKey = String(fields[0])
        secretKey = String(fields[1])
        self.region = region
        self.service = service
        payloadHash = Hex.encode(SHA256Digest.hash(Array(body)))
    }

    /// The headers to add to a request of `method` to `path` (no query) with `Host: host`:
    /// `x-amz-date`, `x-amz-content-sha256` and `authorization`.
    func headers(method: String, path: String, host: String, now: time_t = time(nil)) -> [(String, String)] {
        let (date, day) = Self.timestamps(now)
        let signedHeaders = "host;x-amz-content-sha256;x-amz-date"
        let canonical = [
            method, Self.canonicalPath(path), "",
            "host:\(host)", "x-amz-content-sha256:\(payloadHash)", "x-amz-date:\(date)", "",
            signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(date)\n\(scope)\n" + Hex.encode(SHA256Digest.hash(Array(canonical.utf8)))
        var key = Array("AWS4\(secretKey)".utf8)
        for part in [day, region, service, "aws4_request"] { key = HMACSHA256.mac(key: key, Array(part.utf8)) }
        let signature = Hex.encode(HMACSHA256.mac(key: key, Array(stringToSign.utf8)))
        return [
            ("x-amz-date", date), ("x-amz-content-sha256", payloadHash),
            ("authorization", "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"),
        ]
    }

    /// `yyyyMMddTHHmmssZ` and `yyyyMMdd` in UTC.
    static func timestamps(_ now: time_t) -> (String, String) {
        var t = now
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let day = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        return ("\(day)T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z", day)
    }

    /// S3's canonical URI of a path as sent: every byte but the unreserved ones, `/` and the
    /// `%` of an escape already in the URL percent-encoded, once.
    static func canonicalPath(_ path: String) -> String {
        var out = ""
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "/"), UInt8(ascii: "%"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + Hex.encode([byte]).uppercased()
            }
        }
        return out
    }
}

enum SignerError: Error, CustomStringConvertible {
    case credentials(String)

    var description: String {
        switch self {
        case .credentials(let path): "\(path) is not one line 'ACCESS_KEY_ID SECRET'"
        }
    }
}

enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

enum HMACSHA256 {
    static func mac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? SHA256Digest.hash(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        let inner = SHA256Digest.hash(k.map { $0 ^ 0x36 } + message)
        return SHA256Digest.hash(k.map { $0 ^ 0x5C } + inner)
    }
}

/// FIPS 180-4 SHA-256.
enum SHA256Digest {
    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    static func hash(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19]
        var data = message
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        let bits = UInt64(message.count) * 8
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 64)
        data.withUnsafeBufferPointer { bytes in
            for block in stride(from: 0, to: bytes.count, by: 64) {
                for i in 0..<16 {
                    let j = block + i * 4
                    w[i] = UInt32(bytes[j]) << 24 | UInt32(bytes[j + 1]) << 16 | UInt32(bytes[j + 2]) << 8 | UInt32(bytes[j + 3])
                }
                for i in 16..<64 {
                    let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                    let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                    w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
                }
                var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
                for i in 0..<64 {
                    let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                    let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ maj
                    (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
                }
                h[0] = h[0] &+ a
                h[1] = h[1] &+ b
                h[2] = h[2] &+ c
                h[3] = h[3] &+ d
                h[4] = h[4] &+ e
                h[5] = h[5] &+ f
                h[6] = h[6] &+ g
                h[7] = h[7] &+ hh
            }
        }
        return h.flatMap { v in
            [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
        }
    }

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
}
