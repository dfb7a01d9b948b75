import Crypto
import Foundation
import Shared
import SplitKeyTestSupport
import Testing

/// The XKS proxy as AWS KMS calls it, through clients that share no code with SplitKey: curl
/// (`--aws-sigv4`) and botocore (`scripts/xks-client`). Operations, round trips, the keys'
/// life, health and the audit trail; refusals and authentication have suites of their own.
struct XKSProxyTests {
    static let hasBotocore = XKSFixture.botocoreSkipReason == nil

    @Test func healthAndProbeAnswerWithThisReplica() async throws {
        try await withXKS(environment: ["SPLITKEY_REPLICA_ID": "xks-replica-1"]) { xks in
            // The health monitor's first round runs beside the listener's start; /ping says when it is done.
            try await waitForProbe(xks)
            let ping = try await xks.curl("ping", body: "", unsigned: true, path: "/ping", method: "GET")
            #expect(ping.status == 200, "\(ping)")
            #expect(ping.json?["status"] as? String == "ACTIVE", "\(ping)")

            var answers = [("curl", try await xks.curl("health", body: XKSBody.health()))]
            if Self.hasBotocore, let answer = try await xks.botocore("health", body: XKSBody.health()).answer {
                answers.append(("botocore", answer))
            }
            for (client, answer) in answers {
                #expect(answer.status == 200, "\(client): \(answer)")
                let health = try answer.decode(XKSAPI.HealthResponse.self)
                #expect(health.xksProxyFleetSize >= 1, "\(client): \(answer)")
                #expect(health.ekmFleetDetails.count == 1, "\(client): \(answer)")
                #expect(health.ekmFleetDetails.first?.healthStatus == "ACTIVE", "\(client): \(answer)")
                #expect(health.ekmFleetDetails.first?.id == "xks-replica-1", "\(client): \(answer)")
            }
            #expect(answers.count == (Self.hasBotocore ? 2 : 1))
            // The API is POST only: a signed GET is 405, with the spec's error shape.
            let get = try await xks.curl("health", body: "", method: "GET")
            #expect(get.status == 405, "\(get)")
        }
    }

    /// Every plaintext size the spec names (4,300 bytes is its minimum; 65,536 this proxy's
    /// maximum) with every AAD size (none, 1 byte, the spec's 8,192), each asked for an
    /// integrity value, which is recomputed here; each decrypts to its plaintext.
    @Test(.enabled(if: hasBotocore, "botocore missing: \(XKSFixture.botocoreSkipReason ?? "")"))
    func roundTripsOfEverySizeWithIntegrityValues() async throws {
        try await withXKS { xks in
            try await xks.createKey("rt-key")
            var cases: [(plaintext: [UInt8], aad: [UInt8]?)] = []
            for size in [0, 1, 32, 4_300, 65_536] {
                for aad in [nil, randomBytes(1), randomBytes(8_192)] { cases.append((randomBytes(size), aad)) }
            }
            let started = ContinuousClock.now
            let encrypted = try await xks.batch(
                cases.map { XKSBatchCall("encrypt", key: "rt-key", body: XKSBody.encrypt($0.plaintext, aad: $0.aad, integrity: true)) })
            var sealed: [XKSBody.Sealed] = []
            for ((plaintext, aad), answer) in zip(cases, encrypted) {
                let label = "\(plaintext.count) bytes, AAD \(aad?.count ?? -1)"
                try #require(answer.status == 200, "\(label): \(answer)")
                let parts = try XKSBody.Sealed(answer)
                #expect(parts.iv.count == 12, "\(label)")
                #expect(parts.tag.count == 16, "\(label)")
                #expect(parts.ciphertextMetadata?.count == 1, "\(label)")
                #expect(parts.ciphertext.count == plaintext.count, "\(label)")
                // Appendix C: SHA-256 over aad || metadata || iv || ciphertext || tag, no lengths.
                let expected = Array(
                    SHA256.hash(data: (aad ?? []) + (parts.ciphertextMetadata ?? []) + parts.iv + parts.ciphertext + parts.tag))
                #expect(parts.integrityValue == expected, "\(label): integrity value")
                sealed.append(parts)
            }
            #expect(Set(sealed.map(\.iv)).count == sealed.count, "an IV repeated")
            let decrypted = try await xks.batch(
                zip(cases, sealed).map { XKSBatchCall("decrypt", key: "rt-key", body: XKSBody.decrypt($1, aad: $0.aad)) })
            for ((plaintext, aad), answer) in zip(cases, decrypted) {
                #expect(answer.status == 200, "\(plaintext.count) bytes, AAD \(aad?.count ?? -1): \(answer)")
                let text = try? answer.decode(XKSAPI.DecryptResponse.self).plaintext
                #expect(text.flatMap { Data(base64Encoded: $0) }.map(Array.init) == plaintext, "\(plaintext.count) bytes")
            }
            print("XKS round trips: \(cases.count) encrypts and decrypts by botocore in \(ContinuousClock.now - started)")

            // Without the integrity algorithm no integrity value comes back; curl's ciphertext
            // decrypts with botocore and the other way round.
            let plaintext = randomBytes(32)
            let byCurl = try await xks.curl("encrypt", key: "rt-key", body: XKSBody.encrypt(plaintext, aad: [7]))
            let curlSealed = try XKSBody.Sealed(byCurl)
            #expect(curlSealed.integrityValue == nil)
            let byBotocore = try #require(
                try await xks.botocore("decrypt", key: "rt-key", body: XKSBody.decrypt(curlSealed, aad: [7])).answer)
            #expect(try byBotocore.decode(XKSAPI.DecryptResponse.self).plaintext == Data(plaintext).base64EncodedString())
            let back = try await xks.curl("decrypt", key: "rt-key", body: XKSBody.decrypt(sealed[7], aad: cases[7].aad))
            #expect(try back.decode(XKSAPI.DecryptResponse.self).plaintext == Data(cases[7].plaintext).base64EncodedString())
        }
    }

    /// Each single-bit change of ciphertext, IV, tag, AAD or ciphertext metadata, and a dropped
    /// metadata, AAD or ciphertext byte: InvalidCiphertextException, every one.
    @Test(.enabled(if: hasBotocore, "botocore missing: \(XKSFixture.botocoreSkipReason ?? "")"))
    func everySingleBitFlipIsInvalidCiphertext() async throws {
        try await withXKS { xks in
            try await xks.createKey("flip-key")
            let (plaintext, aad) = (randomBytes(32), randomBytes(2))
            let answer = try await xks.curl("encrypt", key: "flip-key", body: XKSBody.encrypt(plaintext, aad: aad))
            let sealed = try XKSBody.Sealed(answer)
            let metadata = try #require(sealed.ciphertextMetadata)

            var variants: [(label: String, sealed: XKSBody.Sealed, aad: [UInt8]?)] = []
            func flips(_ name: String, _ bytes: [UInt8], _ apply: (inout XKSBody.Sealed, inout [UInt8]?, [UInt8]) -> Void) {
                for bit in 0..<(bytes.count * 8) {
                    var changed = bytes
                    changed[bit / 8] ^= UInt8(1 << (bit % 8))
                    var (s, a) = (sealed, Optional(aad))
                    apply(&s, &a, changed)
                    variants.append(("\(name) bit \(bit)", s, a))
                }
            }
            flips("ciphertext", sealed.ciphertext) { s, _, b in s.ciphertext = b }
            flips("iv", sealed.iv) { s, _, b in s.iv = b }
            flips("tag", sealed.tag) { s, _, b in s.tag = b }
            flips("aad", aad) { _, a, b in a = b }
            flips("metadata", metadata) { s, _, b in s.ciphertextMetadata = b }
            var noMetadata = sealed
            noMetadata.ciphertextMetadata = nil
            variants.append(("metadata dropped", noMetadata, aad))
            variants.append(("aad dropped", sealed, nil))
            var shorter = sealed
            shorter.ciphertext.removeLast()
            variants.append(("ciphertext one byte short", shorter, aad))

            let started = ContinuousClock.now
            let answers = try await xks.batch(
                [XKSBatchCall("decrypt", key: "flip-key", body: XKSBody.decrypt(sealed, aad: aad))]
                    + variants.map { XKSBatchCall("decrypt", key: "flip-key", body: XKSBody.decrypt($0.sealed, aad: $0.aad)) })
            print("XKS bit flips: \(answers.count) decrypts by botocore in \(ContinuousClock.now - started)")
            // The unchanged request decrypts: the refusals below are the flips' doing.
            #expect(try answers[0].decode(XKSAPI.DecryptResponse.self).plaintext == Data(plaintext).base64EncodedString())
            var wrong: [String] = []
            for (variant, answer) in zip(variants, answers.dropFirst()) where !answer.isError("InvalidCiphertextException") {
                wrong.append("\(variant.label): \(answer)")
            }
            // Bits of 32 ciphertext, 12 IV, 16 tag, 2 AAD and 1 metadata bytes, and the 3 dropped parts.
            let expectedVariants: Int = (32 + 12 + 16 + 2 + 1) * 8 + 3
            #expect(variants.count == expectedVariants)
            #expect(
                wrong.isEmpty,
                "\(wrong.count) of \(variants.count) not refused as InvalidCiphertextException:\n\(wrong.prefix(10).joined(separator: "\n"))"
            )
        }
    }

    /// A key's life through the admin CLI, as KMS sees it at each step (curl and botocore):
    /// unknown ids, disabled and re-enabled, destroyed for good, and keys of partial usage.
    @Test func keyLifeAndUsageAsKMSSeesThem() async throws {
        try await withXKS { xks in
            let create = try await xks.adminCLI(["create", "life-key", "--usage", "encrypt,decrypt"])
            #expect(create.status == 0, "\(create.output)")
            let plaintext = randomBytes(32)
            let sealed = try XKSBody.Sealed(try await xks.curl("encrypt", key: "life-key", body: XKSBody.encrypt(plaintext)))
            let decrypt = XKSBody.decrypt(sealed, aad: nil)
            func calls(_ key: String) -> [XKSBatchCall] {
                [
                    XKSBatchCall("metadata", key: key, body: XKSBody.keyMetadata()),
                    XKSBatchCall("encrypt", key: key, body: XKSBody.encrypt(randomBytes(16))),
                    XKSBatchCall("decrypt", key: key, body: decrypt),
                ]
            }

            let unknown = try await xks.both(calls("no-such-key"))
            expectAll(unknown, "KeyNotFoundException", "unknown key")

            #expect(try await xks.adminCLI(["disable", "life-key"]).status == 0)
            let disabled = try await xks.both(calls("life-key"))
            for answer in [disabled[0].curl, disabled[0].botocore].compactMap({ $0 }) {
                #expect(answer.status == 200, "\(answer)")
                #expect(try answer.decode(XKSAPI.MetadataResponse.self).keyStatus == "DISABLED")
            }
            expectAll(Array(disabled[1...]), "InvalidStateException", "disabled key")

            #expect(try await xks.adminCLI(["enable", "life-key"]).status == 0)
            let enabled = try await xks.both(calls("life-key"))
            for (index, pair) in enabled.enumerated() {
                for answer in [pair.curl, pair.botocore].compactMap({ $0 }) { #expect(answer.status == 200, "call \(index): \(answer)") }
            }
            #expect(try enabled[0].curl.decode(XKSAPI.MetadataResponse.self).keyStatus == "ENABLED")
            #expect(try enabled[2].curl.decode(XKSAPI.DecryptResponse.self).plaintext == Data(plaintext).base64EncodedString())

            // Destroy only after disable; afterwards the key is gone for KMS and its id is never reused.
            let early = try await xks.adminCLI(["destroy", "life-key"])
            #expect(early.status != 0, "\(early.output)")
            #expect(try await xks.adminCLI(["disable", "life-key"]).status == 0)
            let destroy = try await xks.adminCLI(["destroy", "life-key"])
            #expect(destroy.status == 0, "\(destroy.output)")
            expectAll(try await xks.both(calls("life-key")), "KeyNotFoundException", "destroyed key")
            let again = try await xks.adminCLI(["create", "life-key"])
            #expect(again.status != 0)
            #expect(again.output.contains("xks_key_exists"), "\(again.output)")
            let shown = try await xks.adminCLI(["show", "life-key"])
            #expect(shown.output.contains("destroyed"), "\(shown.output)")

            // Partial usage. An encrypt-only key gives no integrity value: that needs a verifying decrypt.
            #expect(try await xks.adminCLI(["create", "enc-only", "--usage", "encrypt"]).status == 0)
            #expect(try await xks.adminCLI(["create", "dec-only", "--usage", "decrypt"]).status == 0)
            #expect(try await xks.adminCLI(["create", "no-usage", "--usage", ""]).status == 0)
            let encOnly = try XKSBody.Sealed(try await xks.curl("encrypt", key: "enc-only", body: XKSBody.encrypt(plaintext)))
            let usage = try await xks.both([
                XKSBatchCall("metadata", key: "enc-only", body: XKSBody.keyMetadata()),
                XKSBatchCall("metadata", key: "dec-only", body: XKSBody.keyMetadata()),
                XKSBatchCall("metadata", key: "no-usage", body: XKSBody.keyMetadata()),
                XKSBatchCall("decrypt", key: "enc-only", body: XKSBody.decrypt(encOnly, aad: nil)),
                XKSBatchCall("encrypt", key: "enc-only", body: XKSBody.encrypt(plaintext, integrity: true)),
                XKSBatchCall("encrypt", key: "dec-only", body: XKSBody.encrypt(plaintext)),
                XKSBatchCall("encrypt", key: "no-usage", body: XKSBody.encrypt(plaintext)),
                XKSBatchCall("decrypt", key: "no-usage", body: decrypt),
            ])
            for (index, expected) in [["ENCRYPT"], ["DECRYPT"], []].enumerated() {
                for answer in [usage[index].curl, usage[index].botocore].compactMap({ $0 }) {
                    #expect(answer.status == 200, "\(answer)")
                    #expect(try answer.decode(XKSAPI.MetadataResponse.self).keyUsage == expected, "\(answer)")
                    #expect(answer.json?["keyUsage"] as? [String] == expected, "keyUsage present even when empty: \(answer)")
                }
            }
            expectAll(Array(usage[3...]), "InvalidKeyUsageException", "usage")
        }
    }

    /// After a run of calls (granted, refused by the policy or the key, and unauthenticated)
    /// the trail holds one record per authenticated call, in order, with KMS's metadata; it
    /// verifies; and no plaintext is in the trail, the daemon's log or the database files.
    @Test func auditTrailRecordsEveryAuthenticatedCallAndNoPlaintext() async throws {
        let mallory = "arn:aws:iam::111122223333:user/mallory"
        let deny = { (text: String) in
            text.replacingOccurrences(
                of: "    # deny: [\"principal=arn:aws:iam::111122223333:user/mallory\"]\n  limits:",
                with: "    deny:\n      - \"principal=\(mallory)\"\n  limits:")
        }
        try await withXKS(editConfig: deny) { xks in
            try await xks.createKey("audit-key")
            let (p1, p2, aad) = (randomBytes(32), randomBytes(48), randomBytes(5))
            let via = "ebs.eu-west-1.amazonaws.com"
            func meta(_ op: String, _ id: String, principal: String = XKSBody.principal, via: String? = nil) -> XKSAPI.RequestMetadata {
                XKSBody.metadata(kmsOperation: op, requestID: id, principal: principal, viaService: via)
            }
            struct Expected {
                var op: String
                var key: String?
                var requestID: String?
                var kmsOperation: String?
                var principal: String?
                var via: String?
                var refused: String?
            }
            var expected: [Expected] = []
            var sealed1: XKSBody.Sealed?

            let health = try await xks.curl("health", body: XKSBody.health(requestID: "rid-health"))
            #expect(health.status == 200)
            expected.append(.init(op: "xks-health", requestID: "rid-health", kmsOperation: "KmsHealthCheck"))

            let metadata = try await xks.curl("metadata", key: "audit-key", body: XKSBody.keyMetadata(meta("DescribeKey", "rid-meta")))
            #expect(metadata.status == 200)
            expected.append(
                .init(
                    op: "xks-metadata", key: "audit-key", requestID: "rid-meta", kmsOperation: "DescribeKey", principal: XKSBody.principal))

            let encrypt = try await xks.curl(
                "encrypt", key: "audit-key", body: XKSBody.encrypt(p1, metadata: meta("GenerateDataKey", "rid-enc1", via: via)))
            sealed1 = try XKSBody.Sealed(encrypt)
            expected.append(
                .init(
                    op: "xks-encrypt", key: "audit-key", requestID: "rid-enc1", kmsOperation: "GenerateDataKey",
                    principal: XKSBody.principal, via: via))

            let decrypt = try await xks.curl(
                "decrypt", key: "audit-key",
                body: XKSBody.decrypt(try #require(sealed1), aad: nil, metadata: meta("Decrypt", "rid-dec1", via: via)))
            #expect(try decrypt.decode(XKSAPI.DecryptResponse.self).plaintext == Data(p1).base64EncodedString())
            expected.append(
                .init(
                    op: "xks-decrypt", key: "audit-key", requestID: "rid-dec1", kmsOperation: "Decrypt", principal: XKSBody.principal,
                    via: via))

            let denied = try await xks.curl(
                "encrypt", key: "audit-key", body: XKSBody.encrypt(p2, metadata: meta("Encrypt", "rid-mallory", principal: mallory)))
            #expect(denied.isError("AccessDeniedException"), "\(denied)")
            expected.append(
                .init(
                    op: "xks-encrypt", key: "audit-key", requestID: "rid-mallory", kmsOperation: "Encrypt", principal: mallory,
                    refused: "xks_policy_denied"))

            // Not authenticated: logged by the daemon, not recorded.
            let forged = try await xks.curl(
                "encrypt", key: "audit-key", body: XKSBody.encrypt(p2, metadata: meta("Encrypt", "rid-forged")),
                credential: xks.credential.withWrongSecret())
            #expect(forged.isError("AuthenticationFailedException"), "\(forged)")
            let unsigned = try await xks.curl(
                "metadata", key: "audit-key", body: XKSBody.keyMetadata(meta("DescribeKey", "rid-unsigned")), unsigned: true)
            #expect(unsigned.isError("AuthenticationFailedException"), "\(unsigned)")
            let elsewhere = try await xks.curl(
                "metadata", body: XKSBody.keyMetadata(meta("DescribeKey", "rid-path")), path: "/nowhere/kms/xks/v1/keys/audit-key/metadata")
            #expect(elsewhere.isError("InvalidUriPathException"), "\(elsewhere)")

            let missing = try await xks.curl("metadata", key: "missing-key", body: XKSBody.keyMetadata(meta("DescribeKey", "rid-missing")))
            #expect(missing.isError("KeyNotFoundException"), "\(missing)")
            expected.append(
                .init(
                    op: "xks-metadata", key: "missing-key", requestID: "rid-missing", kmsOperation: "DescribeKey",
                    principal: XKSBody.principal, refused: "xks_key_not_found"))

            // A body that is not JSON: recorded, with no KMS metadata to show.
            let malformed = try await xks.curl("encrypt", key: "audit-key", body: "{\"plaintext\": ")
            #expect(malformed.isError("ValidationException"), "\(malformed)")
            expected.append(.init(op: "xks-encrypt", key: "audit-key", refused: "xks_validation"))

            let encrypt2 = try await xks.curl(
                "encrypt", key: "audit-key", body: XKSBody.encrypt(p2, aad: aad, integrity: true, metadata: meta("Encrypt", "rid-enc2")))
            var sealed2 = try XKSBody.Sealed(encrypt2)
            expected.append(
                .init(op: "xks-encrypt", key: "audit-key", requestID: "rid-enc2", kmsOperation: "Encrypt", principal: XKSBody.principal))

            sealed2.tag[0] ^= 1
            let tampered = try await xks.curl(
                "decrypt", key: "audit-key", body: XKSBody.decrypt(sealed2, aad: aad, metadata: meta("Decrypt", "rid-tampered")))
            #expect(tampered.isError("InvalidCiphertextException"), "\(tampered)")
            expected.append(
                .init(
                    op: "xks-decrypt", key: "audit-key", requestID: "rid-tampered", kmsOperation: "Decrypt", principal: XKSBody.principal,
                    refused: "xks_invalid_ciphertext"))

            let records = try xks.xksAuditRecords()
            #expect(records.count == expected.count, "\(records.count) XKS records for \(expected.count) authenticated calls")
            for (index, (record, want)) in zip(records, expected).enumerated() {
                let aws = record["aws"] as? [String: String] ?? [:]
                let at = "record \(index) (\(want.requestID ?? want.op)): \(record)"
                #expect(record["op"] as? String == want.op, "\(at)")
                #expect(record["outcome"] as? String == (want.refused == nil ? "granted" : "refused"), "\(at)")
                #expect(record["detail"] as? String == want.refused, "\(at)")
                #expect(record["user"] as? String == (want.key ?? "-"), "\(at)")
                #expect(record["peer"] as? String == "xks:" + xks.credential.accessKeyID, "\(at)")
                #expect(record["region"] as? String == XKSFixture.region, "\(at)")
                #expect(record["reason"] as? String == want.kmsOperation, "\(at)")
                #expect(aws["kmsRequestId"] == want.requestID, "\(at)")
                #expect(aws["kmsOperation"] == want.kmsOperation, "\(at)")
                #expect(aws["principal"] == want.principal, "\(at)")
                #expect(aws["viaService"] == want.via, "\(at)")
                #expect(aws["kmsKeyArn"] == (want.op == "xks-health" || want.requestID == nil ? nil : XKSBody.kmsKeyArn), "\(at)")
                #expect(aws["uriPath"] == XKSFixture.uriPath, "\(at)")
                #expect(aws["accessKeyId"] == xks.credential.accessKeyID, "\(at)")
            }
            // Calls refused before authentication are in the daemon's log instead.
            #expect(xks.ks.daemon.log.contains("xks: signature refused"))

            let verify = try await ChildProcess.run(
                try TestPaths.binary("keyservice"), ["audit", "verify", xks.auditLogPath, "--key-file", xks.ks.path("audit-key")],
                in: xks.ks.dir)
            #expect(verify.status == 0, "\(verify.output)")

            // No plaintext at rest or in a log, neither raw nor in base64.
            let files =
                try FileManager.default.contentsOfDirectory(atPath: xks.ks.dir.path).filter {
                    $0.hasPrefix("keyservice-") && $0.hasSuffix(".log")
                }
                .map(xks.ks.path)
                + ["keyservice.sqlite", "keyservice.sqlite-wal", "keyservice.sqlite-shm", "audit.log"].map {
                    xks.ks.path("state/keyservice/\($0)")
                }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                for plaintext in [p1, p2] {
                    #expect(data.range(of: Data(plaintext)) == nil, "raw plaintext in \(file)")
                    #expect(data.range(of: Data(Data(plaintext).base64EncodedString().utf8)) == nil, "base64 plaintext in \(file)")
                }
            }
            #expect(files.count >= 5, "\(files)")
        }
    }
}

// MARK: Helpers of the XKS suites

func randomBytes(_ count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255) }
}

/// Each answer (curl's and botocore's) is the spec's error `name` with its status.
func expectAll(
    _ answers: [(curl: XKSAnswer, botocore: XKSAnswer?)], _ name: String, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    for (index, pair) in answers.enumerated() {
        #expect(pair.curl.isError(name), "\(label) \(index) by curl: \(pair.curl)", sourceLocation: sourceLocation)
        if let botocore = pair.botocore {
            #expect(botocore.isError(name), "\(label) \(index) by botocore: \(botocore)", sourceLocation: sourceLocation)
        }
    }
}

/// Waits (bounded) until the unauthenticated probe says the replica serves.
func waitForProbe(_ xks: XKSFixture) async throws {
    for _ in 0..<100 {
        if try await xks.curl("ping", body: "", unsigned: true, path: "/ping", method: "GET").status == 200 { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TestFailure("/ping did not answer 200 within 10 s")
}
