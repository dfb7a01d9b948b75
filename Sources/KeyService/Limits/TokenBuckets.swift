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

    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])
    let rate: Double
    let burst: Double

    init(rate: Int, burst: Int) {
        self.rate = Double(rate)
        self.burst = Double(max(burst, 1))
    }

    /// nil when allowed; otherwise whole seconds to wait (at least 1).
    func take(_ key: String) -> Int? {
        let now = ContinuousClock.now
        return buckets.withLockedValue { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = now
            defer {
                buckets[key] = bucket
                // Full buckets carry no information; drop them so the table stays small.
                if buckets.count > 100_000 { buckets = buckets.filter { $0.value.tokens < burst } }
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }
}

/// Counts each user's unwraps in fixed windows; the first unwrap past the budget trips a lock.
final class UnwrapBudget: Sendable {
    private struct Window {
        var start: ContinuousClock.Instant
        var count: Int
    }

    private let windows = NIOLockedValueBox<[String: Window]>([:])
    let budget: Int
    let window: Duration

    init(budget: Int, windowSeconds: Int) {
        self.budget = budget
        self.window = .seconds(windowSeconds)
    }

    /// Counts one unwrap; true when this one exceeds the budget.
    func exceeds(_ user: String) -> Bool {
        let now = ContinuousClock.now
        return windows.withLockedValue { windows in
            var w = windows[user] ?? Window(start: now, count: 0)
            if now - w.start >= window { w = Window(start: now, count: 0) }
            w.count += 1
            windows[user] = w
            return w.count > budget
        }
    }

    func reset(_ user: String) {
        _ = windows.withLockedValue { $0.removeValue(forKey: user) }
    }
}
