import Foundation
import Hummingbird
import Logging
import NIOCore
import Shared

/// The KeyService's `/v1/` routes: HTTP only. Each route decodes its request and calls one
/// method of ``KeyServiceOperations``, which validates, decides (``Authorizer``), records and
/// acts; the caller was resolved once by ``CallerMiddleware`` on the group.
struct KeyServiceRoutes: Sendable {
    let state: ServerStateStore
    let operations: KeyServiceOperations
    let health: HealthCheck
    let xksKeys: XKSKeyAdministration

    typealias Context = KeyServiceRequestContext
    typealias P = KeyServiceAPI.Path

    func register(on router: Router<SplitKeyRequestContext>) {
        let v1 = router.group("v1", context: KeyServiceRequestContext.self)
            .add(middleware: CallerMiddleware(state: state))
        v1.get(path(P.health)) { _, context in try await health.response(logger: context.logger) }
        v1.get(path(P.whoami)) { _, context in
            let caller = try context.requireCaller()
            return try JSONResponse.make(
                KeyServiceAPI.WhoAmI(
                    spiffeID: caller.identity.spiffeID?.description, spkiSHA256: caller.identity.spkiSHA256,
                    roles: caller.deniedBy == nil ? caller.roles.map(\.description).sorted() : [])
            )
        }
        v1.post(path(P.generate)) { request, context in
            let body = try await decode(KeyServiceAPI.GenerateRequest.self, request, context, .generate)
            return try JSONResponse.make(
                try await operations.generate(body, includePlaintext: true, caller: try context.requireCaller(), info: info(context)))
        }
        v1.post(path(P.generateWrapped)) { request, context in
            let body = try await decode(KeyServiceAPI.GenerateRequest.self, request, context, .generateWrapped)
            return try JSONResponse.make(
                try await operations.generate(body, includePlaintext: false, caller: try context.requireCaller(), info: info(context)))
        }
        v1.post(path(P.unwrap)) { request, context in
            let body = try await decode(KeyServiceAPI.UnwrapRequest.self, request, context, .unwrap)
            return try JSONResponse.make(try await operations.unwrap(body, caller: try context.requireCaller(), info: info(context)))
        }
        v1.post(path(P.rewrap)) { request, context in
            let body = try await decode(KeyServiceAPI.UnwrapRequest.self, request, context, .rewrap)
            return try JSONResponse.make(try await operations.rewrap(body, caller: try context.requireCaller(), info: info(context)))
        }
        v1.post(path(P.unwrapBatch)) { request, context in
            let body = try await decode(KeyServiceAPI.BatchUnwrapRequest.self, request, context, .unwrap, limit: 4 << 20)
            return try JSONResponse.make(try await operations.unwrapBatch(body, caller: try context.requireCaller(), info: info(context)))
        }
        v1.post(path(P.users)) { request, context in
            let body = try await decode(KeyServiceAPI.CreateUserRequest.self, request, context, .createUser)
            return try JSONResponse.make(
                try await operations.createUser(body, caller: try context.requireCaller(), info: info(context)), status: .created)
        }
        v1.get(path(P.users)) { request, context in
            let limit = Int(request.uri.queryParameters["limit"].map(String.init) ?? "100") ?? 0
            let after = request.uri.queryParameters["after"].map(String.init)
            return try JSONResponse.make(
                try await operations.listUsers(after: after, limit: limit, caller: try context.requireCaller(), info: info(context)))
        }
        v1.get(path(P.users + "/:id")) { _, context in
            let id = try context.parameters.require("id")
            return try JSONResponse.make(try await operations.showUser(id: id, caller: try context.requireCaller(), info: info(context)))
        }
        v1.post(path(P.users + "/:id/:action")) { request, context in
            let caller = try context.requireCaller()
            let id = try context.parameters.require("id")
            guard let action = KeyServiceAPI.UserAction(rawValue: try context.parameters.require("action")) else {
                throw APIError.notFound("no such user action", code: .notFound)
            }
            var request = request
            let body: Data
            do {
                body = Data(buffer: try await request.collectBody(upTo: 1 << 16))
            } catch {
                let api = ErrorShapeMiddleware.apiError(for: error, logger: context.logger)
                throw await operations.rejected(OperationName(action), caller: caller, info: info(context), api)
            }
            return try JSONResponse.make(
                try await operations.userAction(action, userID: id, body: body, caller: caller, info: info(context)))
        }
        v1.get(path(P.revokedIdentities)) { _, context in
            try JSONResponse.make(try await operations.listRevoked(caller: try context.requireCaller(), info: info(context)))
        }
        v1.post(path(P.revokedIdentities)) { request, context in
            let body = try await decode(KeyServiceAPI.RevokeRequest.self, request, context, .revokeIdentity)
            return try JSONResponse.make(
                try await operations.setRevoked(body, revoked: true, caller: try context.requireCaller(), info: info(context)),
                status: .created)
        }
        XKSKeyRoutes(keys: xksKeys, operations: operations).register(on: v1)
        v1.delete(path(P.revokedIdentities)) { request, context in
            let body = try await decode(KeyServiceAPI.RevokeRequest.self, request, context, .unrevokeIdentity)
            return try JSONResponse.make(
                try await operations.setRevoked(body, revoked: false, caller: try context.requireCaller(), info: info(context)))
        }
    }

    /// A route path relative to the `/v1` group.
    private func path(_ absolute: String) -> RouterPath {
        RouterPath(String(absolute.dropFirst("/v1".count)))
    }

    private func info(_ context: Context) -> AuditedOperations.RequestInfo {
        .init(requestID: context.requestID, logger: context.logger)
    }

    /// Decodes a JSON body; a body that does not decode is refused, and recorded as a refusal
    /// of `op`, before any operation runs.
    private func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: Context, _ op: OperationName, limit: Int = 1 << 20)
        async throws -> T
    {
        let caller = try context.requireCaller()
        do {
            return try await request.decodeJSON(type, limit: limit)
        } catch {
            throw await operations.rejected(
                op, caller: caller, info: info(context), ErrorShapeMiddleware.apiError(for: error, logger: context.logger))
        }
    }
}
