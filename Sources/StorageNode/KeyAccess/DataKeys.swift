import Crypto
import Foundation
import Shared

/// Data keys for reads and writes: one current key per user, persisted only wrapped,
/// replaced after a configured age or object count, held in clear only in ``DataKeyCache``.
struct DataKeys: Sendable {
    let metadata: any MetadataStore
    let keyService: KeyServiceClient
    let cache: DataKeyCache
    let maxAge: TimeInterval
    let maxObjects: Int

    /// The key new objects of `user` are sealed under, with its id.
    func forWrite(user: String) async throws(NodeError) -> (id: Int64, key: SymmetricKey) {
        if let current = try await storage({ () async throws(StorageError) in try await metadata.currentDataKey(user: user) }),
            Date().timeIntervalSince(current.createdAt) < maxAge, current.objectCount < maxObjects
        {
            if let key = cache.get(current.id) { return (current.id, key) }
            return (current.id, try await unwrap(current, reason: .userRequest))
        }
        let generated: KeyServiceClient.GeneratedKey
        do {
            generated = try await keyService.generate(user: user)
        } catch {
            throw NodeError(error)
        }
        let record = try await storage { () async throws(StorageError) in
            try await metadata.insertDataKey(user: user, wrapped: generated.wrapped, kekVersion: generated.kekVersion)
        }
        cache.put(record.id, key: generated.key, ttlSeconds: generated.cacheTTL)
        return (record.id, generated.key)
    }

    /// The key an existing object of `user` was sealed under.
    func forRead(user: String, dataKeyID: Int64) async throws(NodeError) -> SymmetricKey {
        if let key = cache.get(dataKeyID) { return key }
        guard let record = try await storage({ () async throws(StorageError) in try await metadata.dataKey(id: dataKeyID) }),
            record.userID == user
        else {
            throw NodeError.integrity("the object's data key record is missing or belongs to another user")
        }
        return try await unwrap(record, reason: .userRequest)
    }

    private func unwrap(_ record: DataKeyRecord, reason: KeyServiceAPI.UnwrapReason) async throws(NodeError) -> SymmetricKey {
        // Check the stored blob here first: a damaged one is an integrity failure of this node's
        // storage, not something to send to the key holder.
        guard let parsed = try? WrappedKey(encoded: record.wrapped), parsed.userID == record.userID else {
            throw NodeError.integrity("the stored wrapped data key \(record.id) is damaged")
        }
        do {
            let (key, ttl) = try await keyService.unwrap(user: record.userID, wrapped: record.wrapped, reason: reason)
            cache.put(record.id, key: key, ttlSeconds: ttl)
            return key
        } catch {
            throw NodeError(error)
        }
    }

    private func storage<T>(_ body: () async throws(StorageError) -> T) async throws(NodeError) -> T {
        do {
            return try await body()
        } catch {
            throw NodeError(error)
        }
    }
}
