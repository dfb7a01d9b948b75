import Foundation
import Shared

/// An external key of the XKS proxy (AWS KMS external key store): AES-256 material sealed under
/// the root key like a KEK, the operations it allows, and its state.
struct XKSKeyRecord: Sendable, Equatable {
    enum State: String, Sendable, Codable {
        case enabled
        case disabled
        /// Material erased; the id stays taken, so a new key never answers to an old ciphertext's id.
        case destroyed
    }

    var id: String
    var usage: Set<XKSAPI.KeyUsage>
    var state: State
    /// Empty once destroyed.
    var sealed: [UInt8]
    var createdAt: String

    /// `usage` as stored: the sorted spec names joined by commas (empty for neither).
    var usageText: String { usage.sorted().map(\.rawValue).joined(separator: ",") }

    static func usage(fromText text: String) throws(KeyStoreError) -> Set<XKSAPI.KeyUsage> {
        var usage = Set<XKSAPI.KeyUsage>()
        for part in text.split(separator: ",") {
            guard let value = XKSAPI.KeyUsage(rawValue: String(part)) else {
                throw .storage("external key usage '\(text)' names an unknown operation")
            }
            usage.insert(value)
        }
        return usage
    }
}

/// When a replica last reported, and what its own health check said.
struct ReplicaHeartbeat: Sendable, Equatable {
    var replica: String
    var status: String
    /// Seconds since the epoch.
    var seenAt: Int64
}

/// The external keys and the replicas' heartbeats, kept beside users and KEKs in the key store.
/// No rules here either: the lifecycle of an external key is ``XKSKeyLifecycle``'s.
protocol ExternalKeyStore: Sendable {
    /// Inserts the key, or throws ``KeyStoreError/keyExists`` when the id is taken (destroyed ids too).
    func createXKSKey(_ key: XKSKeyRecord) async throws(KeyStoreError)
    func xksKey(id: String) async throws(KeyStoreError) -> XKSKeyRecord?
    func xksKeys(after: String?, limit: Int) async throws(KeyStoreError) -> [XKSKeyRecord]
    /// Replaces `expected` with `next` if the stored key still equals `expected`, else throws
    /// ``KeyStoreError/changed``.
    func commitXKSKey(expected: XKSKeyRecord, next: XKSKeyRecord) async throws(KeyStoreError)
    /// Records that `replica` is alive with `status` at `at` (seconds since the epoch).
    func heartbeat(replica: String, status: String, at: Int64) async throws(KeyStoreError)
    /// Every replica heard from at or after `since`, sorted by name.
    func replicaHeartbeats(since: Int64) async throws(KeyStoreError) -> [ReplicaHeartbeat]
}
