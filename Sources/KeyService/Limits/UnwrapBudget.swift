import Foundation
import Logging
import NIOConcurrencyHelpers

/// Counts each user's unwraps in fixed wall-clock windows (so every replica agrees where a
/// window starts); the first unwrap past the budget trips the user's lockout.
///
/// The count is global: each replica adds its own unwraps to the key store's ledger in
/// batches (``flush()``, every `flushInterval`) and learns the total from the answer. An
/// unwrap is decided on the last known total plus this replica's unflushed count, so the
/// worst overshoot is what the *other* replicas did since their last flush: at most
/// (replicas - 1) x `limits.userUnwrapsPerSecond` x (flush interval + one database round trip).
final class UnwrapBudget: Sendable {
    private struct Count {
        var window: Int64
        /// The ledger's total at the last flush (every replica's unwraps in this window).
        var known: Int64 = 0
        /// This replica's unwraps not yet in the ledger (sent and unanswered ones included).
        var pending: Int64 = 0
        var unsent: Int64 = 0
    }

    private let counts = NIOLockedValueBox<[String: Count]>([:])
    let budget: Int
    let windowSeconds: Int64
    let flushInterval: Duration

    init(budget: Int, windowSeconds: Int, flushInterval: Duration = .milliseconds(100)) {
        self.budget = budget
        self.windowSeconds = Int64(max(windowSeconds, 1))
        self.flushInterval = flushInterval
    }

    func window(at date: Date = Date()) -> Int64 {
        let now = Int64(date.timeIntervalSince1970.rounded(.down))
        return now - now % windowSeconds
    }

    /// Counts one unwrap; true when this one may exceed the budget (by what this replica
    /// knows: confirm with ``confirm(_:store:now:)`` before locking, since the known total may be
    /// stale after an admin cleared the user's lockout on another replica).
    func exceeds(_ user: String, now: Date = Date()) -> Bool {
        let window = window(at: now)
        return counts.withLockedValue { counts in
            var count = counts[user].flatMap { $0.window == window ? $0 : nil } ?? Count(window: window)
            count.pending += 1
            count.unsent += 1
            counts[user] = count
            return count.known + count.pending > Int64(budget)
        }
    }

    /// Sends the unflushed counts to the ledger and takes its totals. A failed send keeps the
    /// counts for the next flush, so no unwrap goes uncounted.
    func flush(to store: any KeyStore, now: Date = Date()) async throws(KeyStoreError) {
        let window = window(at: now)
        let batch = counts.withLockedValue { counts -> [String: Int64] in
            counts = counts.filter { $0.value.window == window }
            var batch: [String: Int64] = [:]
            for (user, var count) in counts where count.unsent > 0 {
                batch[user] = count.unsent
                count.unsent = 0
                counts[user] = count
            }
            return batch
        }
        guard !batch.isEmpty else { return }
        do {
            let totals = try await store.countUnwraps(batch, window: window)
            counts.withLockedValue { counts in
                for (user, sent) in batch {
                    guard var count = counts[user], count.window == window else { continue }
                    count.pending -= sent
                    // The ledger is authoritative (an admin's clear empties it).
                    count.known = totals[user] ?? 0
                    counts[user] = count
                }
            }
        } catch {
            counts.withLockedValue { counts in
                for (user, sent) in batch {
                    guard var count = counts[user], count.window == window else { continue }
                    count.unsent += sent
                    counts[user] = count
                }
            }
            throw error
        }
    }

    /// Sends this replica's unflushed unwraps of `user` and answers from the ledger's fresh total
    /// whether the budget is exceeded.
    func confirm(_ user: String, store: any KeyStore, now: Date = Date()) async throws(KeyStoreError) -> Bool {
        let window = window(at: now)
        let sent = counts.withLockedValue { counts -> Int64 in
            guard var count = counts[user], count.window == window else { return 0 }
            defer {
                count.unsent = 0
                counts[user] = count
            }
            return count.unsent
        }
        let total: Int64
        do {
            total = try await store.countUnwraps([user: sent], window: window)[user] ?? 0
        } catch {
            counts.withLockedValue { counts in
                if var count = counts[user], count.window == window {
                    count.unsent += sent
                    counts[user] = count
                }
            }
            throw error
        }
        return counts.withLockedValue { counts in
            var count = counts[user].flatMap { $0.window == window ? $0 : nil } ?? Count(window: window)
            count.pending = max(0, count.pending - sent)
            count.known = total
            counts[user] = count
            return count.known + count.pending > Int64(budget)
        }
    }

    /// An admin cleared the user's lockout (here or on another replica): start counting anew.
    func reset(_ user: String) {
        _ = counts.withLockedValue { $0.removeValue(forKey: user) }
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
