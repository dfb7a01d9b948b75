import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Shared

/// The StorageNode's client of the KeyService: mutual TLS with the node's own certificate,
/// pooled connections (HTTP/2 where offered), a deadline per call and retries with exponential
/// backoff and jitter for the idempotent unwrap.
///
/// The rule it keeps: a KeyService that is down, slow or refusing never makes a request hang.
/// Every call ends by its deadline with ``KeyAccessError/unavailable(_:)``, or with the
/// KeyService's refusal.
struct KeyServiceClient: Sendable {
    static let context = "splitkey/storagenode/dek/v1"

    let http: HTTPClient
    let baseURL: String
    /// The SPIFFE ID the KeyService must present; checked on every new connection.
    let identity: ServerIdentityCheck
    let timeout: Duration
    let logger: Logger

    init(baseURL: String, tls: LoadedTLSFiles, identity: ServerIdentityCheck, timeout: Duration, logger: Logger) {
        var config = HTTPClient.Configuration(tlsConfiguration: .splitKeyClient(tls))
        // Every connection must reach the KeyService itself, not any other server of the CA.
        identity.install(on: &config)
        let connect = min(timeout, .seconds(2))
        config.timeout = .init(connect: .seconds(connect.components.seconds), read: .seconds(timeout.components.seconds))
        config.connectionPool = .init(idleTimeout: .seconds(60))
        // A refused connection fails the attempt at once: our own retry loop (backoff with
        // jitter, bounded by the deadline) decides what happens next. The client's default
        // would keep reconnecting until the connect timeout, so an unreachable KeyService
        // would cost every request the whole timeout before its 503.
        config.connectionPool.retryConnectionEstablishment = false
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.baseURL = baseURL
        self.identity = identity
        self.timeout = timeout
        self.logger = logger
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    struct GeneratedKey: Sendable {
        var key: SymmetricKey
        var wrapped: [UInt8]
        var kekVersion: UInt32
        var cacheTTL: Int
    }

    func generate(user: String) async throws(KeyAccessError) -> GeneratedKey {
        let body = KeyServiceAPI.GenerateRequest(user: user, context: Self.context)
        let response: KeyServiceAPI.GenerateResponse
        do {
            response = try await call(KeyServiceAPI.Path.generate, body, attempts: 1)
        } catch {
            // No stored blob was sent, so a 400/422 here is a protocol problem, not damage.
            if case .integrity(let code, let message) = error { throw .protocolViolation("\(code): \(message)") }
            throw error
        }
        guard let plain = response.plaintext.flatMap({ Data(base64Encoded: $0) }), plain.count == 32,
            let wrapped = Data(base64Encoded: response.wrapped)
        else { throw .protocolViolation("generate answer lacks a 32-byte key or a wrapped key") }
        return GeneratedKey(
            key: SymmetricKey(data: plain),
            wrapped: Array(wrapped),
            kekVersion: response.kekVersion,
            cacheTTL: response.cacheTTL ?? 0
        )
    }

    func unwrap(user: String, wrapped: [UInt8], reason: KeyServiceAPI.UnwrapReason) async throws(KeyAccessError) -> (SymmetricKey, Int) {
        let body = KeyServiceAPI.UnwrapRequest(
            user: user,
            wrapped: Data(wrapped).base64EncodedString(),
            context: Self.context,
            reason: reason
        )
        let response: KeyServiceAPI.UnwrapResponse = try await call(KeyServiceAPI.Path.unwrap, body, attempts: 3)
        guard let plain = Data(base64Encoded: response.plaintext), plain.count == 32 else {
            throw .protocolViolation("unwrap answer lacks a 32-byte key")
        }
        return (SymmetricKey(data: plain), response.cacheTTL)
    }

    /// Has the KeyService rewrap a stored data key under the user's newest KEK version; the data
    /// key itself never leaves the KeyService.
    func rewrap(user: String, wrapped: [UInt8]) async throws(KeyAccessError) -> (wrapped: [UInt8], kekVersion: UInt32) {
        let body = KeyServiceAPI.UnwrapRequest(
            user: user,
            wrapped: Data(wrapped).base64EncodedString(),
            context: Self.context,
            reason: .migration
        )
        let response: KeyServiceAPI.RewrapResponse = try await call(KeyServiceAPI.Path.rewrap, body, attempts: 3)
        guard let bytes = Data(base64Encoded: response.wrapped) else { throw .protocolViolation("rewrap answer lacks a wrapped key") }
        return (Array(bytes), response.kekVersion)
    }

    private func call<Request: Encodable & Sendable, Response: Decodable>(
        _ path: String,
        _ body: Request,
        attempts: Int
    ) async throws(KeyAccessError) -> Response {
        let deadline = NIODeadline.now() + .seconds(timeout.components.seconds)
        var lastError = KeyAccessError.unavailable("no attempt made")
        for attempt in 0..<attempts {
            if attempt > 0 {
                // 100 ms, 200 ms, ... with full jitter, never past the deadline.
                let backoff = Double(100 << (attempt - 1)) * Double.random(in: 0.5...1.0)
                let remaining = Double((deadline - NIODeadline.now()).nanoseconds) / 1e6
                guard remaining > backoff else { break }
                try? await Task.sleep(for: .milliseconds(Int(backoff)))
            }
            let started = ContinuousClock.now
            do {
                let result: Response = try await once(path, body, deadline: deadline)
                Timer(label: "splitkey_keyservice_call_duration", dimensions: [("path", path)]).record(
                    duration: ContinuousClock.now - started)
                return result
            } catch {
                Timer(label: "splitkey_keyservice_call_duration", dimensions: [("path", path)]).record(
                    duration: ContinuousClock.now - started)
                Counter(label: "splitkey_keyservice_call_errors_total", dimensions: [("path", path), ("kind", error.kind)]).increment()
                lastError = error
                guard case .unavailable = error else { throw error }
                logger.warning("KeyService call failed", metadata: ["path": "\(path)", "attempt": "\(attempt + 1)", "error": "\(error)"])
            }
        }
        throw lastError
    }

    private func once<Request: Encodable & Sendable, Response: Decodable>(
        _ path: String,
        _ body: Request,
        deadline: NIODeadline
    ) async throws(KeyAccessError) -> Response {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let status: HTTPResponseStatus
        let payload: ByteBuffer
        do {
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
            let response = try await http.execute(request, deadline: deadline, logger: logger)
            status = response.status
            payload = try await response.body.collect(upTo: 1 << 20)
        } catch let error as ServerIdentityError {
            throw .untrustedKeyService(error.description)
        } catch {
            throw .unavailable("\(error)")
        }
        if status == .ok {
            do {
                return try JSONDecoder().decode(Response.self, from: Data(buffer: payload))
            } catch {
                throw .protocolViolation("unexpected answer from the KeyService: \(error)")
            }
        }
        let detail = (try? JSONDecoder().decode(ErrorBody.self, from: Data(buffer: payload)))?.error
        let code = detail?.code ?? ErrorCode("http_\(status.code)")
        let message = detail?.message ?? "KeyService answered \(status.code)"
        switch status.code {
        case 400, 422: throw .integrity(code: code, message: message)
        case 401, 403, 404, 409: throw .refused(code: code, message: message)
        case 429: throw .unavailable("KeyService is rate-limiting: \(message)")
        default: throw .unavailable("KeyService answered \(status.code) \(code): \(message)")
        }
    }
}

/// Why a data key could not be had.
enum KeyAccessError: Error, Sendable, CustomStringConvertible {
    /// A short label for metrics.
    var kind: String {
        switch self {
        case .unavailable: "unavailable"
        case .refused: "refused"
        case .integrity: "integrity"
        case .protocolViolation: "protocol"
        case .untrustedKeyService: "identity"
        }
    }

    /// Down, slow, overloaded or unreachable: retry later.
    case unavailable(String)
    /// The key holder said no (policy, region, disabled user).
    case refused(code: ErrorCode, message: String)
    /// The stored wrapped key did not open: it was altered.
    case integrity(code: ErrorCode, message: String)
    case protocolViolation(String)
    /// The server at the KeyService URL is not the KeyService (`keyService.identity`); never retried.
    case untrustedKeyService(String)

    var description: String {
        switch self {
        case .unavailable(let d): "KeyService unavailable: \(d)"
        case .refused(let code, let message): "KeyService refused (\(code)): \(message)"
        case .integrity(let code, let message): "stored wrapped key failed at the KeyService (\(code)): \(message)"
        case .protocolViolation(let d): "KeyService protocol violation: \(d)"
        case .untrustedKeyService(let d): "the server at the KeyService URL is not the trusted KeyService: \(d)"
        }
    }
}

extension KeyServiceClient {
    /// Whether the KeyService answers its health check within `timeout`.
    func isHealthy(timeout: TimeAmount = .seconds(2)) async -> Bool {
        var request = HTTPClientRequest(url: baseURL + KeyServiceAPI.Path.health)
        request.method = .GET
        guard let response = try? await http.execute(request, timeout: timeout, logger: logger) else { return false }
        // A whole answer, not just a status line: a connection cut after "200" is not healthy.
        guard (try? await response.body.collect(upTo: 1 << 16)) != nil else { return false }
        return response.status == .ok
    }
}
