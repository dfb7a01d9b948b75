import Crypto
import Foundation
import Logging
import Shared

/// The KeyService's data-plane operations, independent of HTTP.
///
/// Security rules enforced here, for every call:
/// - A node acts only for users whose home region is one of its own regions.
/// - Only an active user gets new wraps; an active or deactivated (destruction scheduled) user
///   gets unwraps; a suspended or destroyed user gets nothing.
/// - A wrapped key opens only for the user, KEK version, home region and context it was made
///   for, and only if its KEK version is not below the user's minimum; otherwise no key material
///   is returned.
/// - The policy may refuse an unwrap by its reason, and by reason and the node's region.
/// - A KEK version refuses new wraps past its cryptoperiod or wrap count.
/// - Every answer with a plaintext key carries `cacheTTL`, the key holder's bound on how long
///   the node may keep it.
struct KeyOperations: Sendable {
    let store: any KeyStore
    let sealer: KEKSealer
    let cacheTTL: Int
    let lifecycle: LifecycleSettings
    let userUnwraps: TokenBuckets
    let budget: UnwrapBudget

    // MARK: Data plane

    func generate(user userID: String, context: String, caller: Caller, includePlaintext: Bool)
        async throws(APIError) -> KeyServiceAPI.GenerateResponse
    {
        try caller.require({ if case .node = $0 { true } else { false } }, for: "generate data keys")
        try Self.validate(userID: userID)
        try Self.validate(context: context)
        var user = try await storeCall { try await store.user(id: userID) }
        if user == nil {
            user = try await createOnFirstUse(userID: userID, caller: caller)
        }
        guard let user else { throw APIError.notFound("user \(userID) does not exist", code: "user_not_found") }
        try authorizeRegion(caller, for: user)
        let (kek, version) = try await wrappingKEK(for: user)
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

    func unwrap(_ request: KeyServiceAPI.UnwrapRequest, caller: Caller) async throws(APIError) -> KeyServiceAPI.UnwrapResponse {
        let (user, wrapped, dataKey) = try await open(request, caller: caller, action: "unwrap data keys")
        return KeyServiceAPI.UnwrapResponse(
            user: user.id,
            kekVersion: wrapped.kekVersion,
            plaintext: Data(dataKey.rawBytes).base64EncodedString(),
            cacheTTL: cacheTTL
        )
    }

    /// Unwraps and wraps again under the newest KEK version; the data key never leaves in clear.
    func rewrap(_ request: KeyServiceAPI.UnwrapRequest, caller: Caller) async throws(APIError) -> KeyServiceAPI.RewrapResponse {
        let (user, wrapped, dataKey) = try await open(request, caller: caller, action: "rewrap data keys")
        if wrapped.kekVersion == user.currentKEKVersion {
            return KeyServiceAPI.RewrapResponse(user: user.id, kekVersion: wrapped.kekVersion, wrapped: request.wrapped)
        }
        let (kek, version) = try await wrappingKEK(for: user)
        let rewrapped = try wrap(dataKey, kek: kek, version: version, user: user, context: request.context)
        return KeyServiceAPI.RewrapResponse(user: user.id, kekVersion: version, wrapped: Data(rewrapped.encoded()).base64EncodedString())
    }

    /// Everything an unwrap checks, in order; returns the opened data key.
    private func open(_ request: KeyServiceAPI.UnwrapRequest, caller: Caller, action: String)
        async throws(APIError) -> (UserRecord, WrappedKey, SymmetricKey)
    {
        try caller.require({ if case .node = $0 { true } else { false } }, for: action)
        try Self.validate(userID: request.user)
        try Self.validate(context: request.context)
        guard let bytes = Data(base64Encoded: request.wrapped) else {
            throw APIError.badRequest("'wrapped' is not valid base64", code: "invalid_wrapped_key")
        }
        let wrapped: WrappedKey
        do {
            wrapped = try WrappedKey(encoded: Array(bytes))
        } catch {
            throw APIError.badRequest("'wrapped' is not a valid wrapped key: \(error)", code: "invalid_wrapped_key")
        }
        guard wrapped.userID == request.user else {
            throw APIError.badRequest("the wrapped key belongs to another user than '\(request.user)'", code: "wrapped_key_user_mismatch")
        }
        // One read for the user and the KEK version the blob names; the KEK is opened only after
        // every check below has passed.
        guard let (user, kekRecord) = try await storeCall({ try await store.userAndKEK(id: request.user, version: wrapped.kekVersion) })
        else {
            throw APIError.notFound("user \(request.user) does not exist", code: "user_not_found")
        }
        try authorizeRegion(caller, for: user)
        guard !caller.refusesReason(request.reason) else {
            throw APIError.forbidden(
                "unwraps for reason '\(request.reason.rawValue)' are refused by the KeyService policy for this node's region",
                code: "reason_denied"
            )
        }
        switch user.state {
        case .active, .deactivated: break
        case .suspended: throw APIError.forbidden("user \(user.id) is suspended (disabled by an admin)", code: "user_suspended")
        case .destroyed: throw APIError.forbidden("user \(user.id) was destroyed; its keys no longer exist", code: "user_destroyed")
        }
        guard !user.unwrapLocked else {
            throw APIError.forbidden(
                "unwraps of user \(user.id) are locked after its unwrap budget was exceeded; an admin must clear it", code: "unwrap_locked")
        }
        guard wrapped.kekVersion >= user.minKEKVersion else {
            throw APIError.forbidden(
                "KEK version \(wrapped.kekVersion) of user \(user.id) is below its minimum \(user.minKEKVersion); rewrap the key",
                code: "kek_version_retired"
            )
        }
        if let wait = userUnwraps.take(user.id) {
            throw APIError(
                .tooManyRequests, code: "rate_limited", "too many unwraps for user \(user.id)", headers: ["Retry-After": "\(wait)"])
        }
        if budget.exceeds(user.id) {
            _ = try? await store.update(userID: user.id) { $0.unwrapLocked = true }
            throw APIError.forbidden(
                "user \(user.id) exceeded its unwrap budget; unwraps are locked until an admin clears them",
                code: "unwrap_budget_exceeded"
            )
        }
        guard let kekRecord else {
            throw APIError(.unprocessableContent, code: "unknown_kek_version", "user \(user.id) has no KEK version \(wrapped.kekVersion)")
        }
        let kek = try open(kekRecord, user: user)
        do {
            return (user, wrapped, try wrapped.unwrap(kek: kek, region: user.homeRegion, context: request.context))
        } catch {
            throw APIError(
                .unprocessableContent,
                code: "unwrap_failed",
                "the wrapped key does not open for this user, region and context: it was altered or the context differs"
            )
        }
    }

    /// The current KEK of an active user, if its cryptoperiod and wrap count allow one more wrap.
    private func wrappingKEK(for user: UserRecord) async throws(APIError) -> (SymmetricKey, UInt32) {
        guard user.state == .active else {
            throw APIError.forbidden("user \(user.id) is \(user.state.rawValue); only active users get new wraps", code: "user_not_active")
        }
        let version = user.currentKEKVersion
        guard let record = try await storeCall({ try await store.kek(userID: user.id, version: version) }) else {
            throw APIError(.internalServerError, code: "kek_missing", "user \(user.id) has no current KEK version \(version)")
        }
        if let created = Timestamps.date(record.createdAt),
            Date().timeIntervalSince(created) > TimeInterval(lifecycle.kekMaxAge)
        {
            throw APIError.conflict(
                "KEK v\(version) of user \(user.id) is past its cryptoperiod; an admin must rotate it", code: "kek_rotation_required")
        }
        let wraps = try await storeCall { try await store.countWrap(userID: user.id, version: version) }
        guard wraps <= lifecycle.kekMaxWraps else {
            throw APIError.conflict(
                "KEK v\(version) of user \(user.id) reached its wrap limit; an admin must rotate it", code: "kek_rotation_required")
        }
        return (try open(record, user: user), version)
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

    // MARK: Helpers

    private func createOnFirstUse(userID: String, caller: Caller) async throws(APIError) -> UserRecord? {
        guard caller.mayCreateUsersOnFirstUse else { return nil }
        let regions = caller.nodeRegions
        guard regions.count == 1, let region = regions.first else {
            throw APIError.forbidden("a node serving several regions cannot create users on first use", code: "ambiguous_region")
        }
        _ = try await UserAdministration(store: store, sealer: sealer, lifecycle: lifecycle, budget: budget)
            .create(userID: userID, region: region)
        return try await storeCall { try await store.user(id: userID) }
    }

    private func authorizeRegion(_ caller: Caller, for user: UserRecord) throws(APIError) {
        guard caller.nodeRegions.contains(user.homeRegion) else {
            throw APIError.forbidden(
                "\(caller.identity) serves region(s) \(caller.nodeRegions.sorted().joined(separator: ", ")); user \(user.id) is homed in \(user.homeRegion)",
                code: "region_mismatch"
            )
        }
    }

    private func open(_ record: SealedKEKRecord, user: UserRecord) throws(APIError) -> SymmetricKey {
        let version = record.version
        do {
            return try sealer.open(record.sealed, userID: user.id, version: version)
        } catch {
            // The row exists but does not open: the database was altered or the root key is wrong.
            throw APIError(
                .internalServerError, code: "kek_integrity", "the stored KEK of user \(user.id) v\(version) failed its integrity check")
        }
    }

    private func storeCall<T>(_ body: () async throws -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch {
            throw APIError.unavailable("the key store is not available: \(error)", retryAfterSeconds: 5)
        }
    }

    static func validate(userID: String) throws(APIError) {
        guard Identifiers.isValidUserID(userID) else {
            throw APIError.badRequest("user id must be 1-128 characters of A-Z a-z 0-9 . _ @ -", code: "invalid_user_id")
        }
    }

    static func validate(context: String) throws(APIError) {
        guard (1...KeyServiceAPI.maximumContextLength).contains(context.utf8.count) else {
            throw APIError.badRequest("context must be 1-\(KeyServiceAPI.maximumContextLength) bytes of UTF-8", code: "invalid_context")
        }
    }
}
