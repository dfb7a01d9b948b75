/// The KeyService's HTTP API (JSON over mutual TLS, under `/v1/`), shared by the daemon and its
/// clients so both ends agree on every field.
///
/// Byte strings (keys, wrapped keys) are standard base64. `cacheTTL` is in seconds.
public enum KeyServiceAPI {
    public enum Path {
        public static let generate = "/v1/keys/generate"
        public static let generateWrapped = "/v1/keys/generate-wrapped"
        public static let unwrap = "/v1/keys/unwrap"
        public static let unwrapBatch = "/v1/keys/unwrap-batch"
        public static let users = "/v1/users"
        public static let health = "/v1/health"
        public static let whoami = "/v1/whoami"
        public static let rewrap = "/v1/keys/rewrap"
        public static let revokedIdentities = "/v1/identities/revoked"

        /// `/v1/users/ID/ACTION` for the lifecycle actions.
        public static func user(_ id: String, _ action: UserAction) -> String {
            "/v1/users/\(id)/\(action.rawValue)"
        }
    }

    /// Lifecycle actions on a user, each `POST /v1/users/ID/ACTION` by an admin.
    public enum UserAction: String, Sendable, CaseIterable {
        case rotate
        case disable
        case enable
        case minVersion = "min-version"
        case scheduleDestruction = "schedule-destruction"
        case cancelDestruction = "cancel-destruction"
        case destroy
        case clearLockout = "clear-lockout"
    }

    public struct MinVersionRequest: Codable, Sendable {
        public var version: UInt32
        public init(version: UInt32) { self.version = version }
    }

    public struct ScheduleDestructionRequest: Codable, Sendable {
        /// Waiting period; the configured default (7 days unless changed) when absent.
        public var delaySeconds: Int?
        public init(delaySeconds: Int?) { self.delaySeconds = delaySeconds }
    }

    /// A data key rewrapped under the user's newest KEK version, without leaving the KeyService in clear.
    public struct RewrapResponse: Codable, Sendable {
        public var user: String
        public var kekVersion: UInt32
        public var wrapped: String

        public init(user: String, kekVersion: UInt32, wrapped: String) {
            self.user = user
            self.kekVersion = kekVersion
            self.wrapped = wrapped
        }
    }

    public struct RevokeRequest: Codable, Sendable {
        /// A SPIFFE ID (optionally ending in /*) or spki-sha256:HEX.
        public var identity: String
        public init(identity: String) { self.identity = identity }
    }

    public struct RevokedList: Codable, Sendable {
        public var identities: [String]
        public init(identities: [String]) { self.identities = identities }
    }

    /// Largest number of items in one batch unwrap.
    public static let maximumBatchSize = 256
    /// Largest caller context, in UTF-8 bytes.
    public static let maximumContextLength = 1024

    public struct GenerateRequest: Codable, Sendable {
        public var user: String
        public var context: String

        public init(user: String, context: String) {
            self.user = user
            self.context = context
        }
    }

    /// A new data key: always wrapped; in plaintext too unless the wrapped-only call was used.
    public struct GenerateResponse: Codable, Sendable {
        public var user: String
        public var kekVersion: UInt32
        public var wrapped: String
        public var plaintext: String?
        public var cacheTTL: Int?

        public init(user: String, kekVersion: UInt32, wrapped: String, plaintext: String?, cacheTTL: Int?) {
            self.user = user
            self.kekVersion = kekVersion
            self.wrapped = wrapped
            self.plaintext = plaintext
            self.cacheTTL = cacheTTL
        }
    }

    /// Why a caller needs a key in clear; policy may refuse by reason.
    public enum UnwrapReason: String, Codable, Sendable, CaseIterable {
        case userRequest = "user-request"
        case scrub
        case migration
        case legalProcess = "legal-process"
    }

    public struct UnwrapRequest: Codable, Sendable {
        public var user: String
        public var wrapped: String
        public var context: String
        public var reason: UnwrapReason

        public init(user: String, wrapped: String, context: String, reason: UnwrapReason) {
            self.user = user
            self.wrapped = wrapped
            self.context = context
            self.reason = reason
        }
    }

    public struct UnwrapResponse: Codable, Sendable {
        public var user: String
        public var kekVersion: UInt32
        public var plaintext: String
        public var cacheTTL: Int

        public init(user: String, kekVersion: UInt32, plaintext: String, cacheTTL: Int) {
            self.user = user
            self.kekVersion = kekVersion
            self.plaintext = plaintext
            self.cacheTTL = cacheTTL
        }
    }

    public struct BatchUnwrapRequest: Codable, Sendable {
        public var items: [UnwrapRequest]

        public init(items: [UnwrapRequest]) {
            self.items = items
        }
    }

    /// One result per request item, in the same order; exactly one of `key` and `error` is set.
    public struct BatchUnwrapResponse: Codable, Sendable {
        public struct Item: Codable, Sendable {
            public var index: Int
            public var key: UnwrapResponse?
            public var error: ItemError?

            public init(index: Int, key: UnwrapResponse?, error: ItemError?) {
                self.index = index
                self.key = key
                self.error = error
            }
        }

        public struct ItemError: Codable, Sendable {
            public var status: Int
            public var code: ErrorCode
            public var message: String

            public init(status: Int, code: ErrorCode, message: String) {
                self.status = status
                self.code = code
                self.message = message
            }
        }

        public var results: [Item]
        public var requestId: String

        public init(results: [Item], requestId: String) {
            self.results = results
            self.requestId = requestId
        }
    }

    public struct CreateUserRequest: Codable, Sendable {
        public var id: String
        public var homeRegion: String

        public init(id: String, homeRegion: String) {
            self.id = id
            self.homeRegion = homeRegion
        }
    }

    public struct User: Codable, Sendable, Equatable {
        public var id: String
        public var homeRegion: String
        /// NIST SP 800-57 key state: active, suspended, deactivated or destroyed.
        public var state: String
        public var currentKEKVersion: UInt32
        public var minKEKVersion: UInt32
        public var createdAt: String
        /// When a scheduled destruction may be carried out (ISO 8601), if one is scheduled.
        public var destroyAfter: String?
        public var unwrapLocked: Bool

        public init(
            id: String,
            homeRegion: String,
            state: String,
            currentKEKVersion: UInt32,
            minKEKVersion: UInt32,
            createdAt: String,
            destroyAfter: String?,
            unwrapLocked: Bool
        ) {
            self.id = id
            self.homeRegion = homeRegion
            self.state = state
            self.currentKEKVersion = currentKEKVersion
            self.minKEKVersion = minKEKVersion
            self.createdAt = createdAt
            self.destroyAfter = destroyAfter
            self.unwrapLocked = unwrapLocked
        }
    }

    public struct UserList: Codable, Sendable {
        public var users: [User]
        /// Pass as `after` to get the next page; absent on the last page.
        public var next: String?

        public init(users: [User], next: String?) {
            self.users = users
            self.next = next
        }
    }

    public struct Health: Codable, Sendable {
        public enum Status: String, Codable, Sendable {
            case active = "ACTIVE"
            case degraded = "DEGRADED"
            case unavailable = "UNAVAILABLE"
        }

        public var status: Status
        public var reasons: [String]
        public var version: String
        /// The replica that answered (`replica.id`), so a client of several can tell them apart.
        public var replica: String?

        public init(status: Status, reasons: [String], version: String, replica: String? = nil) {
            self.status = status
            self.reasons = reasons
            self.version = version
            self.replica = replica
        }
    }

    public struct WhoAmI: Codable, Sendable {
        public var spiffeID: String?
        public var spkiSHA256: String
        public var roles: [String]

        public init(spiffeID: String?, spkiSHA256: String, roles: [String]) {
            self.spiffeID = spiffeID
            self.spkiSHA256 = spkiSHA256
            self.roles = roles
        }
    }
}

/// Identifiers accepted by both daemons.
public enum Identifiers {
    /// User ids: 1...128 characters of `A-Z a-z 0-9 . _ @ -`, not starting with `.`.
    public static func isValidUserID(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count), !id.hasPrefix(".") else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "@") || c == UInt8(ascii: "-")
        }
    }

    /// Regions: 1...63 characters of `a-z 0-9 -`, starting with a letter.
    public static func isValidRegion(_ region: String) -> Bool {
        guard (1...63).contains(region.utf8.count), let first = region.utf8.first, first >= 0x61, first <= 0x7A else {
            return false
        }
        return region.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "-")
        }
    }
}
