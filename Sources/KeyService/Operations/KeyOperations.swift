import Crypto
import Foundation
import Logging
import Shared

/// The KeyService's data-plane operations: generate, unwrap, rewrap. Each takes an
/// ``AuditTicket``, so it runs only inside ``AuditedOperations``; each reads what it needs,
/// asks ``Authorizer`` for every rule, and returns the answer to release once recorded.
///
/// What it guarantees beyond the rules: a wrapped key opens only for the user, KEK version,
/// home region and context it was made for; the KEK is opened only after every rule passed;
/// and every answer with a plaintext key carries `cacheTTL`, the key holder's bound on how long
/// the node may keep it.
struct KeyOperations: Sendable {
    let store: any KeyStore
    let sealer: KEKSealer
    let cacheTTL: Int
    let authorizer: Authorizer

    struct ValidatedUnwrap: Sendable {
        var user: String
        var context: String
        var reason: KeyServiceAPI.UnwrapReason
        var wrapped: WrappedKey
        var wrappedText: String
    }

    // MARK: Validation (before anything is recorded or decided)

    static func validate(userID: String) throws(APIError) {
        guard Identifiers.isValidUserID(userID) else {
            throw APIError.badRequest("user id must be 1-128 characters of A-Z a-z 0-9 . _ @ -", code: .invalidUserId)
        }
    }

    static func validate(context: String) throws(APIError) {
        guard (1...KeyServiceAPI.maximumContextLength).contains(context.utf8.count) else {
            throw APIError.badRequest("context must be 1-\(KeyServiceAPI.maximumContextLength) bytes of UTF-8", code: .invalidContext)
        }
    }

    static func validate(_ request: KeyServiceAPI.UnwrapRequest) throws(APIError) -> ValidatedUnwrap {
        try validate(userID: request.user)
        try validate(context: request.context)
        guard let bytes = Data(base64Encoded: request.wrapped) else {
            throw APIError.badRequest("'wrapped' is not valid base64", code: .invalidWrappedKey)
        }
        let wrapped: WrappedKey
        do {
            wrapped = try WrappedKey(encoded: Array(bytes))
        } catch {
            throw APIError.badRequest("'wrapped' is not a valid wrapped key: \(error)", code: .invalidWrappedKey)
        }
        guard wrapped.userID == request.user else {
            throw APIError.badRequest("the wrapped key belongs to another user than the request names", code: .wrappedKeyUserMismatch)
        }
        return ValidatedUnwrap(
            user: request.user, context: request.context, reason: request.reason, wrapped: wrapped, wrappedText: request.wrapped)
    }

    // MARK: Operations

    func generate(user userID: String, context: String, caller: Caller, includePlaintext: Bool, _ ticket: AuditTicket)
        async throws(APIError) -> KeyServiceAPI.GenerateResponse
    {
        let user = try await storeCall { try await store.user(id: userID) }
        do {
            try authorizer.authorizeRegion(caller, user: user, userID: userID)
        } catch {
            throw ticket.refuse(error)
        }
        guard let user else { throw APIError.internalError }
        let version = user.currentKEKVersion
        guard let record = try await storeCall({ try await store.kek(userID: user.id, version: version) }) else {
            ticket.logger.error("current KEK missing", metadata: ["user": "\(user.id)", "version": "\(version)"])
            throw APIError(.internalServerError, code: .kekMissing, "the user's current KEK is missing from the key store")
        }
        do {
            try authorizer.authorizeWrap(user: user, kek: record)
        } catch {
            throw ticket.refuse(error)
        }
        let wraps = try await storeCall { try await store.countWrap(userID: user.id, version: version) }
        guard wraps <= authorizer.lifecycle.kekMaxWraps else {
            throw ticket.refuse(Refusal(.conflict, .kekRotationRequired, "the user's KEK reached its wrap limit; an admin must rotate it"))
        }
        let kek = try open(record, user: user, ticket)
        let dataKey = RandomBytes.key256()
        let wrapped = try wrap(dataKey, kek: kek, version: version, user: user, context: context)
        return KeyServiceAPI.GenerateResponse(
            user: user.id,
            kekVersion: version,
            wrapped: Data(wrapped.encoded()).base64EncodedString(),
            plaintext: includePlaintext ? Data(dataKey.rawBytes).base64EncodedString() : nil,
            cacheTTL: includePlaintext ? cacheTTL : nil
        )
    }

    func unwrap(_ request: ValidatedUnwrap, caller: Caller, _ ticket: AuditTicket) async throws(APIError) -> KeyServiceAPI.UnwrapResponse {
        let (user, dataKey) = try await open(request, caller: caller, ticket)
        return KeyServiceAPI.UnwrapResponse(
            user: user.id,
            kekVersion: request.wrapped.kekVersion,
            plaintext: Data(dataKey.rawBytes).base64EncodedString(),
            cacheTTL: cacheTTL
        )
    }

    /// Unwraps and wraps again under the newest KEK version; the data key never leaves in clear.
    func rewrap(_ request: ValidatedUnwrap, caller: Caller, _ ticket: AuditTicket) async throws(APIError) -> KeyServiceAPI.RewrapResponse {
        let (user, dataKey) = try await open(request, caller: caller, ticket)
        if request.wrapped.kekVersion == user.currentKEKVersion {
            return KeyServiceAPI.RewrapResponse(user: user.id, kekVersion: request.wrapped.kekVersion, wrapped: request.wrappedText)
        }
        let version = user.currentKEKVersion
        guard let record = try await storeCall({ try await store.kek(userID: user.id, version: version) }) else {
            throw APIError(.internalServerError, code: .kekMissing, "the user's current KEK is missing from the key store")
        }
        do {
            try authorizer.authorizeWrap(user: user, kek: record)
        } catch {
            throw ticket.refuse(error)
        }
        _ = try await storeCall { try await store.countWrap(userID: user.id, version: version) }
        let kek = try open(record, user: user, ticket)
        let rewrapped = try wrap(dataKey, kek: kek, version: version, user: user, context: request.context)
        return KeyServiceAPI.RewrapResponse(user: user.id, kekVersion: version, wrapped: Data(rewrapped.encoded()).base64EncodedString())
    }

    /// Every rule an unwrap passes, then the KEK, then the data key.
    private func open(_ request: ValidatedUnwrap, caller: Caller, _ ticket: AuditTicket) async throws(APIError) -> (
        UserRecord, SymmetricKey
    ) {
        // One read for the user and the KEK version the blob names.
        let read = try await storeCall { try await store.userAndKEK(id: request.user, version: request.wrapped.kekVersion) }
        let budget: Authorizer.BudgetCheck
        do {
            try authorizer.authorizeRegion(caller, user: read?.0, userID: request.user)
        } catch {
            throw ticket.refuse(error)
        }
        guard let (user, kekRecord) = read else { throw APIError.internalError }
        if authorizer.budget.isLockedLocally(user.id) && !user.unwrapLocked {
            // A lockout the store refused earlier: store it now (the unwrap is refused either way).
            var locked = user
            locked.unwrapLocked = true
            try? await store.commit(expected: user, next: locked, addKEK: nil, eraseKEKs: false)
        }
        do {
            budget = try authorizer.authorizeUnwrap(caller, user: user, kekVersion: request.wrapped.kekVersion, reason: request.reason)
        } catch {
            throw ticket.refuse(error)
        }
        if budget == .exceeded, await authorizer.confirmBudget(user, store: store) == .exceeded {
            try await lock(user, ticket)
        }
        guard let kekRecord else {
            throw APIError(.unprocessableContent, code: .unknownKekVersion, "the user has no KEK version \(request.wrapped.kekVersion)")
        }
        let kek = try open(kekRecord, user: user, ticket)
        do {
            return (user, try request.wrapped.unwrap(kek: kek, region: user.homeRegion, context: request.context))
        } catch {
            throw APIError(
                .unprocessableContent,
                code: .unwrapFailed,
                "the wrapped key does not open for this user, region and context: it was altered or the context differs"
            )
        }
    }

    /// Locks the user's unwraps after its budget was exceeded. The lock holds in this process
    /// even when it cannot be stored, and the unwrap is refused either way.
    private func lock(_ user: UserRecord, _ ticket: AuditTicket) async throws(APIError) {
        authorizer.budget.lockLocally(user.id)
        var locked = user
        locked.unwrapLocked = true
        do {
            try await store.commit(expected: user, next: locked, addKEK: nil, eraseKEKs: false)
        } catch {
            ticket.logger.error("unwrap lockout could not be stored; it holds in this process only", metadata: ["error": "\(error)"])
            throw APIError.unavailable("the key store is not available", retryAfterSeconds: 5, code: .storeUnavailable)
        }
        throw ticket.refuse(
            Refusal(.forbidden, .unwrapBudgetExceeded, "the user exceeded its unwrap budget; unwraps are locked until an admin clears them")
        )
    }

    private func wrap(_ dataKey: SymmetricKey, kek: SymmetricKey, version: UInt32, user: UserRecord, context: String) throws(APIError)
        -> WrappedKey
    {
        do {
            return try WrappedKey.wrap(
                dataKey: dataKey, kek: kek, userID: user.id, kekVersion: version, region: user.homeRegion, context: context)
        } catch {
            throw APIError.internalError
        }
    }

    private func open(_ record: SealedKEKRecord, user: UserRecord, _ ticket: AuditTicket) throws(APIError) -> SymmetricKey {
        do {
            return try sealer.open(record.sealed, userID: user.id, version: record.version)
        } catch {
            // The row exists but does not open: the database was altered or the root key is wrong.
            ticket.logger.critical(
                "stored KEK failed its integrity check", metadata: ["user": "\(user.id)", "version": "\(record.version)"])
            throw APIError(.internalServerError, code: .kekIntegrity, "a stored KEK failed its integrity check; see the KeyService log")
        }
    }

    private func storeCall<T>(_ body: () async throws -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch {
            throw APIError.unavailable("the key store is not available", retryAfterSeconds: 5, code: .storeUnavailable)
        }
    }
}
