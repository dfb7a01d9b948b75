import Foundation
import Shared

/// Every refusal of an XKS call as the spec's `errorName` (and its status): the one table from
/// the KeyService's error codes to the XKS error names.
enum XKSErrorMapping {
    static func name(for code: ErrorCode) -> XKSAPI.ErrorName {
        switch code {
        case .xksValidation, .invalidJson, .badRequest: .validationException
        case .xksAuthenticationFailed, .unauthenticated: .authenticationFailedException
        case .xksInvalidURIPath, .notFound: .invalidUriPathException
        case .xksPolicyDenied: .accessDeniedException
        case .xksKeyNotFound: .keyNotFoundException
        case .xksKeyState: .invalidStateException
        case .xksKeyUsage: .invalidKeyUsageException
        case .xksInvalidCiphertext: .invalidCiphertextException
        case .xksUnsupported, .payloadTooLarge: .unsupportedOperationException
        case .rateLimited: .throttlingException
        case .storeUnavailable, .unavailable: .dependencyTimeoutException
        default: .internalException
        }
    }

    /// The spec's body: `errorMessage` printable ASCII, under 512 characters.
    static func body(for error: APIError) -> XKSAPI.ErrorResponse {
        XKSAPI.ErrorResponse(errorName: name(for: error.code), errorMessage: printable(error.message))
    }

    static func printable(_ text: String) -> String {
        let ascii = text.unicodeScalars.map { (0x20...0x7E).contains($0.value) ? Character($0) : "?" }
        return String(String(ascii).prefix(511))
    }
}
