import Hummingbird
import Logging
import Shared

/// `GET /v1/health`: ACTIVE when metadata and every KeyService replica answer; DEGRADED when
/// some or all replicas do not (with some, key requests go to the others; with none, objects
/// whose data keys are cached still read); UNAVAILABLE (503) when the node's own metadata store
/// fails. A node without any KeyService still serves HEAD, LIST and DELETE and its cached keys,
/// so that is DEGRADED, not UNAVAILABLE.
///
/// Any peer with a valid certificate may ask, so the reasons are fixed texts: the store's error
/// (file paths, SQL) and the replicas' URLs and states go to the node log under the request id.
struct NodeHealth: Sendable {
    let metadata: any MetadataStore
    let keyService: KeyServiceClient

    func response(logger: Logger) async throws -> Response {
        var reasons: [String] = []
        var status = KeyServiceAPI.Health.Status.active
        do {
            try await metadata.ping()
        } catch {
            logger.error("health: metadata store failed", metadata: ["error": "\(error)"])
            reasons.append("the metadata store is unavailable")
            status = .unavailable
        }
        // Each call probes every replica (at once, 2 s at most, over the connections key requests
        // use), and what it finds also steers the next key requests.
        let probes = await keyService.checkHealth(timeout: .seconds(2), onCallConnections: true)
        let unhealthy = probes.filter { $0.failure != nil }.count
        if unhealthy > 0 {
            let states = probes.map { probe in probe.failure.map { "\(probe.url) unhealthy (\($0))" } ?? "\(probe.url) healthy" }
            logger.warning(
                unhealthy == probes.count
                    ? "health: KeyService unreachable or unhealthy" : "health: some KeyService replicas unreachable or unhealthy",
                metadata: [
                    "keyService": "\(probes.map(\.url).joined(separator: ","))", "keyServiceEndpoints": "\(states.joined(separator: ", "))",
                ]
            )
            if unhealthy == probes.count {
                reasons.append("the KeyService is unreachable or unhealthy; only cached data keys can be used")
            } else {
                reasons.append(
                    "\(unhealthy) of \(probes.count) KeyService replicas are unreachable or unhealthy; key requests go to the others")
            }
            if status == .active { status = .degraded }
        }
        return try JSONResponse.make(
            KeyServiceAPI.Health(status: status, reasons: reasons, version: SplitKeyVersion.current),
            status: status == .unavailable ? .serviceUnavailable : .ok
        )
    }
}
