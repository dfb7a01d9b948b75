import Foundation
import Shared
import Testing

/// SigV4 against an independent implementation: `scripts/sigv4-botocore` signs random requests
/// with botocore (header form and presigned URLs, services `s3` and `kms-xks-proxy`); the
/// verifier must accept every one at its timestamp and our signer must produce the same signature.
///
/// Skipped, with the reason printed, when python3 cannot import botocore (`scripts/setup-system`
/// installs it), unless `SPLITKEY_REQUIRE_PYTHON_TOOLS=1`, where that is a failure. The seed is
/// fixed so a failure reproduces; `SPLITKEY_SIGV4_SEED` picks another.
struct SigV4BotocoreTests {
    static let count = 250
    static let seed = ProcessInfo.processInfo.environment["SPLITKEY_SIGV4_SEED"].flatMap(Int.init) ?? 20_260_101
    static let script = PythonTools.script("sigv4-botocore")
    static let required = PythonTools.required

    /// Why botocore cannot be used, or nil if it can.
    static let unavailable = PythonTools.missing("botocore", for: "SigV4BotocoreTests")

    struct Record: Decodable {
        var form: String
        var service: String
        var region: String
        var accessKeyID: String
        var secret: String
        var sessionToken: String?
        var timestamp: String
        var method: String
        var path: String
        var query: String
        var headers: [[String]]
        var body: String
        var payloadHash: String
        var unsignedPayload: Bool
        var authorization: String?
        var baseQuery: String?
        var expires: Int?
        var signedHeaders: [String]
        var signature: String

        var request: SigV4Request {
            SigV4Request(method: method, path: path, query: query, headers: headers.map { (name: $0[0], value: $0[1]) })
        }
        var date: Date { SigV4Date.parse(timestamp)! }
        var label: String { "\(form) \(service) \(method) \(path)?\(query)" }

        func verifier(secret override: String? = nil) -> SigV4Verifier {
            let (akid, key) = (accessKeyID, Array((override ?? secret).utf8))
            return SigV4Verifier(service: service, normalizePath: service != "s3", maxSkew: 15 * 60) { $0 == akid ? key : nil }
        }

        var signer: SigV4Signer {
            SigV4Signer(
                credentials: SigV4Credentials(accessKeyID: accessKeyID, secret: secret, sessionToken: sessionToken),
                region: region, service: service, normalizePath: service != "s3")
        }
    }

    @Test(.enabled(if: unavailable == nil || required, "botocore is not importable by python3"))
    func botocoreSignedRequestsVerifyAndOurSignerAgrees() throws {
        if let unavailable = Self.unavailable {
            Issue.record("SPLITKEY_REQUIRE_PYTHON_TOOLS=1 but \(unavailable)")
            return
        }
        let (status, output) = try PythonTools.run(["python3", Self.script.path, "\(Self.seed)", "\(Self.count)"])
        try #require(status == 0, "scripts/sigv4-botocore failed (exit \(status)):\n\(output.suffix(2000))")
        let lines = output.split(separator: "\n")
        try #require(lines.count == Self.count)
        var forms: [String: Int] = [:]
        for line in lines {
            let r = try JSONDecoder().decode(Record.self, from: Data(line.utf8))
            forms["\(r.form)/\(r.service)", default: 0] += 1
            if r.form == "header" { try checkHeaderForm(r) } else { try checkPresigned(r) }
        }
        print("SigV4BotocoreTests: seed \(Self.seed), \(lines.count) requests: \(forms.sorted { $0.key < $1.key })")
        for form in ["header/s3", "header/kms-xks-proxy", "presigned/s3", "presigned/kms-xks-proxy"] {
            #expect(forms[form, default: 0] > 10, "too few \(form) requests")
        }
    }

    func checkHeaderForm(_ r: Record) throws {
        let body = [UInt8](Data(base64Encoded: r.body) ?? Data())
        #expect(SigV4Payload.hash(body) == r.payloadHash)
        do {
            let verified = try r.verifier().verify(r.request, payloadHash: r.payloadHash, now: r.date)
            #expect(verified.signature == r.signature, "\(r.label)")
            #expect(verified.signedHeaders == r.signedHeaders, "\(r.label)")
            #expect(verified.payloadHash == (r.unsignedPayload ? SigV4Payload.unsigned : r.payloadHash), "\(r.label)")
        } catch {
            Issue.record("verifier refused botocore's \(r.label): \(error)")
        }
        #expect(throws: SigV4Error.signatureMismatch, "\(r.label)") {
            try r.verifier(secret: r.secret + "x").verify(r.request, payloadHash: r.payloadHash, now: r.date)
        }
        // Our signer, from the request botocore was given (its own additions removed).
        let added: Set<String> = ["authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"]
        var unsigned = r.request
        unsigned.headers.removeAll { added.contains($0.name.lowercased()) }
        let ours = try r.signer.sign(
            unsigned, payloadHash: r.unsignedPayload ? SigV4Payload.unsigned : r.payloadHash, date: r.date,
            sendContentSHA256: r.service == "s3", signedHeaders: r.signedHeaders)
        #expect(ours.signature == r.signature, "\(r.label)\n\(ours.canonicalRequest)")
        #expect(ours.authorization == r.authorization, "\(r.label)")
    }

    func checkPresigned(_ r: Record) throws {
        let payload = r.service == "s3" ? SigV4Payload.unsigned : r.payloadHash
        do {
            let verified = try r.verifier().verifyPresigned(r.request, payloadHash: payload, now: r.date)
            #expect(verified.signature == r.signature, "\(r.label)")
            #expect(verified.expires == r.expires, "\(r.label)")
        } catch {
            Issue.record("verifier refused botocore's \(r.label): \(error)")
        }
        if let expires = r.expires {
            #expect(throws: SigV4Error.expired(secondsAgo: 1), "\(r.label)") {
                try r.verifier().verifyPresigned(r.request, payloadHash: payload, now: r.date + TimeInterval(expires + 1))
            }
        }
        var base = r.request
        base.query = r.baseQuery ?? ""
        let ours = try r.signer.presign(
            base, payloadHash: payload, date: r.date, expires: r.expires ?? 0, signedHeaders: r.signedHeaders)
        #expect(ours.signature == r.signature, "\(r.label)\n\(ours.canonicalRequest)")
    }
}
