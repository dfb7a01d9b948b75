import Crypto
import Foundation
import Shared

/// The four XKS operations below HTTP: each validates, is admitted by ``Authorizer`` (rate,
/// policy), reads the key, is decided (state, usage), recorded and carried out through
/// ``AuditedOperations`` like every node operation; plaintext leaves only after the record
/// is durable and is never logged.
struct XKSOperations: Sendable {
    let audited: AuditedOperations
    let store: any KeyStore
    let sealer: KEKSealer
    let health: XKSHealthMonitor
    let policy: @Sendable () -> XKSPolicy
    typealias Info = AuditedOperations.RequestInfo

    /// A call refused before it reached an operation (signature, path, body), still recorded.
    func rejected(_ call: XKSCall, info: Info, _ error: APIError) async -> APIError {
        do {
            return try await audited.perform(event: call.event(requestID: info.requestID), info: info, admit: {}) {
                _ throws(APIError) -> Step<APIError> in throw error
            }
        } catch {
            return error
        }
    }

    func healthStatus(_ call: XKSCall, info: Info) async throws(APIError) -> XKSAPI.HealthResponse {
        try await perform(call, info: info) { _ throws(APIError) in .done(health.response()) }
    }

    func metadata(_ call: XKSCall, info: Info) async throws(APIError) -> XKSAPI.MetadataResponse {
        try await perform(call, info: info) { _ throws(APIError) in
            let key = try await readKey(call, wantsIntegrityValue: false)
            return .done(
                XKSAPI.MetadataResponse(
                    keySpec: XKSAPI.keySpec, keyUsage: key.usage.sorted().map(\.rawValue),
                    keyStatus: key.state == .enabled ? XKSAPI.KeyStatus.enabled.rawValue : XKSAPI.KeyStatus.disabled.rawValue))
        }
    }

    func encrypt(_ call: XKSCall, _ request: XKSAPI.EncryptRequest, info: Info) async throws(APIError) -> XKSAPI.EncryptResponse {
        var input: (plaintext: [UInt8], aad: [UInt8], integrity: Bool)?
        return try await perform(
            call, info: info,
            validate: { () throws(APIError) in
                try Self.checkAlgorithm(request.encryptionAlgorithm)
                let plaintext = try XKSValidation.base64(
                    request.plaintext, "plaintext", limit: XKSAPI.maximumPlaintextBytes, required: true)
                let aad = try XKSValidation.base64(
                    request.additionalAuthenticatedData, "additionalAuthenticatedData", limit: XKSAPI.maximumAADBytes, required: false)
                if let algorithm = request.ciphertextDataIntegrityValueAlgorithm, algorithm != XKSAPI.integrityAlgorithm {
                    throw XKSValidation.invalid("ciphertextDataIntegrityValueAlgorithm must be \(XKSAPI.integrityAlgorithm)")
                }
                input = (plaintext ?? [], aad ?? [], request.ciphertextDataIntegrityValueAlgorithm != nil)
            }
        ) { _ throws(APIError) in
            guard let input else { throw APIError.internalError }
            let key = try await readKey(call, wantsIntegrityValue: input.integrity)
            let material = try open(key)
            let encrypted: XKSCipher.Encrypted
            do {
                encrypted = try XKSCipher.encrypt(input.plaintext, aad: input.aad, key: material)
                var integrity: String?
                if input.integrity {
                    // Appendix C: hash first, then prove the ciphertext decrypts to the plaintext.
                    let value = XKSCipher.integrityValue(encrypted, aad: input.aad)
                    guard try XKSCipher.decrypt(encrypted, aad: input.aad, key: material) == input.plaintext else {
                        throw APIError.internalError
                    }
                    integrity = Data(value).base64EncodedString()
                }
                return .done(
                    XKSAPI.EncryptResponse(
                        authenticationTag: Data(encrypted.tag).base64EncodedString(),
                        ciphertext: Data(encrypted.ciphertext).base64EncodedString(), ciphertextDataIntegrityValue: integrity,
                        ciphertextMetadata: Data(encrypted.metadata).base64EncodedString(),
                        initializationVector: Data(encrypted.iv).base64EncodedString()))
            } catch {
                throw APIError.internalError
            }
        }
    }

    func decrypt(_ call: XKSCall, _ request: XKSAPI.DecryptRequest, info: Info) async throws(APIError) -> XKSAPI.DecryptResponse {
        var input: (encrypted: XKSCipher.Encrypted, aad: [UInt8])?
        return try await perform(
            call, info: info,
            validate: { () throws(APIError) in
                try Self.checkAlgorithm(request.encryptionAlgorithm)
                let ciphertext = try XKSValidation.base64(
                    request.ciphertext, "ciphertext", limit: XKSAPI.maximumPlaintextBytes, required: true)
                let aad = try XKSValidation.base64(
                    request.additionalAuthenticatedData, "additionalAuthenticatedData", limit: XKSAPI.maximumAADBytes, required: false)
                // Metadata longer than this proxy ever makes is a corrupted ciphertext, not an unsupported size.
                let metadata = try XKSValidation.base64(request.ciphertextMetadata, "ciphertextMetadata", limit: 1 << 16, required: false)
                guard (metadata?.count ?? 0) <= XKSAPI.maximumCiphertextMetadataBytes else {
                    throw APIError.badRequest("ciphertextMetadata is longer than 20 bytes", code: .xksInvalidCiphertext)
                }
                let iv = try XKSValidation.base64(request.initializationVector, "initializationVector", limit: 16, required: true) ?? []
                let tag = try XKSValidation.base64(request.authenticationTag, "authenticationTag", limit: 16, required: true) ?? []
                guard iv.count == 12 || iv.count == 16 else { throw XKSValidation.invalid("initializationVector must be 12 or 16 bytes") }
                guard tag.count == 16 else { throw XKSValidation.invalid("authenticationTag must be 16 bytes") }
                input = (.init(iv: iv, ciphertext: ciphertext ?? [], tag: tag, metadata: metadata ?? []), aad ?? [])
            }
        ) { _ throws(APIError) in
            guard let input else { throw APIError.internalError }
            let key = try await readKey(call, wantsIntegrityValue: false)
            let material = try open(key)
            do {
                let plaintext = try XKSCipher.decrypt(input.encrypted, aad: input.aad, key: material)
                return .done(XKSAPI.DecryptResponse(plaintext: Data(plaintext).base64EncodedString()))
            } catch {
                throw APIError.badRequest(
                    "the ciphertext, initialization vector, tag, additional authenticated data or ciphertext metadata do not authenticate",
                    code: .xksInvalidCiphertext)
            }
        }
    }

    private func perform<T: Sendable>(
        _ call: XKSCall, info: Info, validate: () throws(APIError) -> Void = {},
        _ body: (AuditTicket) async throws(APIError) -> Step<T>
    ) async throws(APIError) -> T {
        let (authorizer, policy) = (audited.authorizer, self.policy())
        return try await audited.perform(
            event: call.event(requestID: info.requestID), info: info,
            admit: { () throws(Refusal) in try authorizer.admitXKS(call.policyRequest, policy: policy) },
            validate: { () throws(APIError) in
                try call.validateMetadata()
                try validate()
            }, body)
    }

    private func readKey(_ call: XKSCall, wantsIntegrityValue: Bool) async throws(APIError) -> XKSKeyRecord {
        let key: XKSKeyRecord?
        do {
            key = try await store.xksKey(id: call.keyID ?? "")
        } catch {
            throw APIError.unavailable("the key store did not answer in time", retryAfterSeconds: 1, code: .storeUnavailable)
        }
        do {
            try audited.authorizer.authorizeXKSKey(key, for: call.api, wantsIntegrityValue: wantsIntegrityValue)
        } catch {
            throw error.apiError
        }
        guard let key else { throw APIError.internalError }
        return key
    }

    private func open(_ key: XKSKeyRecord) throws(APIError) -> SymmetricKey {
        do {
            return try sealer.open(xksKey: key.sealed, id: key.id)
        } catch {
            // A sealed key that does not open under the root key: the store was tampered with.
            throw APIError(.internalServerError, code: .kekIntegrity, "the external key's sealed material failed its integrity check")
        }
    }

    private static func checkAlgorithm(_ algorithm: String?) throws(APIError) {
        guard let algorithm else { throw XKSValidation.invalid("encryptionAlgorithm is required") }
        guard algorithm == XKSAPI.encryptionAlgorithm else {
            throw XKSValidation.invalid("encryptionAlgorithm must be \(XKSAPI.encryptionAlgorithm)")
        }
    }
}
