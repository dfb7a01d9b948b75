import Foundation
import Shared

/// One authenticated AWS KMS call: which operation on which key, under which XKS URI path and
/// credential, with the request metadata KMS sent.
struct XKSCall: Sendable {
    var api: XKSAPI.Operation
    var keyID: String?
    var uriPath: String
    var accessKeyID: String
    /// The region of the SigV4 scope: where KMS called from.
    var region: String
    var metadata: XKSAPI.RequestMetadata

    var operationName: OperationName {
        switch api {
        case .health: .xksHealth
        case .metadata: .xksMetadata
        case .encrypt: .xksEncrypt
        case .decrypt: .xksDecrypt
        }
    }

    var policyRequest: XKSPolicy.Request {
        XKSPolicy.Request(api: api, metadata: metadata, keyID: keyID, uriPath: uriPath)
    }

    /// The audit record's `aws` fields.
    var auditFields: [String: String] {
        var fields: [String: String] = ["uriPath": uriPath, "accessKeyId": accessKeyID]
        let m = metadata
        for (name, value) in [
            ("principal", m.awsPrincipalArn), ("kmsOperation", m.kmsOperation), ("kmsRequestId", m.kmsRequestId),
            ("kmsKeyArn", m.kmsKeyArn), ("viaService", m.kmsViaService), ("sourceVpc", m.awsSourceVpc), ("sourceVpce", m.awsSourceVpce),
        ] {
            if let value { fields[name] = value }
        }
        return fields
    }

    func event(requestID: String) -> KeyEvent {
        var event = KeyEvent(
            op: operationName, user: keyID, peer: "xks:" + accessKeyID, region: region, reason: metadata.kmsOperation, outcome: .granted,
            requestID: requestID)
        event.attach(aws: auditFields)
        return event
    }

    /// The request metadata every operation needs (spec: REQUIRED fields), bounded.
    /// Health is answered whatever its metadata says: the spec lists no ValidationException for
    /// GetHealthStatus, and a probe must not fail on a missing request id.
    func validateMetadata() throws(APIError) {
        let m = metadata
        if api != .health, (m.kmsOperation ?? "").isEmpty || (m.kmsRequestId ?? "").isEmpty {
            throw XKSValidation.invalid("requestMetadata needs kmsOperation and kmsRequestId")
        }
        if api != .health, (m.awsPrincipalArn ?? "").isEmpty {
            throw XKSValidation.invalid("requestMetadata needs awsPrincipalArn")
        }
        if api == .encrypt || api == .decrypt, (m.kmsKeyArn ?? "").isEmpty {
            throw XKSValidation.invalid("requestMetadata needs kmsKeyArn")
        }
        for value in [m.awsPrincipalArn, m.awsSourceVpc, m.awsSourceVpce, m.kmsKeyArn, m.kmsOperation, m.kmsRequestId, m.kmsViaService] {
            if let value, value.utf8.count > XKSAPI.maximumARNLength {
                throw XKSValidation.invalid("a requestMetadata field is longer than \(XKSAPI.maximumARNLength) characters")
            }
        }
    }
}
