import Foundation
import Shared

/// The refusals of malformed XKS input.
enum XKSValidation {
    static func invalid(_ message: String) -> APIError {
        APIError.badRequest(message, code: .xksValidation)
    }

    static func unsupported(_ message: String) -> APIError {
        APIError(.notImplemented, code: .xksUnsupported, message)
    }

    /// Standard base64 (RFC 4648 section 4) of at most `limit` decoded bytes; `what` names the field.
    static func base64(_ text: String?, _ what: String, limit: Int, required: Bool) throws(APIError) -> [UInt8]? {
        guard let text else {
            if required { throw invalid("\(what) is required") }
            return nil
        }
        guard let data = Data(base64Encoded: text) else { throw invalid("\(what) is not base64") }
        guard data.count <= limit else {
            throw unsupported("\(what) is \(data.count) bytes; this proxy supports up to \(limit)")
        }
        return Array(data)
    }
}
