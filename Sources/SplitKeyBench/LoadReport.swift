/// The JSON line `splitkey-bench` prints: raw counts plus the derived rates.
struct LoadReport: Encodable {
    let label: String
    let method: String
    let url: String
    let connections: Int
    let requests: Int
    let errors: Int
    let statuses: [String: Int]
    let seconds: Double
    let requestsPerSecond: Double
    let megabytesPerSecond: Double
    let p50Ms: Double
    let p90Ms: Double
    let p99Ms: Double
    let maxMs: Double
    let bytesIn: Int
    let bytesOut: Int

    init(label: String, plan: LoadPlan, connections: Int, result: LoadResult) {
        self.label = label
        method = plan.method
        // Several URLs (round-robin): separated by spaces.
        url = plan.targets.map { "\($0.scheme)://\($0.host):\($0.port)\($0.pathTemplate)" }.joined(separator: " ")
        self.connections = connections
        requests = result.measuredRequests
        errors = result.errors
        statuses = Dictionary(uniqueKeysWithValues: result.statuses.map { (String($0.key), $0.value) })
        seconds = result.measuredSeconds
        let elapsed = max(result.measuredSeconds, 1e-9)
        requestsPerSecond = Double(result.measuredRequests) / elapsed
        // Payload moved in either direction, in 10^6 bytes per second.
        megabytesPerSecond = Double(result.bytesIn + result.bytesOut) / elapsed / 1e6
        p50Ms = result.percentile(50)
        p90Ms = result.percentile(90)
        p99Ms = result.percentile(99)
        maxMs = result.percentile(100)
        bytesIn = result.bytesIn
        bytesOut = result.bytesOut
    }
}
