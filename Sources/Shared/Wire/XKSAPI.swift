/// The AWS KMS External Key Store proxy API, version 1 (`aws/aws-kms-xksproxy-api-spec`,
/// v1.0.3): paths, bodies and error names, shared by the KeyService's XKS listener, the admin
/// CLI and tests. Field names are the spec's; optional fields are absent rather than null.
public enum XKSAPI {
    /// Every API path ends in `<uriPath>/<operation>`, where `uriPath` is one of the configured
    /// `XksProxyUriPath`s (ending in this suffix).
    public static let uriPathSuffix = "/kms/xks/v1"
    public static let maximumURIPathLength = 128
    public static let maximumKeyIDLength = 128
    /// The spec's minimums: 4,300 bytes of plaintext, 8,192 of AAD, 20 of ciphertext metadata.
    public static let maximumPlaintextBytes = 65_536
    public static let maximumAADBytes = 8_192
    public static let maximumCiphertextMetadataBytes = 20
    public static let maximumARNLength = 2_048
    /// KMS sends far less; anything larger is refused before it is read.
    public static let maximumBodyBytes = 256 << 10

    /// External key ids: the spec's alphabet (letters, digits, `-`, `.`, `_`), 1-128 characters.
    public static func isValidKeyID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= maximumKeyIDLength
            && id.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x2E
                    || $0 == 0x5F
            }
    }

    /// The four operations, as the last path segment names them.
    public enum Operation: String, Sendable, CaseIterable {
        case health
        case metadata
        case encrypt
        case decrypt
    }

    public struct RequestMetadata: Codable, Sendable, Equatable {
        public var awsPrincipalArn: String?
        public var awsSourceVpc: String?
        public var awsSourceVpce: String?
        public var kmsKeyArn: String?
        public var kmsOperation: String?
        public var kmsRequestId: String?
        public var kmsViaService: String?

        public init(
            awsPrincipalArn: String? = nil, awsSourceVpc: String? = nil, awsSourceVpce: String? = nil, kmsKeyArn: String? = nil,
            kmsOperation: String? = nil, kmsRequestId: String? = nil, kmsViaService: String? = nil
        ) {
            self.awsPrincipalArn = awsPrincipalArn
            self.awsSourceVpc = awsSourceVpc
            self.awsSourceVpce = awsSourceVpce
            self.kmsKeyArn = kmsKeyArn
            self.kmsOperation = kmsOperation
            self.kmsRequestId = kmsRequestId
            self.kmsViaService = kmsViaService
        }
    }

    /// The body of health and metadata requests.
    public struct MetadataOnlyRequest: Codable, Sendable {
        public var requestMetadata: RequestMetadata?
        public init(requestMetadata: RequestMetadata?) { self.requestMetadata = requestMetadata }
    }

    public struct EncryptRequest: Codable, Sendable {
        public var requestMetadata: RequestMetadata?
        public var plaintext: String?
        public var encryptionAlgorithm: String?
        public var additionalAuthenticatedData: String?
        public var ciphertextDataIntegrityValueAlgorithm: String?
        public init(
            requestMetadata: RequestMetadata?, plaintext: String?, encryptionAlgorithm: String?,
            additionalAuthenticatedData: String? = nil, ciphertextDataIntegrityValueAlgorithm: String? = nil
        ) {
            self.requestMetadata = requestMetadata
            self.plaintext = plaintext
            self.encryptionAlgorithm = encryptionAlgorithm
            self.additionalAuthenticatedData = additionalAuthenticatedData
            self.ciphertextDataIntegrityValueAlgorithm = ciphertextDataIntegrityValueAlgorithm
        }
    }

    public struct EncryptResponse: Codable, Sendable, Equatable {
        public var authenticationTag: String
        public var ciphertext: String
        public var ciphertextDataIntegrityValue: String?
        public var ciphertextMetadata: String?
        public var initializationVector: String
        public init(
            authenticationTag: String, ciphertext: String, ciphertextDataIntegrityValue: String?, ciphertextMetadata: String?,
            initializationVector: String
        ) {
            self.authenticationTag = authenticationTag
            self.ciphertext = ciphertext
            self.ciphertextDataIntegrityValue = ciphertextDataIntegrityValue
            self.ciphertextMetadata = ciphertextMetadata
            self.initializationVector = initializationVector
        }
    }

    public struct DecryptRequest: Codable, Sendable {
        public var requestMetadata: RequestMetadata?
        public var ciphertext: String?
        public var ciphertextMetadata: String?
        public var encryptionAlgorithm: String?
        public var additionalAuthenticatedData: String?
        public var authenticationTag: String?
        public var initializationVector: String?
        public init(
            requestMetadata: RequestMetadata?, ciphertext: String?, ciphertextMetadata: String?, encryptionAlgorithm: String?,
            additionalAuthenticatedData: String?, authenticationTag: String?, initializationVector: String?
        ) {
            self.requestMetadata = requestMetadata
            self.ciphertext = ciphertext
            self.ciphertextMetadata = ciphertextMetadata
            self.encryptionAlgorithm = encryptionAlgorithm
            self.additionalAuthenticatedData = additionalAuthenticatedData
            self.authenticationTag = authenticationTag
            self.initializationVector = initializationVector
        }
    }

    public struct DecryptResponse: Codable, Sendable, Equatable {
        public var plaintext: String
        public init(plaintext: String) { self.plaintext = plaintext }
    }

    public struct MetadataResponse: Codable, Sendable, Equatable {
        public var keySpec: String
        public var keyUsage: [String]
        public var keyStatus: String
        public init(keySpec: String, keyUsage: [String], keyStatus: String) {
            self.keySpec = keySpec
            self.keyUsage = keyUsage
            self.keyStatus = keyStatus
        }
    }

    public struct HealthResponse: Codable, Sendable, Equatable {
        public struct EKM: Codable, Sendable, Equatable {
            public var id: String
            public var model: String
            public var healthStatus: String
            public init(id: String, model: String, healthStatus: String) {
                self.id = id
                self.model = model
                self.healthStatus = healthStatus
            }
        }
        public var xksProxyFleetSize: Int
        public var xksProxyVendor: String
        public var xksProxyModel: String
        public var ekmVendor: String
        public var ekmFleetDetails: [EKM]
        public init(xksProxyFleetSize: Int, xksProxyVendor: String, xksProxyModel: String, ekmVendor: String, ekmFleetDetails: [EKM]) {
            self.xksProxyFleetSize = xksProxyFleetSize
            self.xksProxyVendor = xksProxyVendor
            self.xksProxyModel = xksProxyModel
            self.ekmVendor = ekmVendor
            self.ekmFleetDetails = ekmFleetDetails
        }
    }

    /// `{"errorName": ..., "errorMessage": ...}`; the message is printable ASCII under 512 bytes.
    public struct ErrorResponse: Codable, Sendable, Equatable {
        public var errorName: ErrorName
        public var errorMessage: String?
        public init(errorName: ErrorName, errorMessage: String?) {
            self.errorName = errorName
            self.errorMessage = errorMessage
        }
    }

    /// The spec's error table, with each name's HTTP status.
    public enum ErrorName: String, Codable, Sendable, CaseIterable {
        case validationException = "ValidationException"
        case invalidStateException = "InvalidStateException"
        case invalidCiphertextException = "InvalidCiphertextException"
        case invalidKeyUsageException = "InvalidKeyUsageException"
        case authenticationFailedException = "AuthenticationFailedException"
        case accessDeniedException = "AccessDeniedException"
        case keyNotFoundException = "KeyNotFoundException"
        case invalidUriPathException = "InvalidUriPathException"
        case throttlingException = "ThrottlingException"
        case unsupportedOperationException = "UnsupportedOperationException"
        case dependencyTimeoutException = "DependencyTimeoutException"
        case internalException = "InternalException"

        public var status: Int {
            switch self {
            case .validationException, .invalidStateException, .invalidCiphertextException, .invalidKeyUsageException: 400
            case .authenticationFailedException: 401
            case .accessDeniedException: 403
            case .keyNotFoundException, .invalidUriPathException: 404
            case .throttlingException: 429
            case .unsupportedOperationException: 501
            case .dependencyTimeoutException: 503
            case .internalException: 500
            }
        }
    }

    /// What `keySpec`, `keyUsage`, `keyStatus` and `encryptionAlgorithm` may say.
    public static let keySpec = "AES_256"
    public static let encryptionAlgorithm = "AES_GCM"
    public static let integrityAlgorithm = "SHA_256"

    public enum KeyUsage: String, Codable, Sendable, CaseIterable, Comparable {
        case encrypt = "ENCRYPT"
        case decrypt = "DECRYPT"
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    public enum KeyStatus: String, Codable, Sendable {
        case enabled = "ENABLED"
        case disabled = "DISABLED"
    }

    public enum HealthStatus: String, Codable, Sendable {
        case active = "ACTIVE"
        case degraded = "DEGRADED"
        case unavailable = "UNAVAILABLE"
    }

    /// The admin API of external keys on the KeyService's mutual-TLS listener.
    public enum AdminPath {
        public static let keys = "/v1/xks-keys"
    }

    public enum KeyAction: String, Codable, Sendable, CaseIterable {
        case disable
        case enable
        case destroy
    }

    public struct CreateKeyRequest: Codable, Sendable {
        public var id: String
        /// Any subset of `encrypt`, `decrypt` (lower case), the empty list included.
        public var usage: [String]
        public init(id: String, usage: [String]) {
            self.id = id
            self.usage = usage
        }
    }

    /// An external key as the admin API shows it (never its material).
    public struct Key: Codable, Sendable, Equatable {
        public var id: String
        public var usage: [String]
        /// `enabled`, `disabled` or `destroyed`.
        public var state: String
        public var createdAt: String
        public init(id: String, usage: [String], state: String, createdAt: String) {
            self.id = id
            self.usage = usage
            self.state = state
            self.createdAt = createdAt
        }
    }

    public struct KeyList: Codable, Sendable, Equatable {
        public var keys: [Key]
        public var next: String?
        public init(keys: [Key], next: String?) {
            self.keys = keys
            self.next = next
        }
    }
}
