import Foundation
import Shared

/// One stored object as the metadata store knows it.
struct ObjectRecord: Sendable, Equatable {
    var userID: String
    var key: String
    /// File name of the sealed blob in the blob store.
    var blobName: String
    /// The write id in the blob's header; a blob with another one is refused.
    var writeID: [UInt8]
    var dataKeyID: Int64
    var size: Int64
    var createdAt: Date

    var etag: String { "\"" + Hex.encode(writeID.prefix(12)) + "\"" }
}

/// A data key of one user, as persisted: wrapped only.
struct DataKeyRecord: Sendable, Equatable {
    var id: Int64
    var userID: String
    var wrapped: [UInt8]
    var kekVersion: UInt32
    var createdAt: Date
    var objectCount: Int
}

/// Where the StorageNode keeps object metadata and wrapped data keys.
///
/// A commit returning is the moment an object exists; implementations must make it durable
/// first. SQLite is the embedded implementation; PostgreSQL is the path for larger regions.
protocol MetadataStore: Sendable {
    func object(user: String, key: String) async throws(StorageError) -> ObjectRecord?
    /// Stores `record`, replacing any object of the same user and key, and counts it against its
    /// data key. Returns the replaced record, whose blob the caller then deletes.
    func put(_ record: ObjectRecord) async throws(StorageError) -> ObjectRecord?
    func delete(user: String, key: String) async throws(StorageError) -> ObjectRecord?
    func list(user: String, prefix: String, startAfter: String, limit: Int) async throws(StorageError) -> [ObjectRecord]
    func currentDataKey(user: String) async throws(StorageError) -> DataKeyRecord?
    func insertDataKey(user: String, wrapped: [UInt8], kekVersion: UInt32) async throws(StorageError) -> DataKeyRecord
    func dataKey(id: Int64) async throws(StorageError) -> DataKeyRecord?
    /// Those of `names` that an `objects` row records as its blob: what a garbage collector
    /// must keep. For one page of a blob listing (up to 1000 names) at a time.
    func existingBlobNames(_ names: [String]) async throws(StorageError) -> Set<String>
    /// Data keys in id order after `afterID`, of one user or all.
    func dataKeys(user: String?, afterID: Int64, limit: Int) async throws(StorageError) -> [DataKeyRecord]
    /// Replaces a data key's wrapped form if it is still `old`; false if it changed meanwhile.
    func replaceWrapped(id: Int64, old: [UInt8], new: [UInt8], kekVersion: UInt32) async throws(StorageError) -> Bool
    func ping() async throws(StorageError)
    /// This database's identity: made once when its schema was created, the same for every node
    /// that shares it, different for every other database.
    func storeID() async throws(StorageError) -> String
}

/// Failures of the node's own storage, each mapped to an HTTP answer by the routes.
enum StorageError: Error, Sendable, CustomStringConvertible {
    case noSpace(String)
    case io(String)
    case metadata(String)
    /// The metadata store did not answer in time (a shared database that is down or slow):
    /// nothing was changed, and a retry may succeed.
    case unavailable(String)
    /// A stored record breaks a rule the node's own writes always keep (a blob name not of the
    /// node's format, say): it was altered. Nothing is done with it.
    case integrity(String)

    var description: String {
        switch self {
        case .noSpace(let d): "no space left on the node's storage: \(d)"
        case .io(let d): "storage I/O failed: \(d)"
        case .metadata(let d): "metadata store failed: \(d)"
        case .unavailable(let d): "metadata store unavailable: \(d)"
        case .integrity(let d): "stored record failed its integrity check: \(d)"
        }
    }
}
