import Foundation

/// A user as the key store keeps it.
struct UserRecord: Sendable, Equatable {
    /// Key states, named as in NIST SP 800-57 Part 1 section 5.3.
    enum State: String, Sendable, Codable {
        /// Wraps and unwraps allowed.
        case active
        /// Disabled by an admin: nothing allowed until enabled again.
        case suspended
        /// Destruction scheduled: no new wraps; unwraps still allowed until the destroy, so data
        /// can be read out or the schedule cancelled.
        case deactivated
        /// Every KEK version erased: nothing will ever unwrap again.
        case destroyed
    }

    var id: String
    var homeRegion: String
    var state: State
    var currentKEKVersion: UInt32
    /// Wrapped keys older than this version are refused (after a rotation and rewrap).
    var minKEKVersion: UInt32
    var createdAt: String
    /// When a scheduled destruction may be carried out.
    var destroyAfter: Date?
    /// Unwraps locked after the user's unwrap budget was exceeded, until an admin clears it.
    var unwrapLocked: Bool
}

/// One KEK version of a user, sealed under the root key.
struct SealedKEKRecord: Sendable, Equatable {
    var userID: String
    var version: UInt32
    var sealed: [UInt8]
    var createdAt: String
    /// Data keys wrapped under this version so far.
    var wraps: Int64
}

/// Where the KeyService keeps users and sealed KEKs.
///
/// SQLite is the embedded implementation (one process); PostgreSQL is shared by replicas.
/// Implementations hold no business rules: they read, insert, compare-and-set and erase, and
/// make each call atomic and durable before returning. One contract suite
/// (`KeyStoreContractTests`) runs against every implementation.
protocol KeyStore: ExternalKeyStore {
    /// Creates the user and its first KEK version together, or throws ``KeyStoreError/userExists``.
    func createUser(_ user: UserRecord, firstKEK: SealedKEKRecord) async throws(KeyStoreError)
    func user(id: String) async throws(KeyStoreError) -> UserRecord?
    func users(after: String?, limit: Int) async throws(KeyStoreError) -> [UserRecord]
    func kek(userID: String, version: UInt32) async throws(KeyStoreError) -> SealedKEKRecord?
    /// The user and one of its KEK versions, read together: the unwrap path needs both, and one
    /// read transaction instead of two halves its database round trips. The KEK is nil when the
    /// user or that version does not exist.
    func userAndKEK(id: String, version: UInt32) async throws(KeyStoreError) -> (UserRecord, SealedKEKRecord?)?
    /// Counts one more wrap under `version` and returns the new count.
    func countWrap(userID: String, version: UInt32) async throws(KeyStoreError) -> Int64
    /// Replaces `expected` with `next` if the stored user still equals `expected` (compare and
    /// set), in one transaction with adding `addKEK` and, when `eraseKEKs`, erasing every KEK
    /// version of the user. Throws ``KeyStoreError/changed`` when the user changed since it was
    /// read. The store applies no rule of its own: the caller decided the change.
    func commit(expected: UserRecord, next: UserRecord, addKEK: SealedKEKRecord?, eraseKEKs: Bool) async throws(KeyStoreError)
    /// Makes sure no copy of erased rows survives outside the live database (SQLite: a WAL
    /// checkpoint that truncates the log); throws ``KeyStoreError/incomplete`` if it could not.
    func purgeErased() async throws(KeyStoreError)
    /// The root-key check record, created on first use.
    func keyCheck(orCreate make: @Sendable () throws -> [UInt8]) async throws(KeyStoreError) -> [UInt8]
    /// Identities revoked at run time (`keyservice admin node revoke`), as policy matchers.
    func revokedIdentities() async throws(KeyStoreError) -> [String]
    func setRevoked(_ matcher: String, revoked: Bool) async throws(KeyStoreError)
    /// A cheap round trip, for health.
    func ping() async throws(KeyStoreError)
    /// Adds `counts` (unwraps per user) to the window starting at `window` (seconds since the
    /// epoch) and returns each of those users' total in that window, every replica's included.
    /// Windows before `window` may be dropped.
    func countUnwraps(_ counts: [String: Int64], window: Int64) async throws(KeyStoreError) -> [String: Int64]
    /// Empties the user's unwrap ledger (an admin cleared its lockout).
    func clearUnwraps(userID: String) async throws(KeyStoreError)
    /// Calls `onChange` for every change another process announces (a revocation, a user
    /// changed), until the task is cancelled; returns at once when the store has no other
    /// writers to hear from. Throws when the announcement channel is lost (call again).
    func followChanges(_ onChange: @escaping @Sendable (KeyStoreChange) -> Void) async throws(KeyStoreError)
    /// Ends background work (connection pools); the store is unusable afterwards.
    func close() async
}

/// What another replica changed, as announced through the store.
enum KeyStoreChange: Sendable, Equatable {
    case revocations
    case user(String)

    /// The payload on the wire (PostgreSQL NOTIFY).
    var payload: String {
        switch self {
        case .revocations: "revocations"
        case .user(let id): "user:" + id
        }
    }

    init?(payload: String) {
        if payload == "revocations" {
            self = .revocations
        } else if payload.hasPrefix("user:") {
            self = .user(String(payload.dropFirst(5)))
        } else {
            return nil
        }
    }
}

enum KeyStoreError: Error, Sendable, CustomStringConvertible {
    case userExists(String)
    case keyExists(String)
    case noSuchUser(String)
    case changed(String)
    case incomplete(String)
    case storage(String)

    var description: String {
        switch self {
        case .userExists(let id): "user \(id) already exists"
        case .keyExists(let id): "external key \(id) exists or existed (ids are never reused)"
        case .noSuchUser(let id): "user \(id) does not exist"
        case .changed(let id): "user \(id) changed while the request was decided"
        case .incomplete(let why): why
        case .storage(let detail): "key store failure: \(detail)"
        }
    }
}
