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
        _ = locked.withLockedValue { $0.remove(user) }
    }

    /// Users locked in this process because storing their lockout failed: they stay locked
    /// here until an admin clears the lockout, whatever the store says.
    private let locked = NIOLockedValueBox<Set<String>>([])

    func lockLocally(_ user: String) {
        _ = locked.withLockedValue { $0.insert(user) }
    }

    func isLockedLocally(_ user: String) -> Bool {
        locked.withLockedValue { $0.contains(user) }
    }
}
