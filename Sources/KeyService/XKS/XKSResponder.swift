import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Shared

/// The XKS listener's HTTP side, one straight line per request: the path names a configured
/// XKS URI path and an operation (else `InvalidUriPathException`; a GET is 405), the SigV4
/// signature verifies with a credential of that URI path (else
/// `AuthenticationFailedException`), the JSON body decodes (else `ValidationException`), and
/// ``XKSOperations`` does the rest. Calls that fail before they are authenticated are logged,
/// not recorded in the audit trail: anyone can send them, and they name nothing KMS asked for.
struct XKSResponder: HTTPResponder {
    typealias Context = XKSRequestContext

    let operations: XKSOperations
    let credentials: @Sendable () -> XKSCredentials
    let maxSkew: TimeInterval
    let logger: Logger

    /// A load balancer's probe (not part of the XKS API, no signature): 200 while this replica
    /// can serve, 503 otherwise.
    static let probePath = "/ping"

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let response = await answer(request, context)
        let elapsed = ContinuousClock.now - started
        context.logger.info(
            "xks request",
            metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
                "ms": "\(Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000 + Double(elapsed.components.seconds) * 1000)",
            ])
        return response
    }

    private func answer(_ request: Request, _ context: Context) async -> Response {
        let path = request.uri.path
        if path == Self.probePath, request.method == .get {
            let serving = operations.health.isServing
            return Self.json(["status": serving ? "ACTIVE" : "UNAVAILABLE"], status: serving ? .ok : .serviceUnavailable)
        }
        let credentials = self.credentials()
        guard let (uriPath, rest) = credentials.split(path: path), let (api, keyID) = XKSPath.route(rest) else {
            return Self.error(.notFound("no XKS API at this path", code: .xksInvalidURIPath))
        }
        guard request.method == .post else {
            var response = Self.error(APIError(.methodNotAllowed, code: .xksValidation, "XKS API calls are POST requests"))
            response.headers[.allow] = "POST"
            return response
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: XKSAPI.maximumBodyBytes)
        } catch {
            return Self.error(XKSValidation.unsupported("the request body is larger than \(XKSAPI.maximumBodyBytes) bytes"))
        }
        let bytes = Array(buffer: body)
        let verified: SigV4Verified
        let bodyHash = SigV4Payload.hash(bytes)
        do {
            verified = try verifier(credentials).verify(Self.sigV4Request(request), payloadHash: bodyHash, now: Date())
            // KMS signs the body itself; an UNSIGNED-PAYLOAD marker would leave it unsigned.
            guard verified.payloadHash == bodyHash else { throw SigV4Error.contentSHA256Mismatch }
        } catch {
            context.logger.notice("xks: signature refused", metadata: ["reason": "\(error)", "uriPath": "\(uriPath)"])
            return Self.error(APIError(.unauthorized, code: .xksAuthenticationFailed, "the SigV4 signature does not verify"))
        }
        guard credentials.byAccessKey[verified.accessKeyID]?.uriPath == uriPath else {
            context.logger.notice(
                "xks: credential of another URI path", metadata: ["accessKeyId": "\(verified.accessKeyID)", "uriPath": "\(uriPath)"])
            return Self.error(APIError(.unauthorized, code: .xksAuthenticationFailed, "the SigV4 credential is not one of this URI path"))
        }
        let info = AuditedOperations.RequestInfo(requestID: context.requestID, logger: context.logger)
        var call = XKSCall(
            api: api, keyID: keyID, uriPath: uriPath, accessKeyID: verified.accessKeyID, region: verified.region,
            metadata: XKSAPI.RequestMetadata())
        do {
            switch api {
            case .health:
                call.metadata = try decode(XKSAPI.MetadataOnlyRequest.self, bytes, &call, info).requestMetadata ?? .init()
                return Self.json(try await operations.healthStatus(call, info: info))
            case .metadata:
                call.metadata = try decode(XKSAPI.MetadataOnlyRequest.self, bytes, &call, info).requestMetadata ?? .init()
                return Self.json(try await operations.metadata(call, info: info))
            case .encrypt:
                let body = try decode(XKSAPI.EncryptRequest.self, bytes, &call, info)
                call.metadata = body.requestMetadata ?? .init()
                return Self.json(try await operations.encrypt(call, body, info: info))
            case .decrypt:
                let body = try decode(XKSAPI.DecryptRequest.self, bytes, &call, info)
                call.metadata = body.requestMetadata ?? .init()
                return Self.json(try await operations.decrypt(call, body, info: info))
            }
        } catch let error as APIError {
            return Self.error(error)
        } catch let rejected as Rejected {
            return Self.error(await operations.rejected(call, info: info, rejected.error))
        } catch {
            return Self.error(.internalError)
        }
    }

    private struct Rejected: Error { var error: APIError }

    /// The body as `T`; a body that does not decode is refused as a `ValidationException` and
    /// recorded with whatever request metadata could be read.
    private func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], _ call: inout XKSCall, _ info: AuditedOperations.RequestInfo)
        throws -> T
    {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            if let partial = try? JSONDecoder().decode(XKSAPI.MetadataOnlyRequest.self, from: Data(bytes)) {
                call.metadata = partial.requestMetadata ?? .init()
            }
            throw Rejected(error: XKSValidation.invalid("the body is not JSON of this operation's shape"))
        }
    }

    private func verifier(_ credentials: XKSCredentials) -> SigV4Verifier {
        SigV4Verifier(service: "kms-xks-proxy", normalizePath: true, maxSkew: maxSkew) { accessKeyID in
            credentials.byAccessKey[accessKeyID]?.secret
        }
    }

    /// The request as SigV4 signs it. HTTP/1.1's `Host` arrives as the request's authority.
    static func sigV4Request(_ request: Request) -> SigV4Request {
        var headers: [(name: String, value: String)] = []
        if let authority = request.head.authority { headers.append((name: "host", value: authority)) }
        for field in request.headers { headers.append((name: field.name.canonicalName, value: field.value)) }
        return SigV4Request(method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ error: APIError) -> Response {
        let body = XKSErrorMapping.body(for: error)
        // The spec's status for the name; only the 405 of a GET has no name of its own.
        let status = error.status == .methodNotAllowed ? error.status : HTTPResponse.Status(code: body.errorName.status)
        var response = json(body, status: status)
        for (name, value) in error.headers {
            if let field = HTTPField.Name(name) { response.headers[field] = value }
        }
        return response
    }
}
