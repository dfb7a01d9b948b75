import Hummingbird
import Shared

/// `GET /v1/health`: ACTIVE when metadata and the KeyService answer; DEGRADED when only the
/// KeyService is unreachable (objects whose data keys are cached still read); UNAVAILABLE (503)
/// when the node's own metadata store fails.
struct NodeHealth: Sendable {
    let metadata: any MetadataStore
    let keyService: KeyServiceClient

    func response() async throws -> Response {
        var reasons: [String] = []
        var status = KeyServiceAPI.Health.Status.active
        do {
            try await metadata.ping()
        } catch {
            reasons.append("metadata store: \(error)")
            status = .unavailable
        }
        if await !keyService.isHealthy() {
            reasons.append("KeyService \(keyService.baseURL) is unreachable or unhealthy; only cached data keys can be used")
            if status == .active { status = .degraded }
        }
        return try JSONResponse.make(
            KeyServiceAPI.Health(status: status, reasons: reasons, version: SplitKeyVersion.current),
            status: status == .unavailable ? .serviceUnavailable : .ok
        )
    }
}
