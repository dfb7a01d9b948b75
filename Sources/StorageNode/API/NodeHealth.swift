import Hummingbird
import Logging
import Shared

/// `GET /v1/health`: ACTIVE when metadata, the blob store and every KeyService replica answer;
/// DEGRADED when the blob store does not, or some or all replicas do not (with some, key requests go to the others; with none, objects
/// whose data keys are cached still read); UNAVAILABLE (503) when the node's own metadata store
/// fails. A node without any KeyService still serves HEAD, LIST and DELETE and its cached keys,
/// so that is DEGRADED, not UNAVAILABLE.
///
/// Any peer with a valid certificate may ask, so the reasons are fixed texts: the store's error
/// (file paths, SQL) and the replicas' URLs and states go to the node log under the request id.
struct NodeHealth: Sendable {
    let metadata: any MetadataStore
    let blobs: any BlobStore
    let keyService: KeyServiceClient

    /// How long the blob store probe may take; past it the store counts as unavailable.
    static let blobProbeTimeout: Duration = .seconds(2)

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
        // One listing of at most one blob (ListObjectsV2 on S3, needing only the permissions the
        // collector needs): a store that is down makes GET and PUT fail, not HEAD, LIST or DELETE,
        // and every node of a region shares it, so the node is DEGRADED rather than taken out.
        if let failure = await probeBlobs() {
            logger.error("health: blob store failed", metadata: ["error": "\(failure)"])
            reasons.append("the blob store is unavailable; object reads and writes fail")
            if status == .active { status = .degraded }
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

    /// Nil when the blob store listed within ``blobProbeTimeout``, else why not.
    private func probeBlobs() async -> String? {
        let blobs = self.blobs
        return await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    _ = try await blobs.list(after: nil, limit: 1)
                    return nil
                } catch {
                    return "\(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: Self.blobProbeTimeout)
                return "no answer within \(Self.blobProbeTimeout)"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
