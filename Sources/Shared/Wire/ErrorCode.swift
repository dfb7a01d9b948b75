/// A stable, machine-readable error code: the `code` of every error body both daemons send,
/// shared by servers, clients and tests so none of them spells a code as a string literal.
///
/// An extensible struct rather than an enum (as postgres-nio's `PostgresError.Code`): a client
/// decodes codes a newer server sends without failing, and compares known ones by constant.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// A node serving several regions cannot create a user on first use.
    public static let ambiguousRegion = ErrorCode("ambiguous_region")
    /// The audit trail cannot be written; key and admin operations fail closed until it can.
    public static let auditUnavailable = ErrorCode("audit_unavailable")
    /// The request is malformed (framing, headers, parameters).
    public static let badRequest = ErrorCode("bad_request")
    /// The request conflicts with the current state.
    public static let conflict = ErrorCode("conflict")
    /// The destroy could not erase every copy of the KEKs (WAL checkpoint); retry.
    public static let destroyIncomplete = ErrorCode("destroy_incomplete")
    /// The caller may not do this.
    public static let forbidden = ErrorCode("forbidden")
    /// The caller's identity is denied or revoked (policy deny, run-time revocation).
    public static let identityDenied = ErrorCode("identity_denied")
    /// The node's storage is full; nothing was changed.
    public static let insufficientStorage = ErrorCode("insufficient_storage")
    /// Stored data failed its integrity check.
    public static let integrityError = ErrorCode("integrity_error")
    /// An internal error; the request id locates the details in the server log.
    public static let internalError = ErrorCode("internal")
    /// A batch holds too few or too many items.
    public static let invalidBatch = ErrorCode("invalid_batch")
    /// The caller context is empty or too long.
    public static let invalidContext = ErrorCode("invalid_context")
    /// A destruction delay outside the configured bounds.
    public static let invalidDelay = ErrorCode("invalid_delay")
    /// Not a SPIFFE ID pattern or spki-sha256:HEX.
    public static let invalidIdentity = ErrorCode("invalid_identity")
    /// The body is not JSON of the expected shape.
    public static let invalidJson = ErrorCode("invalid_json")
    /// An object key breaks the naming rules.
    public static let invalidKey = ErrorCode("invalid_key")
    /// A page size outside its bounds.
    public static let invalidLimit = ErrorCode("invalid_limit")
    /// A Range header that does not parse.
    public static let invalidRange = ErrorCode("invalid_range")
    /// Not a region name.
    public static let invalidRegion = ErrorCode("invalid_region")
    /// The user's lifecycle state does not allow this action.
    public static let invalidState = ErrorCode("invalid_state")
    /// Not a user id.
    public static let invalidUserId = ErrorCode("invalid_user_id")
    /// A wrapped key that does not parse.
    public static let invalidWrappedKey = ErrorCode("invalid_wrapped_key")
    /// A stored KEK failed its integrity check.
    public static let kekIntegrity = ErrorCode("kek_integrity")
    /// A user's current KEK version is missing from the store.
    public static let kekMissing = ErrorCode("kek_missing")
    /// The current KEK reached its cryptoperiod or wrap limit.
    public static let kekRotationRequired = ErrorCode("kek_rotation_required")
    /// The wrapped key's KEK version is below the user's minimum.
    public static let kekVersionRetired = ErrorCode("kek_version_retired")
    /// The KeyService refused the data key (at the node).
    public static let keyRefused = ErrorCode("key_refused")
    /// The KeyService answered something the node cannot use.
    public static let keyServiceError = ErrorCode("key_service_error")
    /// The KeyService cannot be reached in time and the data key is not cached.
    public static let keyServiceUnavailable = ErrorCode("key_service_unavailable")
    /// The method is not allowed on this path.
    public static let methodNotAllowed = ErrorCode("method_not_allowed")
    /// No object under this key.
    public static let noSuchObject = ErrorCode("no_such_object")
    /// The client certificate names no user of this node.
    public static let notAUser = ErrorCode("not_a_user")
    /// No such resource.
    public static let notFound = ErrorCode("not_found")
    /// The body exceeds its limit.
    public static let payloadTooLarge = ErrorCode("payload_too_large")
    /// The range lies outside the object.
    public static let rangeNotSatisfiable = ErrorCode("range_not_satisfiable")
    /// Too many requests; retry after Retry-After seconds.
    public static let rateLimited = ErrorCode("rate_limited")
    /// The policy refuses unwraps for this reason (and region).
    public static let reasonDenied = ErrorCode("reason_denied")
    /// The user is not homed in a region this node serves, or does not exist.
    public static let regionMismatch = ErrorCode("region_mismatch")
    /// The caller has no role that may do this.
    public static let roleRequired = ErrorCode("role_required")
    /// The node's storage failed.
    public static let storageFailure = ErrorCode("storage_failure")
    /// The key or metadata store is not available.
    public static let storeUnavailable = ErrorCode("store_unavailable")
    /// No verified client certificate.
    public static let unauthenticated = ErrorCode("unauthenticated")
    /// A dependency is unavailable; retry after Retry-After seconds.
    public static let unavailable = ErrorCode("unavailable")
    /// The wrapped key names a KEK version the user does not have.
    public static let unknownKekVersion = ErrorCode("unknown_kek_version")
    /// This unwrap exceeded the user's unwrap budget; unwraps are now locked.
    public static let unwrapBudgetExceeded = ErrorCode("unwrap_budget_exceeded")
    /// The wrapped key does not open for this user, region and context.
    public static let unwrapFailed = ErrorCode("unwrap_failed")
    /// Unwraps of this user are locked until an admin clears the lockout.
    public static let unwrapLocked = ErrorCode("unwrap_locked")
    /// The user was destroyed.
    public static let userDestroyed = ErrorCode("user_destroyed")
    /// The user exists already.
    public static let userExists = ErrorCode("user_exists")
    /// Only active users get new wraps.
    public static let userNotActive = ErrorCode("user_not_active")
    /// No such user.
    public static let userNotFound = ErrorCode("user_not_found")
    /// The user is suspended.
    public static let userSuspended = ErrorCode("user_suspended")
    /// The wrapped key belongs to another user.
    public static let wrappedKeyUserMismatch = ErrorCode("wrapped_key_user_mismatch")
    /// The server at the KeyService URL is not the KeyService the node trusts (`keyService.identity`).
    public static let keyServiceIdentityMismatch = ErrorCode("key_service_identity_mismatch")

    // The XKS proxy's refusals, each answered as one `XKSAPI.ErrorName` (see `XKSErrorMapping`).
    /// A request parameter of an XKS call is missing or invalid.
    public static let xksValidation = ErrorCode("xks_validation")
    /// The SigV4 signature, its credential or its date does not verify.
    public static let xksAuthenticationFailed = ErrorCode("xks_authentication_failed")
    /// The path is not an XKS API path under a configured URI path.
    public static let xksInvalidURIPath = ErrorCode("xks_invalid_uri_path")
    /// The `xks.policy` refuses this AWS principal, operation or origin.
    public static let xksPolicyDenied = ErrorCode("xks_policy_denied")
    /// No external key with this id (or it was destroyed).
    public static let xksKeyNotFound = ErrorCode("xks_key_not_found")
    /// An external key with this id exists (or existed: ids are never reused).
    public static let xksKeyExists = ErrorCode("xks_key_exists")
    /// The external key is disabled, or the action does not fit its state.
    public static let xksKeyState = ErrorCode("xks_key_state")
    /// The external key does not allow this operation.
    public static let xksKeyUsage = ErrorCode("xks_key_usage")
    /// Ciphertext, IV, tag, AAD or ciphertext metadata do not authenticate.
    public static let xksInvalidCiphertext = ErrorCode("xks_invalid_ciphertext")
    /// A parameter exceeds what this proxy supports, or an operation it does not implement.
    public static let xksUnsupported = ErrorCode("xks_unsupported")
}
