import Crypto
import Foundation
import Shared

/// The KeyService's control plane: user creation and the key lifecycle (admin role), and
/// read-only views (admin and auditor). Each operation takes an ``AuditTicket`` and returns a
/// ``Step``: the lifecycle decision is made from the user as read (``UserLifecycle``), and the
/// store is written only in the step's change, after the record is durable, with a compare and
/// set on the user that was read.
struct UserAdministration: Sendable {
    let store: any KeyStore
    let sealer: KEKSealer
    let lifecycle: LifecycleSettings
    let budget: UnwrapBudget

    static func validate(region: String) throws(APIError) {
        guard Identifiers.isValidRegion(region) else {
            throw APIError.badRequest("not a valid region (a-z, 0-9 and '-', up to 63 characters)", code: .invalidRegion)
        }
    }

    func show(id: String, _ ticket: AuditTicket) async throws(APIError) -> Step<KeyServiceAPI.User> {
        .done(Self.wire(try await existing(id)))
    }

    func list(after: String?, limit: Int, _ ticket: AuditTicket) async throws(APIError) -> Step<KeyServiceAPI.UserList> {
        let page = try await call { try await store.users(after: after, limit: limit + 1) }
        let users = page.prefix(limit).map(Self.wire)
        return .done(KeyServiceAPI.UserList(users: users, next: page.count > limit ? users.last?.id : nil))
    }

    /// A new user with KEK version 1, sealed under the root key before anything is recorded.
    func create(userID: String, region: String, _ ticket: AuditTicket) async throws(APIError) -> Step<KeyServiceAPI.User> {
        let now = Timestamps.string(Date())
        let sealed: [UInt8]
        do {
            sealed = try sealer.seal(kek: RandomBytes.key256(), userID: userID, version: 1)
        } catch {
            throw APIError.internalError
        }
        let record = UserRecord(
            id: userID, homeRegion: region, state: .active, currentKEKVersion: 1, minKEKVersion: 1, createdAt: now,
            destroyAfter: nil, unwrapLocked: false)
        let existing = try await call { try await store.user(id: userID) }
        guard existing == nil else { throw APIError.conflict("the user exists already", code: .userExists) }
        let (keyStore, kek) = (self.store, SealedKEKRecord(userID: userID, version: 1, sealed: sealed, createdAt: now, wraps: 0))
        return .change { () async throws(APIError) in try await Self.insert(record, kek, into: keyStore) }
    }

    private static func insert(_ record: UserRecord, _ kek: SealedKEKRecord, into store: any KeyStore) async throws(APIError)
        -> KeyServiceAPI.User
    {
        do {
            try await store.createUser(record, firstKEK: kek)
        } catch {
            throw map(error)
        }
        return wire(record)
    }

    /// One lifecycle change, decided now and made after its record.
    func change(_ change: UserLifecycle.Change, userID: String, _ ticket: AuditTicket) async throws(APIError) -> Step<KeyServiceAPI.User> {
        let user = try await existing(userID)
        let next: UserRecord
        do {
            next = try UserLifecycle.apply(change, to: user, now: Date(), settings: lifecycle)
        } catch {
            throw ticket.refuse(error)
        }
        var addKEK: SealedKEKRecord?
        if change == .rotate {
            do {
                let sealed = try sealer.seal(kek: RandomBytes.key256(), userID: userID, version: next.currentKEKVersion)
                addKEK = SealedKEKRecord(
                    userID: userID, version: next.currentKEKVersion, sealed: sealed, createdAt: Timestamps.string(Date()), wraps: 0)
            } catch {
                throw APIError.internalError
            }
        }
        let (keyStore, budget, kek) = (self.store, self.budget, addKEK)
        return .change { () async throws(APIError) in
            try await Self.commit(change, user, next, kek, store: keyStore, budget: budget)
        }
    }

    private static func commit(
        _ change: UserLifecycle.Change, _ user: UserRecord, _ next: UserRecord, _ kek: SealedKEKRecord?, store: any KeyStore,
        budget: UnwrapBudget
    ) async throws(APIError) -> KeyServiceAPI.User {
        do {
            // The ledger is emptied before the lockout is lifted, so no replica can trip it again
            // on the old count.
            if change == .clearLockout { try await store.clearUnwraps(userID: user.id) }
            if next != user {
                try await store.commit(expected: user, next: next, addKEK: kek, eraseKEKs: change == .destroy)
            }
            if change == .clearLockout { budget.reset(user.id) }
            // The erasure is complete only once no copy of the KEK rows is left in the WAL.
            if change == .destroy { try await store.purgeErased() }
        } catch {
            throw map(error)
        }
        return wire(next)
    }

    private func existing(_ id: String) async throws(APIError) -> UserRecord {
        guard let user = try await call({ try await store.user(id: id) }) else {
            throw APIError.notFound("the user does not exist", code: .userNotFound)
        }
        return user
    }

    private func call<T>(_ body: () async throws -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch {
            throw Self.map(error)
        }
    }

    static func map(_ error: any Error) -> APIError {
        switch error as? KeyStoreError {
        case .userExists: APIError.conflict("the user exists already", code: .userExists)
        case .keyExists: APIError.conflict("the external key exists or existed already", code: .xksKeyExists)
        case .noSuchUser: APIError.notFound("the user does not exist", code: .userNotFound)
        case .changed: APIError.conflict("the user changed while the request was decided; retry", code: .conflict)
        case .incomplete:
            APIError.unavailable(
                "the KEKs were erased but a copy may remain in the write-ahead log; run destroy again to finish", retryAfterSeconds: 1,
                code: .destroyIncomplete)
        case .storage, nil: APIError.unavailable("the key store is not available", retryAfterSeconds: 5, code: .storeUnavailable)
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
