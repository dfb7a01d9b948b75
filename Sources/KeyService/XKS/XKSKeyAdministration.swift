import Crypto
import Foundation
import Shared

/// The external keys' control plane (admin role; show and list for auditors too), through
/// ``AuditedOperations`` like the users': decided from the key as read (``XKSKeyLifecycle``),
/// written after the record, compare-and-set on the key that was read.
struct XKSKeyAdministration: Sendable {
    let audited: AuditedOperations
    let store: any KeyStore
    let sealer: KEKSealer
    typealias Info = AuditedOperations.RequestInfo

    func create(_ request: XKSAPI.CreateKeyRequest, caller: Caller, info: Info) async throws(APIError) -> XKSAPI.Key {
        var usage: Set<XKSAPI.KeyUsage> = []
        return try await audited.perform(
            .xksKeyCreate, caller: caller, info: info, user: request.id, reason: request.usage.joined(separator: ","),
            validate: { () throws(APIError) in
                guard XKSKeyLifecycle.isValidID(request.id) else {
                    throw APIError.badRequest("an external key id is 1-128 characters of A-Z a-z 0-9 - . _", code: .xksValidation)
                }
                do throws(Refusal) { usage = try XKSKeyLifecycle.usage(request.usage) } catch { throw error.apiError }
            }
        ) { _ throws(APIError) in
            let sealed: [UInt8]
            do {
                sealed = try sealer.seal(xksKey: RandomBytes.key256(), id: request.id)
            } catch {
                throw APIError.internalError
            }
            let record = XKSKeyRecord(id: request.id, usage: usage, state: .enabled, sealed: sealed, createdAt: Timestamps.string(Date()))
            guard try await call({ try await store.xksKey(id: request.id) }) == nil else {
                throw APIError.conflict("the external key exists or existed already (ids are never reused)", code: .xksKeyExists)
            }
            let keyStore = store
            return .change { () async throws(APIError) in
                do { try await keyStore.createXKSKey(record) } catch { throw UserAdministration.map(error) }
                return Self.wire(record)
            }
        }
    }

    func show(id: String, caller: Caller, info: Info) async throws(APIError) -> XKSAPI.Key {
        try await audited.perform(.xksKeyShow, caller: caller, info: info, user: id) { _ throws(APIError) in
            .done(Self.wire(try await existing(id)))
        }
    }

    func list(after: String?, limit: Int, caller: Caller, info: Info) async throws(APIError) -> XKSAPI.KeyList {
        try await audited.perform(
            .xksKeyList, caller: caller, info: info, user: nil,
            validate: { () throws(APIError) in
                guard (1...1000).contains(limit) else {
                    throw APIError.badRequest("limit must be an integer in 1-1000", code: .invalidLimit)
                }
            }
        ) { _ throws(APIError) in
            let page = try await call { try await store.xksKeys(after: after, limit: limit + 1) }
            let keys = page.prefix(limit).map(Self.wire)
            return .done(XKSAPI.KeyList(keys: keys, next: page.count > limit ? keys.last?.id : nil))
        }
    }

    func act(_ action: XKSAPI.KeyAction, id: String, caller: Caller, info: Info) async throws(APIError) -> XKSAPI.Key {
        let op: OperationName =
            switch action {
            case .disable: .xksKeyDisable
            case .enable: .xksKeyEnable
            case .destroy: .xksKeyDestroy
            }
        return try await audited.perform(op, caller: caller, info: info, user: id) { ticket throws(APIError) in
            let key = try await existing(id)
            let next: XKSKeyRecord
            do throws(Refusal) {
                next = try XKSKeyLifecycle.apply(Self.lifecycleAction(action), to: key)
            } catch {
                throw ticket.refuse(error)
            }
            let keyStore = store
            return .change { () async throws(APIError) in
                do {
                    if next != key { try await keyStore.commitXKSKey(expected: key, next: next) }
                    // The erased material must not survive in the write-ahead log either.
                    if action == .destroy { try await keyStore.purgeErased() }
                } catch {
                    throw UserAdministration.map(error)
                }
                return Self.wire(next)
            }
        }
    }

    private static func lifecycleAction(_ action: XKSAPI.KeyAction) -> XKSKeyLifecycle.Action {
        switch action {
        case .disable: .disable
        case .enable: .enable
        case .destroy: .destroy
        }
    }

    private func existing(_ id: String) async throws(APIError) -> XKSKeyRecord {
        guard XKSKeyLifecycle.isValidID(id) else {
            throw APIError.badRequest("an external key id is 1-128 characters of A-Z a-z 0-9 - . _", code: .xksValidation)
        }
        guard let key = try await call({ try await store.xksKey(id: id) }) else {
            throw APIError.notFound("no external key with this id", code: .xksKeyNotFound)
        }
        return key
    }

    private func call<T>(_ body: () async throws -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch {
            throw UserAdministration.map(error)
        }
    }

    static func wire(_ key: XKSKeyRecord) -> XKSAPI.Key {
        XKSAPI.Key(
            id: key.id, usage: key.usage.sorted().map { $0.rawValue.lowercased() }, state: key.state.rawValue, createdAt: key.createdAt)
    }
}
