import Hummingbird
import Logging
import Shared

/// `GET /v1/health`: ACTIVE when the key store answers and the audit trail is writable;
/// DEGRADED when the trail is not (key operations are refused), UNAVAILABLE (HTTP 503) when
/// the store does not answer. Any authenticated peer may ask, so the reasons name the failing
/// part only; what failed and where is in the log.
struct HealthCheck: Sendable {
    let store: any KeyStore
    let audit: AuditLog
    let replica: String

    func response(logger: Logger) async throws -> Response {
        var reasons: [String] = []
        do {
            try await store.ping()
        } catch {
            logger.error("health: key store does not answer", metadata: ["error": "\(error)"])
            reasons.append("key store unavailable")
        }
        var status: KeyServiceAPI.Health.Status = reasons.isEmpty ? .active : .unavailable
        if audit.lastFailure != nil {
            reasons.append("audit trail cannot be written; key operations are refused")
            if status == .active { status = .degraded }
        }
        return try JSONResponse.make(
            KeyServiceAPI.Health(status: status, reasons: reasons, version: SplitKeyVersion.current, replica: replica),
            status: status == .unavailable ? .serviceUnavailable : .ok
        )
    }
}
