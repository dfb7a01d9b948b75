import Crypto
import Foundation
import Shared
import Testing

@testable import KeyService

/// The XKS proxy's pure parts, no process: the AES-GCM construction and integrity value, the
/// policy grammar and decisions, the external key lifecycle, the credentials file, the error table.
@Suite struct XKSRulesTests {
    /// Appendix C of the spec: its encrypt example's fields and the CDIV it gives.
    @Test func integrityValueMatchesTheSpecExample() throws {
        let aad = Array("project=nile,department=marketing".utf8)
        let encrypted = XKSCipher.Encrypted(
            iv: Array(try #require(Data(base64Encoded: "HMrlRw85cAJUd5Ax"))),
            ciphertext: Array(try #require(Data(base64Encoded: "ghxkK1txeDNn3q8Y"))),
            tag: Array(try #require(Data(base64Encoded: "vBxN2ncH1oEkR8WVXpmyYQ=="))),
            metadata: Array("key_version=1".utf8))
        #expect(Data(XKSCipher.integrityValue(encrypted, aad: aad)).base64EncodedString() == "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=")
    }

    @Test func theAADCarriesBothLengthsSoBytesCannotMoveBetweenAADAndMetadata() throws {
        #expect(XKSCipher.gcmAAD(aad: [], metadata: []) == [0, 0, 0])
        #expect(XKSCipher.gcmAAD(aad: Array(repeating: 7, count: 300), metadata: [1]).prefix(2) == [1, 44])
        let key = SymmetricKey(size: .bits256)
        let plaintext = RandomBytes.bytes(100)
        let sealed = try XKSCipher.encrypt(plaintext, aad: [9, 9], key: key)
        #expect(sealed.iv.count == 12 && sealed.tag.count == 16 && sealed.ciphertext.count == plaintext.count)
        #expect(try XKSCipher.decrypt(sealed, aad: [9, 9], key: key) == plaintext)
        // The metadata passed as AAD instead (the spec's example of an unintended decrypt).
        var moved = sealed
        moved.metadata = []
        #expect(throws: CipherError.self) { try XKSCipher.decrypt(moved, aad: [9, 9] + sealed.metadata, key: key) }
        #expect(throws: CipherError.self) { try XKSCipher.decrypt(sealed, aad: [9], key: key) }
        #expect(throws: CipherError.self) { try XKSCipher.decrypt(sealed, aad: [9, 9], key: SymmetricKey(size: .bits256)) }
    }

    static func request(
        api: XKSAPI.Operation = .encrypt, principal: String? = "arn:aws:iam::111122223333:role/app", op: String? = "Encrypt",
        via: String? = nil, vpc: String? = nil, key: String? = "k1"
    ) -> XKSPolicy.Request {
        XKSPolicy.Request(
            api: api,
            metadata: .init(awsPrincipalArn: principal, awsSourceVpc: vpc, kmsOperation: op, kmsRequestId: "r", kmsViaService: via),
            keyID: key, uriPath: "/p/kms/xks/v1")
    }

    @Test func policyIsDenyFirstThenSomeGrant() throws {
        let policy = try XKSPolicy(
            grants: [
                "principal=arn:aws:iam::111122223333:* api=encrypt,decrypt,metadata via=ebs,s3,-",
                "principal=arn:aws:iam::444455556666:role/reader api=decrypt key=k1",
            ],
            deny: ["principal=arn:aws:iam::111122223333:user/mallory", "vpc=vpc-0bad"])
        #expect(
            policy.decide(Self.request())
                == .allowed(by: "xks.policy.grants[0] 'principal=arn:aws:iam::111122223333:* api=encrypt,decrypt,metadata via=ebs,s3,-'"))
        #expect(policy.decide(Self.request(via: "ebs")) != .denied("no xks.policy.grants rule matches"))
        #expect(policy.decide(Self.request(via: "rds")) == .denied("no xks.policy.grants rule matches"))
        #expect(policy.decide(Self.request(principal: "arn:aws:iam::111122223333:user/mallory")).isDenied)
        #expect(policy.decide(Self.request(vpc: "vpc-0bad")).isDenied)
        #expect(policy.decide(Self.request(principal: "arn:aws:iam::444455556666:role/reader", op: "Decrypt")).isDenied)
        #expect(!policy.decide(Self.request(api: .decrypt, principal: "arn:aws:iam::444455556666:role/reader", op: "Decrypt")).isDenied)
        #expect(policy.decide(Self.request(api: .decrypt, principal: "arn:aws:iam::444455556666:role/reader", key: "k2")).isDenied)
        // No principal at all matches no pattern but `-`.
        #expect(policy.decide(Self.request(principal: nil)).isDenied)
        #expect(XKSPolicy.none.decide(Self.request()).isDenied)
    }

    @Test func policyGrammarErrorsNameTheEntry() {
        for bad in ["", "principal", "color=blue", "api=sign", "principal="] {
            #expect(throws: PolicyError.self) { try XKSPolicy(grants: [bad], deny: []) }
        }
        #expect(XKSPolicy.glob("a*c*", matches: "abxcyy"))
        #expect(XKSPolicy.glob("*", matches: ""))
        #expect(!XKSPolicy.glob("a*c", matches: "abxcy"))
        #expect(XKSPolicy.glob("arn:aws:iam::1:role/*", matches: "arn:aws:iam::1:role/x/y"))
    }

    @Test func keyLifecycle() throws {
        let key = XKSKeyRecord(id: "k", usage: [.encrypt], state: .enabled, sealed: [1, 2, 3], createdAt: "t")
        #expect(throws: Refusal.self) { try XKSKeyLifecycle.apply(.destroy, to: key) }
        let disabled = try XKSKeyLifecycle.apply(.disable, to: key)
        #expect(disabled.state == .disabled)
        let destroyed = try XKSKeyLifecycle.apply(.destroy, to: disabled)
        #expect(destroyed.state == .destroyed && destroyed.sealed.isEmpty)
        #expect(throws: Refusal.self) { try XKSKeyLifecycle.apply(.enable, to: destroyed) }

        #expect(XKSKeyLifecycle.refusal(for: .encrypt, key: key, wantsIntegrityValue: false) == nil)
        #expect(XKSKeyLifecycle.refusal(for: .encrypt, key: key, wantsIntegrityValue: true)?.code == .xksKeyUsage)
        #expect(XKSKeyLifecycle.refusal(for: .decrypt, key: key, wantsIntegrityValue: false)?.code == .xksKeyUsage)
        #expect(XKSKeyLifecycle.refusal(for: .encrypt, key: disabled, wantsIntegrityValue: false)?.code == .xksKeyState)
        #expect(XKSKeyLifecycle.refusal(for: .metadata, key: disabled, wantsIntegrityValue: false) == nil)
        #expect(XKSKeyLifecycle.refusal(for: .metadata, key: destroyed, wantsIntegrityValue: false)?.code == .xksKeyNotFound)
        #expect(XKSKeyLifecycle.refusal(for: .decrypt, key: nil, wantsIntegrityValue: false)?.code == .xksKeyNotFound)

        #expect(try XKSKeyLifecycle.usage([]) == [])
        #expect(try XKSKeyLifecycle.usage(["encrypt", "DECRYPT"]) == [.encrypt, .decrypt])
        #expect(throws: Refusal.self) { try XKSKeyLifecycle.usage(["encrypt", "encrypt"]) }
        #expect(throws: Refusal.self) { try XKSKeyLifecycle.usage(["sign"]) }
        #expect(XKSKeyLifecycle.isValidID("b42c7fbf-de61-441c_ae24.1"))
        for bad in ["", "a/b", "a b", "ä", String(repeating: "a", count: 129)] { #expect(!XKSKeyLifecycle.isValidID(bad)) }
    }

    @Test func credentialsFileRulesAndPathSplitting() throws {
        let made = XKSCredentials.generate(uriPath: "/ks/kms/xks/v1")
        #expect(
            XKSCredentials.isValidAccessKeyID(made.accessKeyID)
                && XKSCredentials.isValidSecret(String(decoding: made.secret, as: UTF8.self)))
        let secret = String(repeating: "A", count: 43)
        let parsed = try XKSCredentials.parse(
            """
            # rotation: two credentials for one path
            /ks/kms/xks/v1 AAAAAAAAAAAAAAAAAAAA \(secret)
            /ks/kms/xks/v1 BBBBBBBBBBBBBBBBBBBB \(secret)
            /ks/tenant/kms/xks/v1 CCCCCCCCCCCCCCCCCCCC \(secret)
            """, path: "test")
        #expect(parsed.byAccessKey.count == 3)
        #expect(parsed.split(path: "/ks/tenant/kms/xks/v1/health")! == ("/ks/tenant/kms/xks/v1", "/health"))
        #expect(parsed.split(path: "/ks/kms/xks/v1/keys/a/encrypt")! == ("/ks/kms/xks/v1", "/keys/a/encrypt"))
        #expect(parsed.split(path: "/other/kms/xks/v1/health") == nil)
        for bad in [
            "/ks/kms/xks/v1 AAAAAAAAAAAAAAAAAAAA", "/ks/kms/xks/v2 AAAAAAAAAAAAAAAAAAAA \(secret)",
            "/ks/kms/xks/v1 AAAAAAAAAAAAAAAAAAA1 \(secret)", "/ks/kms/xks/v1 AAAAAAAAAAAAAAAAAAAA short",
            "/ks/kms/xks/v1 AAAAAAAAAAAAAAAAAAAA \(secret)\n/ks/kms/xks/v1 AAAAAAAAAAAAAAAAAAAA \(secret)", "# nothing",
        ] {
            #expect(throws: ConfigurationError.self) { try XKSCredentials.parse(bad, path: "test") }
        }
        #expect(XKSPath.route("/health")! == (.health, nil))
        #expect(XKSPath.route("/keys/k-1/decrypt")! == (.decrypt, "k-1"))
        for bad in ["/keys/k/health", "/keys//encrypt", "/keys/k/sign", "/health/", "/keys/k/encrypt/x", "/keys/a%2Fb/encrypt"] {
            #expect(XKSPath.route(bad) == nil)
        }
    }

    @Test func everyXKSRefusalHasItsSpecName() {
        let table: [(ErrorCode, XKSAPI.ErrorName)] = [
            (.xksValidation, .validationException), (.xksKeyState, .invalidStateException),
            (.xksInvalidCiphertext, .invalidCiphertextException), (.xksKeyUsage, .invalidKeyUsageException),
            (.xksAuthenticationFailed, .authenticationFailedException), (.xksPolicyDenied, .accessDeniedException),
            (.xksKeyNotFound, .keyNotFoundException), (.xksInvalidURIPath, .invalidUriPathException),
            (.rateLimited, .throttlingException), (.xksUnsupported, .unsupportedOperationException),
            (.storeUnavailable, .dependencyTimeoutException), (.auditUnavailable, .internalException), (.kekIntegrity, .internalException),
        ]
        for (code, name) in table { #expect(XKSErrorMapping.name(for: code) == name, "\(code)") }
        #expect(Set(table.map(\.1)) == Set(XKSAPI.ErrorName.allCases))
        #expect(XKSErrorMapping.printable("naïve\n" + String(repeating: "x", count: 600)).count == 511)
        #expect(XKSErrorMapping.printable("naïve\n").allSatisfy { $0.isASCII && !$0.isNewline })
    }
}

extension XKSPolicy.Decision {
    var isDenied: Bool { if case .denied = self { true } else { false } }
}
