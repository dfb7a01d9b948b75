import Shared

/// Run-time revocations (`keyservice admin node revoke`): stored, applied to every request
/// from then on, and the revoked identity's open connections closed.
struct IdentityRevocations: Sendable {
    let store: any KeyStore
    let state: ServerStateStore
    let connections: ConnectionRegistry

    static func validate(_ text: String) throws(APIError) -> IdentityMatcher {
        guard let matcher = IdentityMatcher(text) else {
            throw APIError.badRequest("not a SPIFFE ID (optionally ending in /*) nor spki-sha256:HEX", code: .invalidIdentity)
        }
        return matcher
    }

    func list(_ ticket: AuditTicket) -> Step<KeyServiceAPI.RevokedList> {
        .done(KeyServiceAPI.RevokedList(identities: state.current.revoked.map(\.description)))
    }

    func set(_ matcher: IdentityMatcher, revoked: Bool, _ ticket: AuditTicket) -> Step<KeyServiceAPI.RevokedList> {
        let (store, state, connections) = (self.store, self.state, self.connections)
        let logger = ticket.logger
        return .change { () async throws(APIError) in
            do {
                try await store.setRevoked(matcher.description, revoked: revoked)
            } catch {
                throw APIError.unavailable("the key store is not available", retryAfterSeconds: 5, code: .storeUnavailable)
            }
            state.update { current in
                current.revoked.removeAll { $0 == matcher }
                if revoked { current.revoked.append(matcher) }
            }
            if revoked {
                let closed = connections.close(where: matcher.matches)
                logger.notice("identity revoked", metadata: ["identity": "\(matcher)", "connectionsClosed": "\(closed)"])
            }
            return KeyServiceAPI.RevokedList(identities: state.current.revoked.map(\.description))
        }
    }
}
