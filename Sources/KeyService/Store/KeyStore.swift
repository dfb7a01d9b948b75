/// A user as the key store keeps it.
struct UserRecord: Sendable, Equatable {
    enum State: String, Sendable {
        case active
    }

    var id: String
    var homeRegion: String
    var state: State
    var currentKEKVersion: UInt32
    var createdAt: String
}

/// One KEK version of a user, sealed under the root key.
struct SealedKEKRecord: Sendable, Equatable {
    var userID: String
    var version: UInt32
    var sealed: [UInt8]
    var createdAt: String
}

/// Where the KeyService keeps users and sealed KEKs.
///
/// SQLite is the embedded implementation; the protocol is the seam for PostgreSQL-backed
/// replicas. Implementations must make each call atomic and durable before returning.
protocol KeyStore: Sendable {
    /// Creates the user and its first KEK version together, or throws ``KeyStoreError/userExists``.
    func createUser(_ user: UserRecord, firstKEK: SealedKEKRecord) async throws(KeyStoreError)
    func user(id: String) async throws(KeyStoreError) -> UserRecord?
    func users(after: String?, limit: Int) async throws(KeyStoreError) -> [UserRecord]
    func kek(userID: String, version: UInt32) async throws(KeyStoreError) -> SealedKEKRecord?
    /// The root-key check record, created on first use.
    func keyCheck(orCreate make: @Sendable () throws -> [UInt8]) async throws(KeyStoreError) -> [UInt8]
    /// A cheap round trip, for health.
    func ping() async throws(KeyStoreError)
}

enum KeyStoreError: Error, Sendable, CustomStringConvertible {
    case userExists(String)
    case storage(String)

    var description: String {
        switch self {
        case .userExists(let id): "user \(id) already exists"
        case .storage(let detail): "key store failure: \(detail)"
        }
    }
}
