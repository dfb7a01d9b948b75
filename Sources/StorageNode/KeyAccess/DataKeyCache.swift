import Crypto
import Foundation
import Metrics
import NIOConcurrencyHelpers

/// Plaintext data keys in memory only, each for no longer than the `cacheTTL` the KeyService
/// gave with it, and never more than `capacity` at once.
///
/// The TTL is the key holder's bound on how long a revocation takes to bite on this node, so an
/// entry is never served past it, even if it was used a moment ago.
final class DataKeyCache: Sendable {
    private struct Entry {
        var key: SymmetricKey
        var expires: ContinuousClock.Instant
        var lastUsed: ContinuousClock.Instant
    }

    private let entries = NIOLockedValueBox<[Int64: Entry]>([:])
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    private let hits = Counter(label: "splitkey_dek_cache_hits_total")
    private let misses = Counter(label: "splitkey_dek_cache_misses_total")

    func get(_ id: Int64) -> SymmetricKey? {
        let key = lookup(id)
        (key == nil ? misses : hits).increment()
        return key
    }

    private func lookup(_ id: Int64) -> SymmetricKey? {
        let now = ContinuousClock.now
        return entries.withLockedValue { entries in
            guard var entry = entries[id] else { return nil }
            guard entry.expires > now else {
                entries[id] = nil
                return nil
            }
            entry.lastUsed = now
            entries[id] = entry
            return entry.key
        }
    }

    func put(_ id: Int64, key: SymmetricKey, ttlSeconds: Int) {
        guard ttlSeconds > 0 else { return }
        let now = ContinuousClock.now
        entries.withLockedValue { entries in
            if entries.count >= capacity, entries[id] == nil {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= capacity, let victim = entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
                    entries[victim] = nil
                }
            }
            entries[id] = Entry(key: key, expires: now + .seconds(ttlSeconds), lastUsed: now)
        }
    }

    var count: Int { entries.withLockedValue { $0.count } }
}
