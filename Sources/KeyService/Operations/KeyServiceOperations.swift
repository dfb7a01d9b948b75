import Foundation
import Shared

/// Every operation of the KeyService's API, below HTTP: the routes decode a request and call
/// one method here; each method validates, then runs through ``AuditedOperations``.
struct KeyServiceOperations: Sendable {
    let audited: AuditedOperations
    let keys: KeyOperations
    let users: UserAdministration
    let revocations: IdentityRevocations
    let store: any KeyStore
    typealias Info = AuditedOperations.RequestInfo

    /// A request refused before it could be decoded (malformed JSON, a body too large): it
    /// still costs the trail one bounded record.
    func rejected(_ op: OperationName, caller: Caller, info: Info, _ error: APIError) async -> APIError {
        do {
            return try await audited.perform(op, caller: caller, info: info, user: nil, admit: false) {
                _ throws(APIError) -> Step<APIError> in
                throw error
            }
        } catch {
            return error
        }
    }

    func generate(_ request: KeyServiceAPI.GenerateRequest, includePlaintext: Bool, caller: Caller, info: Info) async throws(APIError)
        -> KeyServiceAPI.GenerateResponse
    {
        let op: OperationName = includePlaintext ? .generate : .generateWrapped
        let validate = { () throws(APIError) in
            try KeyOperations.validate(userID: request.user)
            try KeyOperations.validate(context: request.context)
        }
        if let region = try await firstUseRegion(request.user, caller: caller, validate: validate) {
            _ = try await audited.perform(.createUser, caller: caller, info: info, user: request.user, admit: false) {
                ticket throws(APIError) in
                try await users.create(userID: request.user, region: region, ticket)
            }
        }
        return try await audited.perform(op, caller: caller, info: info, user: request.user, validate: validate) {
            ticket throws(APIError) in
            .done(
                try await keys.generate(
                    user: request.user, context: request.context, caller: caller, includePlaintext: includePlaintext, ticket))
        }
    }

    /// The region to create a user in on a node's first generate, when the policy allows it,
    /// the node serves exactly one region, and the user does not exist yet.
    private func firstUseRegion(_ userID: String, caller: Caller, validate: () throws(APIError) -> Void) async throws(APIError) -> String? {
        guard let region = audited.authorizer.firstUseRegion(caller), (try? validate()) != nil else { return nil }
        guard (try? await store.user(id: userID)) == .some(nil) else { return nil }
        return region
    }

    func unwrap(_ request: KeyServiceAPI.UnwrapRequest, caller: Caller, info: Info, admit: Bool = true) async throws(APIError)
        -> KeyServiceAPI.UnwrapResponse
    {
        var validated: KeyOperations.ValidatedUnwrap?
        return try await audited.perform(
            .unwrap, caller: caller, info: info, user: request.user, reason: request.reason.rawValue, admit: admit,
            validate: { () throws(APIError) in validated = try KeyOperations.validate(request) }
        ) { ticket throws(APIError) in
            guard let validated else { throw APIError.internalError }
            return .done(try await keys.unwrap(validated, caller: caller, ticket))
        }
    }

    func rewrap(_ request: KeyServiceAPI.UnwrapRequest, caller: Caller, info: Info) async throws(APIError) -> KeyServiceAPI.RewrapResponse {
        var validated: KeyOperations.ValidatedUnwrap?
        return try await audited.perform(
            .rewrap, caller: caller, info: info, user: request.user, reason: request.reason.rawValue,
            validate: { () throws(APIError) in validated = try KeyOperations.validate(request) }
        ) { ticket throws(APIError) in
            guard let validated else { throw APIError.internalError }
            return .done(try await keys.rewrap(validated, caller: caller, ticket))
        }
    }

    /// Each item is its own audited unwrap; the batch is admitted once for all its items.
    func unwrapBatch(_ request: KeyServiceAPI.BatchUnwrapRequest, caller: Caller, info: Info) async throws(APIError)
        -> KeyServiceAPI.BatchUnwrapResponse
    {
        guard (1...KeyServiceAPI.maximumBatchSize).contains(request.items.count) else {
            throw await rejected(
                .unwrap, caller: caller, info: info,
                APIError.badRequest("a batch holds 1-\(KeyServiceAPI.maximumBatchSize) items", code: .invalidBatch))
        }
        try await audited.admitBatch(.unwrap, caller: caller, info: info, items: request.items.count)
        // The items run concurrently so that their audit records share group-commit fsyncs.
        let results = await withTaskGroup(of: KeyServiceAPI.BatchUnwrapResponse.Item.self) { group in
            for (index, item) in request.items.enumerated() {
                group.addTask {
                    do throws(APIError) {
                        return .init(index: index, key: try await unwrap(item, caller: caller, info: info, admit: false), error: nil)
                    } catch {
                        return .init(
                            index: index, key: nil, error: .init(status: Int(error.status.code), code: error.code, message: error.message))
                    }
                }
            }
            var items: [KeyServiceAPI.BatchUnwrapResponse.Item] = []
            items.reserveCapacity(request.items.count)
            for await item in group { items.append(item) }
            return items.sorted { $0.index < $1.index }
        }
        return KeyServiceAPI.BatchUnwrapResponse(results: results, requestId: info.requestID)
    }

    func createUser(_ request: KeyServiceAPI.CreateUserRequest, caller: Caller, info: Info) async throws(APIError) -> KeyServiceAPI.User {
        try await audited.perform(
            .createUser, caller: caller, info: info, user: request.id, reason: nil,
            validate: { () throws(APIError) in
                try KeyOperations.validate(userID: request.id)
                try UserAdministration.validate(region: request.homeRegion)
            }
        ) { ticket throws(APIError) in
            try await users.create(userID: request.id, region: request.homeRegion, ticket)
        }
    }

    func showUser(id: String, caller: Caller, info: Info) async throws(APIError) -> KeyServiceAPI.User {
        try await audited.perform(
            .showUser, caller: caller, info: info, user: id, validate: { () throws(APIError) in try KeyOperations.validate(userID: id) }
        ) { ticket throws(APIError) in
            try await users.show(id: id, ticket)
        }
    }

    func listUsers(after: String?, limit: Int, caller: Caller, info: Info) async throws(APIError) -> KeyServiceAPI.UserList {
        try await audited.perform(
            .listUsers, caller: caller, info: info, user: nil,
            validate: { () throws(APIError) in
                guard (1...1000).contains(limit) else {
                    throw APIError.badRequest("limit must be an integer in 1-1000", code: .invalidLimit)
                }
                if let after { try KeyOperations.validate(userID: after) }
            }
        ) { ticket throws(APIError) in
            try await users.list(after: after, limit: limit, ticket)
        }
    }

    /// A lifecycle action; `body` is its JSON body (may be empty).
    func userAction(_ action: KeyServiceAPI.UserAction, userID: String, body: Data, caller: Caller, info: Info) async throws(APIError)
        -> KeyServiceAPI.User
    {
        var change: UserLifecycle.Change?
        return try await audited.perform(
            OperationName(action), caller: caller, info: info, user: userID,
            validate: { () throws(APIError) in
                try KeyOperations.validate(userID: userID)
                change = try Self.change(action, body: body)
            }
        ) { ticket throws(APIError) in
            guard let change else { throw APIError.internalError }
            return try await users.change(change, userID: userID, ticket)
        }
    }

    func listRevoked(caller: Caller, info: Info) async throws(APIError) -> KeyServiceAPI.RevokedList {
        try await audited.perform(.listRevoked, caller: caller, info: info, user: nil) { ticket throws(APIError) in
            revocations.list(ticket)
        }
    }

    func setRevoked(_ request: KeyServiceAPI.RevokeRequest, revoked: Bool, caller: Caller, info: Info) async throws(APIError)
        -> KeyServiceAPI.RevokedList
    {
        var matcher: IdentityMatcher?
        return try await audited.perform(
            revoked ? .revokeIdentity : .unrevokeIdentity, caller: caller, info: info, user: nil, reason: request.identity,
            validate: { () throws(APIError) in matcher = try IdentityRevocations.validate(request.identity) }
        ) { ticket throws(APIError) in
            guard let matcher else { throw APIError.internalError }
            return revocations.set(matcher, revoked: revoked, ticket)
        }
    }

    private static func change(_ action: KeyServiceAPI.UserAction, body: Data) throws(APIError) -> UserLifecycle.Change {
        switch action {
        case .rotate: return .rotate
        case .disable: return .disable
        case .enable: return .enable
        case .minVersion: return .minVersion(try decode(KeyServiceAPI.MinVersionRequest.self, body).version)
        case .scheduleDestruction:
            return .scheduleDestruction(
                delaySeconds: try decode(KeyServiceAPI.ScheduleDestructionRequest.self, body.isEmpty ? Data("{}".utf8) : body).delaySeconds)
        case .cancelDestruction: return .cancelDestruction
        case .destroy: return .destroy
        case .clearLockout: return .clearLockout
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws(APIError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw APIError.badRequest(
                "request body is not valid JSON of the expected shape: \(ErrorShapeMiddleware.describe(error))", code: .invalidJson)
        }
    }
}
