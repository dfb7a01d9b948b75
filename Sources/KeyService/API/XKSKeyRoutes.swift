import Foundation
import Hummingbird
import Shared

/// `/v1/xks-keys`: the external keys' admin API on the mutual-TLS listener (HTTP only; the
/// operations decide and record).
struct XKSKeyRoutes: Sendable {
    let keys: XKSKeyAdministration
    let operations: KeyServiceOperations

    func register(on v1: RouterGroup<KeyServiceRequestContext>) {
        let path = String(XKSAPI.AdminPath.keys.dropFirst("/v1".count))
        v1.post(RouterPath(path)) { request, context in
            let caller = try context.requireCaller()
            let info = AuditedOperations.RequestInfo(requestID: context.requestID, logger: context.logger)
            let body: XKSAPI.CreateKeyRequest
            do {
                body = try await request.decodeJSON(XKSAPI.CreateKeyRequest.self, limit: 1 << 16)
            } catch {
                throw await operations.rejected(
                    .xksKeyCreate, caller: caller, info: info, ErrorShapeMiddleware.apiError(for: error, logger: context.logger))
            }
            return try JSONResponse.make(try await keys.create(body, caller: caller, info: info), status: .created)
        }
        v1.get(RouterPath(path)) { request, context in
            let limit = Int(request.uri.queryParameters["limit"].map(String.init) ?? "100") ?? 0
            let after = request.uri.queryParameters["after"].map(String.init)
            let info = AuditedOperations.RequestInfo(requestID: context.requestID, logger: context.logger)
            return try JSONResponse.make(try await keys.list(after: after, limit: limit, caller: try context.requireCaller(), info: info))
        }
        v1.get(RouterPath(path + "/:id")) { _, context in
            let info = AuditedOperations.RequestInfo(requestID: context.requestID, logger: context.logger)
            return try JSONResponse.make(
                try await keys.show(id: try context.parameters.require("id"), caller: try context.requireCaller(), info: info))
        }
        v1.post(RouterPath(path + "/:id/:action")) { _, context in
            guard let action = XKSAPI.KeyAction(rawValue: try context.parameters.require("action")) else {
                throw APIError.notFound("no such external key action (disable, enable, destroy)", code: .notFound)
            }
            let info = AuditedOperations.RequestInfo(requestID: context.requestID, logger: context.logger)
            return try JSONResponse.make(
                try await keys.act(action, id: try context.parameters.require("id"), caller: try context.requireCaller(), info: info))
        }
    }
}
