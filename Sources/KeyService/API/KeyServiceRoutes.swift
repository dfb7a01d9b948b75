import Foundation
import Hummingbird
import Logging
import NIOCore
import Shared

/// The KeyService's `/v1/` routes. Each handler resolves the caller's roles from the current
/// policy and revocations, applies the caller's rate limit, runs one operation, and records one
/// audit event per key operation (fail closed: no answer leaves before its record is durable).
struct KeyServiceRoutes: Sendable {
    let state: ServerStateStore
    let operations: KeyOperations
    let administration: UserAdministration
    let health: HealthCheck
    let audit: AuditLog
    let store: any KeyStore
    let connections: ConnectionRegistry
    let identityRequests: TokenBuckets

    func register(on router: Router<SplitKeyRequestContext>) {
        typealias P = KeyServiceAPI.Path
        router.get(RouterPath(P.health)) { _, _ in try await health.response() }
        router.get(RouterPath(P.whoami)) { _, context in
            let identity = try context.requirePeer()
            let current = state.current
            let roles: [String]
            switch current.policy.decide(identity, revoked: current.revoked) {
            case .denied: roles = []
            case .roles(let set): roles = set.map(\.description).sorted()
            }
            return try JSONResponse.make(
                KeyServiceAPI.WhoAmI(spiffeID: identity.spiffeID?.description, spkiSHA256: identity.spkiSHA256, roles: roles)
            )
        }
        router.post(RouterPath(P.generate)) { request, context in
            try await generate(request, context, includePlaintext: true)
        }
        router.post(RouterPath(P.generateWrapped)) { request, context in
            try await generate(request, context, includePlaintext: false)
        }
        router.post(RouterPath(P.unwrap)) { request, context in
            let body = try await request.decodeJSON(KeyServiceAPI.UnwrapRequest.self)
            let caller = try caller(context)
            let result = try await logged(op: "unwrap", user: body.user, reason: body.reason.rawValue, caller: caller, context: context) {
                () async throws(APIError) in try await operations.unwrap(body, caller: caller)
            }
            return try JSONResponse.make(result)
        }
        router.post(RouterPath(P.rewrap)) { request, context in
            let body = try await request.decodeJSON(KeyServiceAPI.UnwrapRequest.self)
            let caller = try caller(context)
            let result = try await logged(op: "rewrap", user: body.user, reason: body.reason.rawValue, caller: caller, context: context) {
                () async throws(APIError) in try await operations.rewrap(body, caller: caller)
            }
            return try JSONResponse.make(result)
        }
        router.post(RouterPath(P.unwrapBatch)) { request, context in
            let body = try await request.decodeJSON(KeyServiceAPI.BatchUnwrapRequest.self, limit: 4 << 20)
            guard (1...KeyServiceAPI.maximumBatchSize).contains(body.items.count) else {
                throw APIError.badRequest("a batch holds 1-\(KeyServiceAPI.maximumBatchSize) items", code: "invalid_batch")
            }
            let caller = try caller(context)
            // The items run concurrently so that their audit records share group-commit fsyncs
            // (one batch costs a few fsyncs, not one per key); answers keep the request's order.
            let results = await withTaskGroup(of: KeyServiceAPI.BatchUnwrapResponse.Item.self) { group in
                for (index, item) in body.items.enumerated() {
                    group.addTask {
                        do throws(APIError) {
                            let key = try await logged(
                                op: "unwrap", user: item.user, reason: item.reason.rawValue, caller: caller, context: context
                            ) {
                                () async throws(APIError) in try await operations.unwrap(item, caller: caller)
                            }
                            return .init(index: index, key: key, error: nil)
                        } catch {
                            return .init(
                                index: index, key: nil,
                                error: .init(status: Int(error.status.code), code: error.code, message: error.message))
                        }
                    }
                }
                var items: [KeyServiceAPI.BatchUnwrapResponse.Item] = []
                items.reserveCapacity(body.items.count)
                for await item in group { items.append(item) }
                return items.sorted { $0.index < $1.index }
            }
            return try JSONResponse.make(KeyServiceAPI.BatchUnwrapResponse(results: results, requestId: context.requestID))
        }
        router.post(RouterPath(P.users)) { request, context in
            let body = try await request.decodeJSON(KeyServiceAPI.CreateUserRequest.self)
            let caller = try caller(context)
            let user = try await logged(op: "create-user", user: body.id, reason: nil, caller: caller, context: context) {
                () async throws(APIError) in try await administration.createUser(body, caller: caller)
            }
            return try JSONResponse.make(user, status: .created)
        }
        router.get(RouterPath(P.users)) { request, context in
            let caller = try caller(context)
            let limitText = request.uri.queryParameters["limit"].map(String.init) ?? "100"
            guard let limit = Int(limitText), (1...1000).contains(limit) else {
                throw APIError.badRequest("limit must be an integer in 1-1000", code: "invalid_limit")
            }
            let after = request.uri.queryParameters["after"].map(String.init)
            return try JSONResponse.make(try await administration.listUsers(after: after, limit: limit, caller: caller))
        }
        router.get(RouterPath(P.users + "/:id")) { _, context in
            let caller = try caller(context)
            let id = try context.parameters.require("id")
            return try JSONResponse.make(try await administration.showUser(id: id, caller: caller))
        }
        router.post(RouterPath(P.users + "/:id/:action")) { request, context in
            let caller = try caller(context)
            let id = try context.parameters.require("id")
            let actionName = try context.parameters.require("action")
            guard let action = KeyServiceAPI.UserAction(rawValue: actionName) else {
                throw APIError.notFound("no user action '\(actionName)'", code: "not_found")
            }
            var request = request
            let body = Data(buffer: try await request.collectBody(upTo: 1 << 16))
            let user = try await logged(op: action.rawValue, user: id, reason: nil, caller: caller, context: context) {
                () async throws(APIError) in try await administration.perform(action, userID: id, body: body, caller: caller)
            }
            return try JSONResponse.make(user)
        }
        router.get(RouterPath(P.revokedIdentities)) { _, context in
            let caller = try caller(context)
            try caller.require({ $0 == .admin || $0 == .auditor }, for: "list revoked identities")
            return try JSONResponse.make(KeyServiceAPI.RevokedList(identities: state.current.revoked.map(\.description)))
        }
        router.post(RouterPath(P.revokedIdentities)) { request, context in
            let body = try await request.decodeJSON(KeyServiceAPI.RevokeRequest.self)
            let caller = try caller(context)
            let closed = try await logged(op: "revoke-identity", user: "-", reason: body.identity, caller: caller, context: context) {
                () async throws(APIError) in try await revoke(body.identity, caller: caller, revoked: true)
            }
            context.logger.notice("identity revoked", metadata: ["identity": "\(body.identity)", "connectionsClosed": "\(closed)"])
            return try JSONResponse.make(KeyServiceAPI.RevokedList(identities: state.current.revoked.map(\.description)), status: .created)
        }
        router.delete(RouterPath(P.revokedIdentities)) { request, context in
            let body = try await request.decodeJSON(KeyServiceAPI.RevokeRequest.self)
            let caller = try caller(context)
            _ = try await logged(op: "unrevoke-identity", user: "-", reason: body.identity, caller: caller, context: context) {
                () async throws(APIError) in try await revoke(body.identity, caller: caller, revoked: false)
            }
            return try JSONResponse.make(KeyServiceAPI.RevokedList(identities: state.current.revoked.map(\.description)))
        }
    }

    /// Records the revocation, applies it to every request from now on, and closes the open
    /// connections of the identity; returns how many were closed.
    private func revoke(_ text: String, caller: Caller, revoked: Bool) async throws(APIError) -> Int {
        try caller.require({ $0 == .admin }, for: "revoke identities")
        guard let matcher = IdentityMatcher(text) else {
            throw APIError.badRequest(
                "'\(text)' is neither a SPIFFE ID (optionally ending in /*) nor spki-sha256:HEX", code: "invalid_identity")
        }
        do {
            try await store.setRevoked(matcher.description, revoked: revoked)
        } catch {
            throw APIError.unavailable("the key store is not available", retryAfterSeconds: 5)
        }
        state.update { current in
            current.revoked.removeAll { $0 == matcher }
            if revoked { current.revoked.append(matcher) }
        }
        return revoked ? connections.close(where: matcher.matches) : 0
    }

    private func generate(_ request: Request, _ context: SplitKeyRequestContext, includePlaintext: Bool) async throws -> Response {
        let body = try await request.decodeJSON(KeyServiceAPI.GenerateRequest.self)
        let caller = try caller(context)
        let result = try await logged(
            op: includePlaintext ? "generate" : "generate-wrapped",
            user: body.user,
            reason: nil,
            caller: caller,
            context: context
        ) { () async throws(APIError) in
            try await operations.generate(user: body.user, context: body.context, caller: caller, includePlaintext: includePlaintext)
        }
        return try JSONResponse.make(result)
    }

    /// The caller's roles under the current policy and revocations, after its rate limit; a
    /// denied or revoked identity is refused here.
    private func caller(_ context: SplitKeyRequestContext) throws -> Caller {
        let identity = try context.requirePeer()
        let current = state.current
        switch current.policy.decide(identity, revoked: current.revoked) {
        case .denied(let rule):
            context.logger.notice("identity denied by policy", metadata: ["rule": "\(rule)"])
            throw APIError.forbidden("\(identity) is denied by the KeyService policy", code: "identity_denied")
        case .roles(let roles):
            if let wait = identityRequests.take(identity.spkiSHA256) {
                throw APIError(
                    .tooManyRequests, code: "rate_limited", "too many requests from \(identity)", headers: ["Retry-After": "\(wait)"])
            }
            return Caller(
                identity: identity,
                roles: roles,
                mayCreateUsersOnFirstUse: current.policy.nodesMayCreateUsers,
                policy: current.policy
            )
        }
    }

    private func logged<T>(
        op: String,
        user: String,
        reason: String?,
        caller: Caller,
        context: SplitKeyRequestContext,
        _ body: () async throws(APIError) -> T
    ) async throws(APIError) -> T {
        var event = KeyEvent(
            op: op,
            user: user,
            peer: caller.identity.description,
            region: caller.nodeRegions.sorted().joined(separator: ","),
            reason: reason,
            outcome: "granted",
            requestID: context.requestID
        )
        let result: T
        do {
            result = try await body()
        } catch {
            event.outcome = "refused"
            event.detail = error.code
            // A refusal gives nothing away, so it is refused whether or not its record lands.
            try? await audit.append(event)
            event.log(to: context.logger)
            throw error
        }
        do {
            // Fail closed: the answer (possibly a key) leaves only once its record is durable.
            try await audit.append(event)
        } catch {
            event.outcome = "refused"
            event.detail = "audit_unavailable"
            event.log(to: context.logger)
            throw APIError.unavailable(
                "the audit trail cannot be written; key operations are refused until it can",
                retryAfterSeconds: 5,
                code: "audit_unavailable"
            )
        }
        event.log(to: context.logger)
        return result
    }
}
