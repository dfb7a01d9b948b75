import Foundation
import NIOConcurrencyHelpers

/// Token buckets keyed by a string (an identity's SPKI hash, a user id).
///
/// A bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one
/// token or is refused with the time until one is available, which becomes `Retry-After`.
final class TokenBuckets: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct Table {
        var buckets: [String: Bucket] = [:]
        var lastSweep: ContinuousClock.Instant = .now
    }

    private let table = NIOLockedValueBox(Table())
    let rate: Double
    let burst: Double
    /// Keys kept before refilled buckets are swept out.
    let sweepThreshold: Int

    init(rate: Int, burst: Int, sweepThreshold: Int = 100_000) {
        self.rate = Double(rate)
        self.burst = Double(max(burst, 1))
        self.sweepThreshold = sweepThreshold
    }

    /// Takes `count` tokens: nil when allowed; otherwise whole seconds to wait (at least 1).
    /// A request of more tokens than the burst is refused outright (it could never pass).
    func take(_ key: String, count: Int = 1) -> Int? {
        let now = ContinuousClock.now
        let needed = Double(max(count, 1))
        return table.withLockedValue { table in
            var bucket = table.buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = now
            let wait: Int?
            if bucket.tokens >= needed {
                bucket.tokens -= needed
                wait = nil
            } else {
                wait = max(1, Int(((min(needed, burst) - bucket.tokens) / rate).rounded(.up)))
            }
            table.buckets[key] = bucket
            // Full buckets carry no information; sweep them out, at most once a second, so a
            // large table costs one scan a second, not one per request.
            if table.buckets.count > sweepThreshold && now - table.lastSweep >= .seconds(1) {
                table.lastSweep = now
                table.buckets = table.buckets.filter { entry in
                    let idle = now - entry.value.updated
                    let refill = (Double(idle.components.seconds) + Double(idle.components.attoseconds) / 1e18) * rate
                    return entry.value.tokens + refill < burst
                }
            }
            return wait
        }
    }

    var count: Int { table.withLockedValue { $0.buckets.count } }
}
