/// How often, and for how long, ``S3Client`` tries a request again after a failure that may be
/// transient: HTTP 500, 502, 503 and 504 (a store's own errors and those of a proxy or load
/// balancer in front of it), the `SlowDown` error, and connection failures or timeouts.
/// Everything else (a 4xx, a malformed answer) fails at once: sending it again gets the same answer.
///
/// Waits are exponential with full jitter (a uniformly random wait between zero and the capped
/// exponential bound): nodes that all saw one outage do not come back in lock-step and knock
/// the store over again.
///
/// Both bounds hold together: at most ``maximumRetries`` retries, and no attempt starts, or runs,
/// past ``totalTime`` after the first began (each attempt's response timeout is cut to what is
/// left), so an operation ends within `totalTime` plus the time to notice the deadline.
public struct S3RetryPolicy: Sendable, Equatable {
    /// Retries after the first attempt; 0 disables retrying.
    public var maximumRetries: Int
    /// The budget of one operation, every attempt and wait included.
    public var totalTime: Duration
    /// The bound of the first wait; it doubles per retry.
    public var baseDelay: Duration
    /// The largest bound of any wait.
    public var maximumDelay: Duration

    public init(
        maximumRetries: Int = 4, totalTime: Duration = .seconds(10), baseDelay: Duration = .milliseconds(100),
        maximumDelay: Duration = .seconds(2)
    ) {
        self.maximumRetries = max(0, maximumRetries)
        self.totalTime = totalTime
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
    }

    /// No retries: one attempt, for callers that retry at a higher level.
    public static let none = S3RetryPolicy(maximumRetries: 0)

    /// The bound of the wait before retry `retry` (1 for the first retry): `baseDelay * 2^(retry-1)`,
    /// at most `maximumDelay`.
    public func delayBound(beforeRetry retry: Int) -> Duration {
        let doublings = min(max(retry - 1, 0), 30)  // 2^30 * any sane base is past maximumDelay
        let bound = baseDelay * (1 << doublings)
        return min(bound, maximumDelay)
    }

    /// A wait drawn uniformly from `0...delayBound(beforeRetry:)`.
    public func delay(beforeRetry retry: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let bound = delayBound(beforeRetry: retry)
        let nanoseconds = max(0, Int64(bound.components.seconds) * 1_000_000_000 + bound.components.attoseconds / 1_000_000_000)
        return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &generator))
    }
}
