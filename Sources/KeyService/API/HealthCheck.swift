import Hummingbird
import Shared

/// `GET /v1/health`: ACTIVE when the key store answers and the root key matched it at start;
/// UNAVAILABLE (HTTP 503) with the reason otherwise, so load balancers and operators agree.
struct HealthCheck: Sendable {
    let store: any KeyStore
    let audit: AuditLog

    func response() async throws -> Response {
        var reasons: [String] = []
        do {
            try await store.ping()
        } catch {
            reasons.append("key store: \(error)")
        }
        var status: KeyServiceAPI.Health.Status = reasons.isEmpty ? .active : .unavailable
        if let failure = audit.lastFailure {
            reasons.append("audit trail: \(failure); key operations are refused")
            if status == .active { status = .degraded }
        }
        return try JSONResponse.make(
            KeyServiceAPI.Health(status: status, reasons: reasons, version: SplitKeyVersion.current),
            status: status == .unavailable ? .serviceUnavailable : .ok
        )
    }
}
