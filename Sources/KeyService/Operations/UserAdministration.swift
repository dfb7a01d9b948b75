import Crypto
import Foundation
import Shared

/// The KeyService's control plane: user creation and the key lifecycle (admin role), and
/// read-only views (admin and auditor).
///
/// State changes follow NIST SP 800-57: active <-> suspended (disable / enable);
/// active or suspended -> deactivated (schedule destruction) -> active (cancel) or
/// destroyed (destroy, once the waiting period is over). Destroyed is final.
struct UserAdministration: Sendable {
    let store: any KeyStore
    let sealer: KEKSealer
    let lifecycle: LifecycleSettings
    let budget: UnwrapBudget

    func createUser(_ request: KeyServiceAPI.CreateUserRequest, caller: Caller) async throws(APIError) -> KeyServiceAPI.User {
        try caller.require({ $0 == .admin }, for: "create users")
        return try await create(userID: request.id, region: request.homeRegion)
    }

    func showUser(id: String, caller: Caller) async throws(APIError) -> KeyServiceAPI.User {
        try caller.require({ $0 == .admin || $0 == .auditor }, for: "show users")
        try KeyOperations.validate(userID: id)
        guard let user = try await call({ () async throws(KeyStoreError) in try await store.user(id: id) }) else {
            throw APIError.notFound("user \(id) does not exist", code: "user_not_found")
        }
        return Self.wire(user)
    }

    func listUsers(after: String?, limit: Int, caller: Caller) async throws(APIError) -> KeyServiceAPI.UserList {
        try caller.require({ $0 == .admin || $0 == .auditor }, for: "list users")
        let page = try await call { () async throws(KeyStoreError) in try await store.users(after: after, limit: limit + 1) }
        let users = page.prefix(limit).map(Self.wire)
        return KeyServiceAPI.UserList(users: users, next: page.count > limit ? users.last?.id : nil)
    }

    /// Runs one lifecycle action; `body` is the action's JSON body (may be empty).
    func perform(_ action: KeyServiceAPI.UserAction, userID: String, body: Data, caller: Caller) async throws(APIError)
        -> KeyServiceAPI.User
    {
        try caller.require({ $0 == .admin }, for: "change the key lifecycle")
        try KeyOperations.validate(userID: userID)
        let sealer = self.sealer
        let record: UserRecord
        switch action {
        case .rotate:
            record = try await call { () async throws(KeyStoreError) in
                try await store.rotate(userID: userID) { version in
                    try sealer.seal(kek: RandomBytes.key256(), userID: userID, version: version)
                }
            }
        case .disable:
            record = try await change(userID) { user in
                guard user.state == .active else {
                    throw KeyStoreError.refused("only an active user can be disabled; \(userID) is \(user.state.rawValue)")
                }
                user.state = .suspended
            }
        case .enable:
            record = try await change(userID) { user in
                guard user.state == .suspended else {
                    throw KeyStoreError.refused("only a suspended user can be enabled; \(userID) is \(user.state.rawValue)")
                }
                user.state = .active
            }
        case .minVersion:
            let request = try decode(KeyServiceAPI.MinVersionRequest.self, body)
            record = try await change(userID) { user in
                guard request.version >= user.minKEKVersion, request.version <= user.currentKEKVersion else {
                    throw KeyStoreError.refused(
                        "minimum KEK version must be between the current minimum \(user.minKEKVersion) and the newest version \(user.currentKEKVersion)"
                    )
                }
                user.minKEKVersion = request.version
            }
        case .scheduleDestruction:
            let request = try decode(KeyServiceAPI.ScheduleDestructionRequest.self, body.isEmpty ? Data("{}".utf8) : body)
            let delay = request.delaySeconds ?? lifecycle.destroyDelay
            guard delay >= 0 else { throw APIError.badRequest("delaySeconds must not be negative", code: "invalid_delay") }
            record = try await change(userID) { user in
                guard user.state == .active || user.state == .suspended else {
                    throw KeyStoreError.refused("destruction of \(userID) cannot be scheduled: it is \(user.state.rawValue)")
                }
                user.state = .deactivated
                user.destroyAfter = Date().addingTimeInterval(TimeInterval(delay))
            }
        case .cancelDestruction:
            record = try await change(userID) { user in
                guard user.state == .deactivated else { throw KeyStoreError.refused("no destruction of \(userID) is scheduled") }
                user.state = .active
                user.destroyAfter = nil
            }
        case .destroy:
            record = try await call { () async throws(KeyStoreError) in try await store.destroy(userID: userID, now: Date()) }
        case .clearLockout:
            budget.reset(userID)
            record = try await change(userID) { $0.unwrapLocked = false }
        }
        return Self.wire(record)
    }

    func create(userID: String, region: String) async throws(APIError) -> KeyServiceAPI.User {
        try KeyOperations.validate(userID: userID)
        guard Identifiers.isValidRegion(region) else {
            throw APIError.badRequest("'\(region)' is not a valid region (a-z, 0-9 and '-', up to 63 characters)", code: "invalid_region")
        }
        let now = Timestamps.string(Date())
        let sealed: [UInt8]
        do {
            sealed = try sealer.seal(kek: RandomBytes.key256(), userID: userID, version: 1)
        } catch {
            throw APIError.internalError
        }
        let record = UserRecord(
            id: userID,
            homeRegion: region,
            state: .active,
            currentKEKVersion: 1,
            minKEKVersion: 1,
            createdAt: now,
            destroyAfter: nil,
            unwrapLocked: false
        )
        try await call { () async throws(KeyStoreError) in
            try await store.createUser(
                record, firstKEK: SealedKEKRecord(userID: userID, version: 1, sealed: sealed, createdAt: now, wraps: 0))
        }
        return Self.wire(record)
    }

    private func change(_ userID: String, _ body: @escaping @Sendable (inout UserRecord) throws -> Void) async throws(APIError)
        -> UserRecord
    {
        try await call { () async throws(KeyStoreError) in try await store.update(userID: userID, body) }
    }

    private func call<T>(_ body: () async throws(KeyStoreError) -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch {
            switch error {
            case .userExists(let id): throw APIError.conflict("user \(id) already exists", code: "user_exists")
            case .noSuchUser(let id): throw APIError.notFound("user \(id) does not exist", code: "user_not_found")
            case .refused(let why): throw APIError.conflict(why, code: "invalid_state")
            case .storage: throw APIError.unavailable("the key store is not available", retryAfterSeconds: 5)
            }
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws(APIError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw APIError.badRequest(
                "request body is not valid JSON of the expected shape: \(ErrorShapeMiddleware.describe(error))", code: "invalid_json")
        }
    }

    static func wire(_ user: UserRecord) -> KeyServiceAPI.User {
        KeyServiceAPI.User(
            id: user.id,
            homeRegion: user.homeRegion,
            state: user.state.rawValue,
            currentKEKVersion: user.currentKEKVersion,
            minKEKVersion: user.minKEKVersion,
            createdAt: user.createdAt,
            destroyAfter: user.destroyAfter.map { Timestamps.string($0) },
            unwrapLocked: user.unwrapLocked
        )
    }
}
