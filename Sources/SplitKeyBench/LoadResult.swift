import NIOCore

/// What one connection saw during the measured window.
struct ConnectionSamples: Sendable {
    var latencies: [Int64] = []
    var errors = 0
    var statuses: [Int: Int] = [:]
    var bytesIn = 0
    var bytesOut = 0
    /// Every request sent, warm-up included.
    var total = 0

    mutating func record(latency: TimeAmount, ok: Bool, status: Int, bytesIn: Int, bytesOut: Int) {
        latencies.append(latency.nanoseconds)
        if !ok { errors += 1 }
        statuses[status, default: 0] += 1
        self.bytesIn += bytesIn
        self.bytesOut += bytesOut
    }
}

/// The merged figures of a run.
struct LoadResult: Sendable {
    let sortedLatencies: [Int64]
    let errors: Int
    let statuses: [Int: Int]
    let bytesIn: Int
    let bytesOut: Int
    let measuredSeconds: Double

    var measuredRequests: Int { sortedLatencies.count }

    init(merging samples: [ConnectionSamples], measuredSeconds: Double) {
        sortedLatencies = samples.flatMap(\.latencies).sorted()
        errors = samples.reduce(0) { $0 + $1.errors }
        statuses = samples.reduce(into: [:]) { merged, one in merged.merge(one.statuses, uniquingKeysWith: +) }
        bytesIn = samples.reduce(0) { $0 + $1.bytesIn }
        bytesOut = samples.reduce(0) { $0 + $1.bytesOut }
        self.measuredSeconds = measuredSeconds
    }

    /// Nearest-rank percentile in milliseconds.
    func percentile(_ p: Double) -> Double {
        guard !sortedLatencies.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sortedLatencies.count)).rounded(.up))
        let index = min(max(rank, 1), sortedLatencies.count) - 1
        return Double(sortedLatencies[index]) / 1e6
    }
}
