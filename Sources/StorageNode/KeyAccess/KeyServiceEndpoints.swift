/// The KeyService replicas the node may call (`keyService.urls`) and what it last learnt of each:
/// which one a call goes to next, and what a success or a failure changes. Pure state, no I/O:
/// ``KeyServiceClient`` holds one behind a lock, feeds it the outcomes of calls and health probes,
/// and logs and exports the transitions it returns.
///
/// Selection is round robin over the healthy endpoints. An endpoint is taken for healthy until a
/// call or a probe fails on it, and for unhealthy until one succeeds again. When none is healthy
/// the calls still go out, round robin over all of them: health is at most a probe interval old,
/// and a call that fails on a dead replica costs its connect timeout at most, never a hang.
struct KeyServiceEndpoints: Sendable {
    struct Endpoint: Sendable, Equatable {
        var url: String
        var healthy: Bool = true
        /// Why the last call or probe failed, while unhealthy.
        var lastFailure: String?
        /// Failures in a row since the last success.
        var consecutiveFailures: Int = 0
    }

    /// A change of an endpoint's health, for the log and the metric.
    struct Transition: Sendable, Equatable {
        var index: Int
        var url: String
        var healthy: Bool
        var reason: String?
    }

    /// The endpoint one attempt of a call goes to.
    struct Choice: Sendable, Equatable {
        var index: Int
        /// True when every endpoint was tried in this call already, so this one is tried again
        /// (the caller waits a backoff first); false for an endpoint new to the call.
        var again: Bool
    }

    private(set) var endpoints: [Endpoint]
    /// Where the next round-robin search starts.
    private var cursor = 0

    init(urls: [String]) {
        precondition(!urls.isEmpty, "at least one KeyService URL")
        endpoints = urls.map { Endpoint(url: $0) }
    }

    var count: Int { endpoints.count }
    var healthyCount: Int { endpoints.filter(\.healthy).count }
    var urls: [String] { endpoints.map(\.url) }

    /// The endpoint for the next attempt of a call that has already tried `tried` (in order):
    /// the next healthy endpoint the call has not tried; else the next one it has not tried at all
    /// (its health may be stale); else, when it has tried them all, the next healthy one again, or
    /// the next one at all.
    mutating func choose(tried: [Int]) -> Choice {
        let healthy = endpoints.map(\.healthy)
        let untried = { (index: Int) in !tried.contains(index) }
        if let index = nextIndex(where: { untried($0) && healthy[$0] }) ?? nextIndex(where: untried) {
            return Choice(index: index, again: false)
        }
        let index = nextIndex(where: { healthy[$0] }) ?? nextIndex(where: { _ in true }) ?? 0
        return Choice(index: index, again: true)
    }

    /// The first index from the cursor on (wrapping) that `accept`s, moving the cursor past it.
    private mutating func nextIndex(where accept: (Int) -> Bool) -> Int? {
        for step in 0..<endpoints.count {
            let index = (cursor + step) % endpoints.count
            if accept(index) {
                cursor = (index + 1) % endpoints.count
                return index
            }
        }
        return nil
    }

    /// Whether an endpoint not in `tried` is left for a call that may move on.
    func hasUntried(_ tried: [Int]) -> Bool {
        endpoints.indices.contains { !tried.contains($0) }
    }

    /// A call or probe got a whole answer from `index`; returns the transition if it was unhealthy.
    @discardableResult
    mutating func markSucceeded(_ index: Int) -> Transition? {
        guard endpoints.indices.contains(index) else { return nil }
        let was = endpoints[index].healthy
        endpoints[index].healthy = true
        endpoints[index].lastFailure = nil
        endpoints[index].consecutiveFailures = 0
        return was ? nil : Transition(index: index, url: endpoints[index].url, healthy: true, reason: nil)
    }

    /// A call or probe to `index` failed for `reason`; returns the transition if it was healthy.
    @discardableResult
    mutating func markFailed(_ index: Int, reason: String) -> Transition? {
        guard endpoints.indices.contains(index) else { return nil }
        let was = endpoints[index].healthy
        endpoints[index].healthy = false
        endpoints[index].lastFailure = reason
        endpoints[index].consecutiveFailures += 1
        return was ? Transition(index: index, url: endpoints[index].url, healthy: false, reason: reason) : nil
    }

    /// One line for logs: `URL healthy, URL unhealthy (REASON)`.
    var summary: String {
        endpoints.map { endpoint in
            endpoint.healthy ? "\(endpoint.url) healthy" : "\(endpoint.url) unhealthy (\(endpoint.lastFailure ?? "unknown"))"
        }.joined(separator: ", ")
    }
}
