import Foundation
import GRDB
import Shared
import SplitKeyTestSupport
import Testing

@testable import KeyService

/// The XKS spec's error table, each errorName with its status exactly, from curl and botocore:
/// malformed input, key state and usage, policy, paths and sizes in one test; throttling, an
/// unreachable key store and tampered key material in tests of their own.
struct XKSRefusalTests {
    static let mallory = "arn:aws:iam::111122223333:user/mallory"

    /// The dev config with an `xks.policy.deny` rule for mallory.
    static func denyMallory(_ text: String) -> String {
        text.replacingOccurrences(
            of: "    # deny: [\"principal=arn:aws:iam::111122223333:user/mallory\"]\n  limits:",
            with: "    deny:\n      - \"principal=\(mallory)\"\n  limits:")
    }

    @Test func everyErrorOfTheSpecTableByCurlAndBotocore() async throws {
        try await withXKS(editConfig: Self.denyMallory) { xks in
            #expect(xks.ks.daemon.log.contains("xks listening"))
            try await xks.createKey("tbl-key")
            try await xks.createKey("tbl-off")
            try await xks.createKey("tbl-enc", usage: ["encrypt"])
            let plaintext = randomBytes(32)
            let sealed = try XKSBody.Sealed(try await xks.curl("encrypt", key: "tbl-key", body: XKSBody.encrypt(plaintext, aad: [1, 2])))
            let offSealed = try XKSBody.Sealed(try await xks.curl("encrypt", key: "tbl-off", body: XKSBody.encrypt(plaintext)))
            #expect(try await xks.keyAction(.disable, "tbl-off").status == .ok)

            let meta = XKSBody.metadata(kmsOperation: "Encrypt")
            func encrypt(_ change: (inout XKSAPI.EncryptRequest) -> Void) -> String {
                var request = XKSAPI.EncryptRequest(
                    requestMetadata: meta, plaintext: Data(plaintext).base64EncodedString(), encryptionAlgorithm: "AES_GCM")
                change(&request)
                return XKSBody.json(request)
            }
            func decrypt(_ change: (inout XKSBody.Sealed) -> Void) -> String {
                var copy = sealed
                change(&copy)
                return XKSBody.decrypt(copy, aad: [1, 2])
            }
            let wrongSecret = xks.credential.withWrongSecret()
            let malloryMeta = XKSBody.metadata(kmsOperation: "Encrypt", principal: Self.mallory)

            let table: [(label: String, call: XKSBatchCall, name: String)] = [
                ("body not JSON", XKSBatchCall("encrypt", key: "tbl-key", body: "{\"plaintext\":"), "ValidationException"),
                ("body a JSON array", XKSBatchCall("metadata", key: "tbl-key", body: "[]"), "ValidationException"),
                (
                    "no encryptionAlgorithm", .init("encrypt", key: "tbl-key", body: encrypt { $0.encryptionAlgorithm = nil }),
                    "ValidationException"
                ),
                (
                    "algorithm AES_CBC", .init("encrypt", key: "tbl-key", body: encrypt { $0.encryptionAlgorithm = "AES_CBC" }),
                    "ValidationException"
                ),
                ("plaintext not base64", .init("encrypt", key: "tbl-key", body: encrypt { $0.plaintext = "%%%" }), "ValidationException"),
                ("no plaintext", .init("encrypt", key: "tbl-key", body: encrypt { $0.plaintext = nil }), "ValidationException"),
                ("no requestMetadata", .init("encrypt", key: "tbl-key", body: encrypt { $0.requestMetadata = nil }), "ValidationException"),
                (
                    "no kmsRequestId", .init("encrypt", key: "tbl-key", body: encrypt { $0.requestMetadata?.kmsRequestId = nil }),
                    "ValidationException"
                ),
                (
                    "no awsPrincipalArn",
                    .init(
                        "metadata", key: "tbl-key", body: XKSBody.keyMetadata(XKSBody.metadata(kmsOperation: "DescribeKey", principal: nil))
                    ),
                    "ValidationException"
                ),
                (
                    "no kmsKeyArn", .init("encrypt", key: "tbl-key", body: encrypt { $0.requestMetadata?.kmsKeyArn = nil }),
                    "ValidationException"
                ),
                (
                    "integrity algorithm MD5",
                    .init("encrypt", key: "tbl-key", body: encrypt { $0.ciphertextDataIntegrityValueAlgorithm = "MD5" }),
                    "ValidationException"
                ),
                ("8-byte IV", .init("decrypt", key: "tbl-key", body: decrypt { $0.iv = Array($0.iv.prefix(8)) }), "ValidationException"),
                ("15-byte tag", .init("decrypt", key: "tbl-key", body: decrypt { $0.tag.removeLast() }), "ValidationException"),
                ("encrypt of a disabled key", .init("encrypt", key: "tbl-off", body: XKSBody.encrypt(plaintext)), "InvalidStateException"),
                (
                    "decrypt of a disabled key", .init("decrypt", key: "tbl-off", body: XKSBody.decrypt(offSealed, aad: nil)),
                    "InvalidStateException"
                ),
                (
                    "decrypt with another AAD", .init("decrypt", key: "tbl-key", body: XKSBody.decrypt(sealed, aad: [1, 3])),
                    "InvalidCiphertextException"
                ),
                (
                    "decrypt with a changed tag", .init("decrypt", key: "tbl-key", body: decrypt { $0.tag[3] ^= 0x80 }),
                    "InvalidCiphertextException"
                ),
                (
                    "decrypt by an encrypt-only key", .init("decrypt", key: "tbl-enc", body: XKSBody.decrypt(sealed, aad: [1, 2])),
                    "InvalidKeyUsageException"
                ),
                (
                    "integrity value of an encrypt-only key",
                    .init("encrypt", key: "tbl-enc", body: XKSBody.encrypt(plaintext, integrity: true)),
                    "InvalidKeyUsageException"
                ),
                (
                    "wrong secret", .init("encrypt", key: "tbl-key", body: XKSBody.encrypt(plaintext), credential: wrongSecret),
                    "AuthenticationFailedException"
                ),
                ("wrong secret, health", .init("health", body: XKSBody.health(), credential: wrongSecret), "AuthenticationFailedException"),
                ("mallory's metadata", .init("metadata", key: "tbl-key", body: XKSBody.keyMetadata(malloryMeta)), "AccessDeniedException"),
                (
                    "mallory's encrypt", .init("encrypt", key: "tbl-key", body: XKSBody.encrypt(plaintext, metadata: malloryMeta)),
                    "AccessDeniedException"
                ),
                (
                    "mallory's decrypt",
                    .init("decrypt", key: "tbl-key", body: XKSBody.decrypt(sealed, aad: [1, 2], metadata: malloryMeta)),
                    "AccessDeniedException"
                ),
                ("metadata of an unknown key", .init("metadata", key: "tbl-none", body: XKSBody.keyMetadata()), "KeyNotFoundException"),
                ("encrypt of an unknown key", .init("encrypt", key: "tbl-none", body: XKSBody.encrypt(plaintext)), "KeyNotFoundException"),
                (
                    "unconfigured URI path", .init("health", body: XKSBody.health(), path: "/other/kms/xks/v1/health"),
                    "InvalidUriPathException"
                ),
                (
                    "no operation", .init("health", body: XKSBody.health(), path: XKSFixture.uriPath + "/keys/tbl-key"),
                    "InvalidUriPathException"
                ),
                (
                    "unknown operation", .init("health", body: XKSBody.health(), path: XKSFixture.uriPath + "/keys/tbl-key/sign"),
                    "InvalidUriPathException"
                ),
                ("the bare URI path", .init("health", body: XKSBody.health(), path: XKSFixture.uriPath), "InvalidUriPathException"),
                (
                    "plaintext of 65,537 bytes", .init("encrypt", key: "tbl-key", body: XKSBody.encrypt(randomBytes(65_537))),
                    "UnsupportedOperationException"
                ),
                (
                    "AAD of 8,193 bytes", .init("encrypt", key: "tbl-key", body: XKSBody.encrypt(plaintext, aad: randomBytes(8_193))),
                    "UnsupportedOperationException"
                ),
                (
                    "body over 256 KiB",
                    .init(
                        "encrypt", key: "tbl-key", body: encrypt { $0.additionalAuthenticatedData = String(repeating: "A", count: 270_000) }
                    ),
                    "UnsupportedOperationException"
                ),
            ]
            let started = ContinuousClock.now
            let answers = try await xks.both(table.map(\.call))
            let clients = XKSFixture.botocoreSkipReason == nil ? "curl and by botocore" : "curl (botocore missing)"
            print("XKS error table: \(table.count) calls by \(clients) in \(ContinuousClock.now - started)")
            for (row, pair) in zip(table, answers) {
                #expect(pair.curl.isError(row.name), "\(row.label) by curl: want \(row.name), got \(pair.curl)")
                if let botocore = pair.botocore {
                    #expect(botocore.isError(row.name), "\(row.label) by botocore: want \(row.name), got \(botocore)")
                }
                let message = pair.curl.json?["errorMessage"] as? String ?? ""
                #expect(
                    message.count < 512 && message.unicodeScalars.allSatisfy { (0x20...0x7E).contains($0.value) },
                    "\(row.label): \(message)")
            }
            // Health is exempt from the policy, and every name but the three with tests of their own is here.
            let health = try await xks.curl(
                "health", body: XKSBody.json(XKSAPI.MetadataOnlyRequest(requestMetadata: malloryMeta)))
            #expect(health.status == 200, "\(health)")
            let others: Set = ["ThrottlingException", "DependencyTimeoutException", "InternalException"]
            #expect(Set(table.map(\.name)).union(others) == Set(XKSFixture.specStatus.keys))
            #expect(xks.ks.daemon.isRunning)
        }
    }

    @Test func throttlingAtOneRequestPerSecondBurstTwo() async throws {
        let environment = ["SPLITKEY_XKS_LIMITS_REQUESTS_PER_SECOND": "1", "SPLITKEY_XKS_LIMITS_BURST": "2"]
        try await withXKS(environment: environment) { xks in
            let started = ContinuousClock.now
            // Ten calls at once: however slow the machine, they arrive far faster than the
            // bucket refills (one a second), so some must be throttled.
            var answers = try await withThrowingTaskGroup(of: XKSAnswer.self) { group in
                for _ in 0..<10 { group.addTask { try await xks.curl("health", body: XKSBody.health()) } }
                return try await group.reduce(into: [XKSAnswer]()) { $0.append($1) }
            }
            print("XKS throttling: 10 concurrent curl calls in \(ContinuousClock.now - started): \(answers.map(\.status))")
            #expect(answers.filter { $0.status == 200 }.count >= 2, "\(answers)")
            #expect(answers.contains { $0.status == 429 }, "\(answers)")
            for answer in answers where answer.status != 200 {
                #expect(answer.isError("ThrottlingException"), "\(answer)")
            }
            if XKSFixture.botocoreSkipReason == nil {
                let batch = try await xks.batch((0..<8).map { _ in XKSBatchCall("health", body: XKSBody.health()) })
                print("XKS throttling: 8 botocore calls: \(batch.map(\.status))")
                #expect(batch.contains { $0.isError("ThrottlingException") }, "\(batch)")
                #expect(batch.allSatisfy { $0.status == 200 || $0.isError("ThrottlingException") }, "\(batch)")
                answers += batch
            }
            // Every throttled call passed SigV4, so each is recorded, refused as rate_limited.
            let refused = try xks.xksAuditRecords().filter { $0["detail"] as? String == "rate_limited" }
            #expect(refused.count == answers.filter { $0.status == 429 }.count)
            // The bucket refills: after a pause calls pass again.
            try await Task.sleep(for: .milliseconds(2_500))
            let later = try await xks.curl("health", body: XKSBody.health())
            #expect(later.status == 200, "\(later)")
        }
    }

    @Test(.enabled(if: PostgresCluster.skipReason == nil, "PostgreSQL 15 is not installed"))
    func keyStoreOutageIsDependencyTimeoutAndRecovers() async throws {
        let cluster = try await PostgresCluster.start(label: "xks-outage")
        defer { Task { await cluster.remove() } }
        try await withXKS(editConfig: KeyServiceReplicaTests.replicaConfig(url: cluster.url)) { xks in
            try await xks.createKey("pg-key")
            let plaintext = randomBytes(32)
            let sealed = try XKSBody.Sealed(try await xks.curl("encrypt", key: "pg-key", body: XKSBody.encrypt(plaintext)))
            let calls = [
                XKSBatchCall("metadata", key: "pg-key", body: XKSBody.keyMetadata()),
                XKSBatchCall("encrypt", key: "pg-key", body: XKSBody.encrypt(plaintext)),
                XKSBatchCall("decrypt", key: "pg-key", body: XKSBody.decrypt(sealed, aad: nil)),
            ]
            try await cluster.stop()
            for call in calls {
                let started = ContinuousClock.now
                // curl's own limit bounds the wait; the store's timeout (2 s) should answer long before.
                let answer = try await xks.curl(call.op, key: call.key, body: call.body, extra: ["--max-time", "30"])
                print("XKS key store down: \(call.op) answered \(answer.status) after \(ContinuousClock.now - started)")
                #expect(answer.isError("DependencyTimeoutException"), "\(call.op): \(answer)")
            }
            if XKSFixture.botocoreSkipReason == nil {
                for (call, answer) in zip(calls, try await xks.batch(calls)) {
                    #expect(answer.isError("DependencyTimeoutException"), "\(call.op) by botocore: \(answer)")
                }
            }
            try await cluster.start()
            let started = ContinuousClock.now
            var back: XKSAnswer?
            for _ in 0..<100 {
                let answer = try await xks.curl("decrypt", key: "pg-key", body: calls[2].body, extra: ["--max-time", "30"])
                if answer.status == 200 {
                    back = answer
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            print("XKS key store back: decrypt answered 200 after \(ContinuousClock.now - started)")
            let answer = try #require(back, "no recovery without a restart")
            #expect(try answer.decode(XKSAPI.DecryptResponse.self).plaintext == Data(plaintext).base64EncodedString())
        }
    }

    /// Sealed material changed in the database (with the daemon stopped): the key no longer
    /// opens under the root key, and KMS gets InternalException, not a wrong answer.
    @Test func tamperedSealedKeyIsInternalException() async throws {
        try await withXKS { xks in
            try await xks.createKey("tamper-key")
            try await xks.createKey("intact-key")
            let plaintext = randomBytes(32)
            let sealed = try XKSBody.Sealed(try await xks.curl("encrypt", key: "tamper-key", body: XKSBody.encrypt(plaintext)))
            let intact = try XKSBody.Sealed(try await xks.curl("encrypt", key: "intact-key", body: XKSBody.encrypt(plaintext)))
            #expect(await xks.ks.stop() == 0)

            let database = try DatabaseQueue(path: xks.ks.path("state/keyservice/\(SQLiteKeyStore.fileName)"))
            try await database.write { db in
                let blob = try #require(try Data.fetchOne(db, sql: "SELECT sealed FROM xks_keys WHERE id = ?", arguments: ["tamper-key"]))
                var bytes = Array(blob)
                bytes[bytes.count / 2] ^= 0x01
                try db.execute(sql: "UPDATE xks_keys SET sealed = ? WHERE id = ?", arguments: [Data(bytes), "tamper-key"])
            }
            try database.close()

            try await xks.ks.start()
            try await xks.ks.daemon.waitForLog("xks listening")
            let answers = try await xks.both([
                XKSBatchCall("encrypt", key: "tamper-key", body: XKSBody.encrypt(plaintext)),
                XKSBatchCall("encrypt", key: "tamper-key", body: XKSBody.encrypt(plaintext, integrity: true)),
                XKSBatchCall("decrypt", key: "tamper-key", body: XKSBody.decrypt(sealed, aad: nil)),
            ])
            expectAll(answers, "InternalException", "tampered key")
            // Metadata does not open the material; the other key is untouched.
            let metadata = try await xks.curl("metadata", key: "tamper-key", body: XKSBody.keyMetadata())
            #expect(metadata.status == 200, "\(metadata)")
            let other = try await xks.curl("decrypt", key: "intact-key", body: XKSBody.decrypt(intact, aad: nil))
            #expect(try other.decode(XKSAPI.DecryptResponse.self).plaintext == Data(plaintext).base64EncodedString())
            // The refusal is an integrity failure in the trail, not a store outage.
            let refused = try xks.xksAuditRecords().filter {
                $0["user"] as? String == "tamper-key" && $0["outcome"] as? String == "refused"
            }
            // Three calls by curl, and the same three by botocore when it is there.
            #expect(refused.count == (XKSFixture.botocoreSkipReason == nil ? 6 : 3))
            #expect(refused.allSatisfy { $0["detail"] as? String == "kek_integrity" }, "\(refused)")
        }
    }
}
