import Hummingbird
import Logging
import NIOCore
import Shared

/// Request context of the XKS listener: no client-certificate identity (KMS authenticates
/// with SigV4), the connection, and the request id of log lines and audit records.
struct XKSRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    let requestID: String
    var maxUploadSize: Int { XKSAPI.maximumBodyBytes }

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.requestID = RequestID.make()
        self.logger[metadataKey: "request.id"] = .string(requestID)
    }
}
