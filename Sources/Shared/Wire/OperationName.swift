/// The name of every operation the KeyService decides and records, as audit records, log lines
/// (`SPLITKEY_OP`) and metrics spell it.
public enum OperationName: String, Sendable, CaseIterable, Codable {
    case generate
    case generateWrapped = "generate-wrapped"
    case unwrap
    case rewrap
    case createUser = "create-user"
    case showUser = "show-user"
    case listUsers = "list-users"
    case rotate
    case disable
    case enable
    case minVersion = "min-version"
    case scheduleDestruction = "schedule-destruction"
    case cancelDestruction = "cancel-destruction"
    case destroy
    case clearLockout = "clear-lockout"
    case listRevoked = "list-revoked"
    case revokeIdentity = "revoke-identity"
    case unrevokeIdentity = "unrevoke-identity"
    // AWS KMS calls through the XKS proxy listener.
    case xksHealth = "xks-health"
    case xksMetadata = "xks-metadata"
    case xksEncrypt = "xks-encrypt"
    case xksDecrypt = "xks-decrypt"
    // The external keys' control plane.
    case xksKeyCreate = "xks-key-create"
    case xksKeyShow = "xks-key-show"
    case xksKeyList = "xks-key-list"
    case xksKeyDisable = "xks-key-disable"
    case xksKeyEnable = "xks-key-enable"
    case xksKeyDestroy = "xks-key-destroy"

    public init(_ action: KeyServiceAPI.UserAction) {
        switch action {
        case .rotate: self = .rotate
        case .disable: self = .disable
        case .enable: self = .enable
        case .minVersion: self = .minVersion
        case .scheduleDestruction: self = .scheduleDestruction
        case .cancelDestruction: self = .cancelDestruction
        case .destroy: self = .destroy
        case .clearLockout: self = .clearLockout
        }
    }

    /// Whether the operation changes state, so its record must be durable before the change.
    public var changesState: Bool {
        switch self {
        case .generate, .generateWrapped, .unwrap, .rewrap, .showUser, .listUsers, .listRevoked: false
        case .xksHealth, .xksMetadata, .xksEncrypt, .xksDecrypt, .xksKeyShow, .xksKeyList: false
        default: true
        }
    }
}

/// How an operation ended, as its audit record says.
public enum Outcome: String, Sendable, CaseIterable, Codable {
    /// Decided and carried out (for a state change: about to be carried out; see `failed`).
    case granted
    /// Refused by a rule or by invalid input; nothing happened.
    case refused
    /// Granted, recorded, and then not carried out because the store failed; nothing changed.
    case failed
}
