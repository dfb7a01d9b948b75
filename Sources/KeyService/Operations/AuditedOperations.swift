import Foundation
import Logging
import Shared

/// Proof that an operation runs inside ``AuditedOperations``: the operation types take one, and
/// only this file can make one, so no key or admin operation can be called unaudited.
struct AuditTicket: Sendable {
    let requestID: String
    let logger: Logger

    fileprivate init(requestID: String, logger: Logger) {
        self.requestID = requestID
        self.logger = logger
    }

    /// A rule's refusal as the caller sees it; the detail goes to the log with the request id.
    func refuse(_ refusal: Refusal) -> APIError {
        logger.notice("refused", metadata: ["code": "\(refusal.code)", "detail": "\(refusal.detail)"])
        return refusal.apiError
    }
}

/// What an operation decided: an answer that changed nothing, or a change to make once its
/// record is durable.
enum Step<T: Sendable>: Sendable {
    case done(T)
    case change(@Sendable () async throws(APIError) -> T)
}

/// The layer below HTTP that every key and admin operation goes through, in one order:
///
/// 1. the request is validated (nothing unvalidated reaches a record but as a bounded hash);
/// 2. ``Authorizer`` admits the caller (deny, revocation, role, rate);
/// 3. the operation reads what it needs and decides (further ``Authorizer`` rules, the
///    ``UserLifecycle``);
/// 4. its record is appended and made durable: an answer with key material leaves only after
///    it, and a state change is made only after it (a change that then fails gets a `failed`
///    record of its own);
/// 5. the change is made and the answer returned.
///
/// A refusal at any step is recorded too (best effort: a refusal gives nothing away, so it is
/// refused whether or not its record lands).
struct AuditedOperations: Sendable {
    let audit: AuditLog
    let authorizer: Authorizer

    struct RequestInfo: Sendable {
        var requestID: String
        var logger: Logger
    }

    func perform<T: Sendable>(
        _ op: OperationName,
        caller: Caller,
        info: RequestInfo,
        user: String?,
        reason: String? = nil,
        items: Int = 1,
        admit: Bool = true,
        validate: () throws(APIError) -> Void = {},
        _ body: (AuditTicket) async throws(APIError) -> Step<T>
    ) async throws(APIError) -> T {
        let event = KeyEvent(
            op: op, user: user, peer: caller.identity.description, region: caller.nodeRegions.sorted().joined(separator: ","),
            reason: reason, outcome: .granted, requestID: info.requestID)
        let authorizer = self.authorizer
        return try await perform(
            event: event, info: info,
            admit: { () throws(Refusal) in if admit { try authorizer.admit(caller, to: op, items: items) } },
            validate: validate, body)
    }

    /// The same order for a caller that is not a TLS peer (an AWS KMS call through the XKS
    /// listener): the event carries its identity and metadata, and `admit` is the
    /// ``Authorizer`` rule that admits it.
    func perform<T: Sendable>(
        event: KeyEvent,
        info: RequestInfo,
        admit: () throws(Refusal) -> Void,
        validate: () throws(APIError) -> Void = {},
        _ body: (AuditTicket) async throws(APIError) -> Step<T>
    ) async throws(APIError) -> T {
        var event = event
        let ticket = AuditTicket(requestID: info.requestID, logger: info.logger)
        let step: Step<T>
        do throws(APIError) {
            try validate()
            do {
                try admit()
            } catch {
                throw ticket.refuse(error)
            }
            step = try await body(ticket)
        } catch {
            event.end(.refused, code: error.code)
            try? await audit.append(event)
            event.log(to: info.logger)
            throw error
        }
        try await record(&event, info)
        switch step {
        case .done(let value):
            return value
        case .change(let apply):
            do {
                return try await apply()
            } catch {
                var failed = event
                failed.end(.failed, code: error.code)
                try? await audit.append(failed)
                failed.log(to: info.logger)
                throw error
            }
        }
    }

    /// Admits a batch of `items` operations at once (one identity token per item); the items then
    /// run through ``perform`` without admitting again. A refused batch gets one record.
    func admitBatch(_ op: OperationName, caller: Caller, info: RequestInfo, items: Int) async throws(APIError) {
        do {
            try authorizer.admit(caller, to: op, items: items)
        } catch {
            let api = AuditTicket(requestID: info.requestID, logger: info.logger).refuse(error)
            var event = KeyEvent(
                op: op, user: nil, peer: caller.identity.description, region: caller.nodeRegions.sorted().joined(separator: ","),
                reason: nil, outcome: .refused, requestID: info.requestID, detail: "batch of \(items)")
            event.end(.refused, code: api.code)
            try? await audit.append(event)
            event.log(to: info.logger)
            throw api
        }
    }

    /// Fail closed: nothing leaves and nothing changes until the record is durable.
    private func record(_ event: inout KeyEvent, _ info: RequestInfo) async throws(APIError) {
        do {
            try await audit.append(event)
        } catch {
            event.end(.refused, code: .auditUnavailable)
            event.log(to: info.logger)
            throw APIError.unavailable(
                "the audit trail cannot be written; key operations are refused until it can", retryAfterSeconds: 5,
                code: .auditUnavailable)
        }
        event.log(to: info.logger)
    }
}
