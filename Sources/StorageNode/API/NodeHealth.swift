import Hummingbird
import Logging
import Shared

/// `GET /v1/health`: ACTIVE when metadata and the KeyService answer; DEGRADED when only the
/// KeyService is unreachable (objects whose data keys are cached still read); UNAVAILABLE (503)
/// when the node's own metadata store fails.
///
/// Any peer with a valid certificate may ask, so the reasons are fixed texts: the store's error
/// (file paths, SQL) and the KeyService's URL go to the node log under the request id.
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
        if await !keyService.isHealthy() {
            logger.warning("health: KeyService unreachable or unhealthy", metadata: ["keyService": "\(keyService.baseURL)"])
            reasons.append("the KeyService is unreachable or unhealthy; only cached data keys can be used")
            if status == .active { status = .degraded }
        }
        return try JSONResponse.make(
            KeyServiceAPI.Health(status: status, reasons: reasons, version: SplitKeyVersion.current),
            status: status == .unavailable ? .serviceUnavailable : .ok
        )
    }
}
