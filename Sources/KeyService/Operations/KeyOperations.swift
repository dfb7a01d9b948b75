import Crypto
import Foundation
import Logging
import Shared

/// The KeyService's data-plane and control-plane operations, independent of HTTP.
///
/// Security rules enforced here, for every call:
/// - A node acts only for users whose home region is one of its own regions.
/// - A wrapped key opens only for the user, KEK version, home region and context it was made
///   for; anything else is a 422 and no key material is returned.
/// - Every answer with a plaintext key carries `cacheTTL`, the key holder's bound on how long
///   the node may keep it.
struct KeyOperations: Sendable {
    let store: any KeyStore
    let sealer: KEKSealer
    let cacheTTL: Int

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
        try authorize(caller, for: user)
        let kek = try await loadKEK(user: user, version: user.currentKEKVersion)
        let dataKey = RandomBytes.key256()
        let wrapped: WrappedKey
        do {
            wrapped = try WrappedKey.wrap(
                dataKey: dataKey,
                kek: kek,
                userID: user.id,
                kekVersion: user.currentKEKVersion,
                region: user.homeRegion,
                context: context
            )
        } catch {
            throw APIError.internalError
        }
        return KeyServiceAPI.GenerateResponse(
            user: user.id,
            kekVersion: user.currentKEKVersion,
            wrapped: Data(wrapped.encoded()).base64EncodedString(),
            plaintext: includePlaintext ? Data(dataKey.rawBytes).base64EncodedString() : nil,
            cacheTTL: includePlaintext ? cacheTTL : nil
        )
    }

    func unwrap(_ request: KeyServiceAPI.UnwrapRequest, caller: Caller) async throws(APIError) -> KeyServiceAPI.UnwrapResponse {
        try caller.require({ if case .node = $0 { true } else { false } }, for: "unwrap data keys")
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
        guard let user = try await storeCall({ try await store.user(id: request.user) }) else {
            throw APIError.notFound("user \(request.user) does not exist", code: "user_not_found")
        }
        try authorize(caller, for: user)
        let kek = try await loadKEK(user: user, version: wrapped.kekVersion)
        let dataKey: SymmetricKey
        do {
            dataKey = try wrapped.unwrap(kek: kek, region: user.homeRegion, context: request.context)
        } catch {
            throw APIError(
                .unprocessableContent,
                code: "unwrap_failed",
                "the wrapped key does not open for this user, region and context: it was altered or the context differs"
            )
        }
        return KeyServiceAPI.UnwrapResponse(
            user: user.id,
            kekVersion: wrapped.kekVersion,
            plaintext: Data(dataKey.rawBytes).base64EncodedString(),
            cacheTTL: cacheTTL
        )
    }

    // MARK: Control plane

    func createUser(_ request: KeyServiceAPI.CreateUserRequest, caller: Caller) async throws(APIError) -> KeyServiceAPI.User {
        try caller.require({ $0 == .admin }, for: "create users")
        return try await create(userID: request.id, region: request.homeRegion)
    }

    func showUser(id: String, caller: Caller) async throws(APIError) -> KeyServiceAPI.User {
        try caller.require({ $0 == .admin || $0 == .auditor }, for: "show users")
        try Self.validate(userID: id)
        guard let user = try await storeCall({ try await store.user(id: id) }) else {
            throw APIError.notFound("user \(id) does not exist", code: "user_not_found")
        }
        return Self.wire(user)
    }

    func listUsers(after: String?, limit: Int, caller: Caller) async throws(APIError) -> KeyServiceAPI.UserList {
        try caller.require({ $0 == .admin || $0 == .auditor }, for: "list users")
        let page = try await storeCall { try await store.users(after: after, limit: limit + 1) }
        let users = page.prefix(limit).map(Self.wire)
        return KeyServiceAPI.UserList(users: users, next: page.count > limit ? users.last?.id : nil)
    }

    // MARK: Helpers

    private func createOnFirstUse(userID: String, caller: Caller) async throws(APIError) -> UserRecord? {
        guard caller.mayCreateUsersOnFirstUse else { return nil }
        let regions = caller.nodeRegions
        guard regions.count == 1, let region = regions.first else {
            throw APIError.forbidden("a node serving several regions cannot create users on first use", code: "ambiguous_region")
        }
        _ = try await create(userID: userID, region: region)
        return try await storeCall { try await store.user(id: userID) }
    }

    private func create(userID: String, region: String) async throws(APIError) -> KeyServiceAPI.User {
        try Self.validate(userID: userID)
        guard Identifiers.isValidRegion(region) else {
            throw APIError.badRequest("'\(region)' is not a valid region (a-z, 0-9 and '-', up to 63 characters)", code: "invalid_region")
        }
        let now = ISO8601DateFormatter().string(from: Date())
        let kek = RandomBytes.key256()
        let sealed: [UInt8]
        do {
            sealed = try sealer.seal(kek: kek, userID: userID, version: 1)
        } catch {
            throw APIError.internalError
        }
        let record = UserRecord(id: userID, homeRegion: region, state: .active, currentKEKVersion: 1, createdAt: now)
        do {
            try await store.createUser(record, firstKEK: SealedKEKRecord(userID: userID, version: 1, sealed: sealed, createdAt: now))
        } catch {
            if case .userExists = error {
                throw APIError.conflict("user \(userID) already exists", code: "user_exists")
            }
            throw APIError.unavailable("the key store is not available", retryAfterSeconds: 5)
        }
        return Self.wire(record)
    }

    private func authorize(_ caller: Caller, for user: UserRecord) throws(APIError) {
        guard caller.nodeRegions.contains(user.homeRegion) else {
            throw APIError.forbidden(
                "\(caller.identity) serves region(s) \(caller.nodeRegions.sorted().joined(separator: ", ")); user \(user.id) is homed in \(user.homeRegion)",
                code: "region_mismatch"
            )
        }
        guard user.state == .active else {
            throw APIError.forbidden("user \(user.id) is \(user.state.rawValue)", code: "user_not_active")
        }
    }

    private func loadKEK(user: UserRecord, version: UInt32) async throws(APIError) -> SymmetricKey {
        guard let record = try await storeCall({ try await store.kek(userID: user.id, version: version) }) else {
            throw APIError(.unprocessableContent, code: "unknown_kek_version", "user \(user.id) has no KEK version \(version)")
        }
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

    static func wire(_ user: UserRecord) -> KeyServiceAPI.User {
        KeyServiceAPI.User(
            id: user.id,
            homeRegion: user.homeRegion,
            state: user.state.rawValue,
            currentKEKVersion: user.currentKEKVersion,
            createdAt: user.createdAt
        )
    }
}
