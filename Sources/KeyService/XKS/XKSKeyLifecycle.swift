import Shared

/// The rules of an external key's life, with no store or process behind them.
///
/// enabled <-> disabled; destroyed only from disabled (a key in use is disabled first, and
/// KMS sees `DISABLED` before the material is gone); destroyed is final and its id is never
/// reused, so no later key can answer for an old ciphertext's key id.
enum XKSKeyLifecycle {
    static func isValidID(_ id: String) -> Bool { XKSAPI.isValidKeyID(id) }

    /// `encrypt`, `decrypt`, in any case, any subset (the empty list too), no repeats.
    static func usage(_ names: [String]) throws(Refusal) -> Set<XKSAPI.KeyUsage> {
        var usage = Set<XKSAPI.KeyUsage>()
        for name in names {
            guard let value = XKSAPI.KeyUsage(rawValue: name.uppercased()), usage.insert(value).inserted else {
                throw Refusal(.badRequest, .xksValidation, "usage must list encrypt and/or decrypt, each at most once")
            }
        }
        return usage
    }

    enum Action: Sendable, Equatable {
        case disable
        case enable
        case destroy
    }

    /// The key after `action`, or the refusal; destroy empties the sealed material.
    static func apply(_ action: Action, to key: XKSKeyRecord) throws(Refusal) -> XKSKeyRecord {
        var next = key
        switch (action, key.state) {
        case (_, .destroyed):
            throw Refusal(.conflict, .xksKeyState, "the external key was destroyed")
        case (.disable, _):
            next.state = .disabled
        case (.enable, _):
            next.state = .enabled
        case (.destroy, .enabled):
            throw Refusal(.conflict, .xksKeyState, "disable the external key before destroying it")
        case (.destroy, .disabled):
            next.state = .destroyed
            next.sealed = []
        }
        return next
    }

    /// What KMS may do with the key now: nil, or why not (checked after the policy).
    static func refusal(for op: XKSAPI.Operation, key: XKSKeyRecord?, wantsIntegrityValue: Bool) -> Refusal? {
        guard let key, key.state != .destroyed else {
            return Refusal(.notFound, .xksKeyNotFound, "no external key with this id")
        }
        if op == .metadata { return nil }
        guard key.state == .enabled else {
            return Refusal(.badRequest, .xksKeyState, "the external key is disabled")
        }
        let needed: Set<XKSAPI.KeyUsage> =
            switch op {
            case .encrypt: wantsIntegrityValue ? [.encrypt, .decrypt] : [.encrypt]
            case .decrypt: [.decrypt]
            case .health, .metadata: []
            }
        guard needed.isSubset(of: key.usage) else {
            return Refusal(
                .badRequest, .xksKeyUsage,
                wantsIntegrityValue && op == .encrypt
                    ? "an integrity value needs a verifying decrypt, which this external key does not allow"
                    : "the external key does not allow \(op.rawValue)")
        }
        return nil
    }
}
