import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Shared

/// The StorageNode's client of the KeyService: mutual TLS with the node's own certificate,
/// pooled connections (HTTP/2 where offered) to each replica of `keyService.urls`, a deadline per
/// call, and failover between replicas.
///
/// The rule it keeps: a KeyService that is down, slow or refusing never makes a request hang.
/// Every call ends by its deadline with ``KeyAccessError/unavailable(_:)``, or with the
/// KeyService's refusal.
///
/// Which replica an attempt goes to is ``KeyServiceEndpoints``' decision (round robin over the
/// healthy ones); this type does the HTTP, feeds it what each attempt and health probe found, and
/// logs and exports (`splitkey_keyservice_endpoint_healthy`) each replica's changes of health.
/// - unwrap and rewrap (idempotent) take up to 3 attempts: a failed attempt ("unavailable":
///   connection failure, timeout, 429, 5xx) is retried at once on a replica the call has not
///   tried, and only when every replica was tried on one again after a 100 ms, then 200 ms
///   backoff (scaled by a random 0.5..1). An attempt that could still fail over gets half the
///   time left, so a replica that accepts and never answers leaves time for the next one.
/// - generate counts a wrap at the KeyService, so once its request may have been sent it is
///   never sent again: it moves to another replica only when the connection (or its TLS
///   handshake) could not be made, and is never retried on the same replica.
/// - a server that is not the trusted KeyService (``ServerIdentityCheck``, checked on every
///   connection to every replica) fails the call at once, and its endpoint counts as unhealthy.
struct KeyServiceClient: Sendable {
    static let context = "splitkey/storagenode/dek/v1"
    /// Attempts of one idempotent call, over all replicas.
    static let idempotentAttempts = 3

    /// One replica: its base URL, its connection pools and its health gauge.
    struct Endpoint: Sendable {
        let url: String
        /// Key calls.
        let http: HTTPClient
        /// Health probes, on connections of their own: a probe never shares (or waits behind) a
        /// key call's connection, and a fault that cuts one exchange cannot pass the other. One
        /// HTTP/1.1 connection per probe (`Connection: close`), so a probe connection is never
        /// kept busy: a replica that is draining for shutdown sees it close within the probe,
        /// and no HTTP/2 GOAWAY can reach a probe connection while its identity is checked.
        let probeHTTP: HTTPClient
        let healthGauge: Gauge
    }

    let endpoints: [Endpoint]
    /// Health and round-robin position, shared by every copy of this client.
    private let state: NIOLockedValueBox<KeyServiceEndpoints>
    /// The SPIFFE ID the KeyService must present; checked on every new connection to every replica.
    let identity: ServerIdentityCheck
    let timeout: Duration
    /// For one replica, the smaller of the call's timeout and 2 s; for several, of half the
    /// timeout and 2 s, so a replica that does not answer its SYN leaves time for another.
    let connectTimeout: Duration
    let logger: Logger

    init(urls: [String], tls: LoadedTLSFiles, identity: ServerIdentityCheck, timeout: Duration, logger: Logger) {
        precondition(!urls.isEmpty, "at least one KeyService URL")
        let connect = min(urls.count > 1 ? timeout / 2 : timeout, .seconds(2))
        var config = HTTPClient.Configuration(tlsConfiguration: .splitKeyClient(tls))
        // Every connection must reach the KeyService itself, not any other server of the CA.
        identity.install(on: &config)
        config.timeout = .init(connect: .milliseconds(Int64(connect / .milliseconds(1))), read: .seconds(timeout.components.seconds))
        config.connectionPool = .init(idleTimeout: .seconds(60))
        // A refused connection fails the attempt at once: our own retry loop (another replica,
        // or backoff with jitter, bounded by the deadline) decides what happens next. The
        // client's default would keep reconnecting until the connect timeout, so an unreachable
        // replica would cost every request the whole timeout before its failover or 503.
        config.connectionPool.retryConnectionEstablishment = false
        var probeConfig = config
        probeConfig.httpVersion = .http1Only
        probeConfig.connectionPool = .init(idleTimeout: .milliseconds(100))
        probeConfig.connectionPool.retryConnectionEstablishment = false
        self.endpoints = urls.map { url in
            let gauge = Gauge(label: "splitkey_keyservice_endpoint_healthy", dimensions: [("endpoint", url)])
            gauge.record(1)
            return Endpoint(
                url: url,
                http: HTTPClient(eventLoopGroupProvider: .singleton, configuration: config),
                probeHTTP: HTTPClient(eventLoopGroupProvider: .singleton, configuration: probeConfig),
                healthGauge: gauge
            )
        }
        self.state = NIOLockedValueBox(KeyServiceEndpoints(urls: urls))
        self.identity = identity
        self.timeout = timeout
        self.connectTimeout = connect
        self.logger = logger
    }

    func shutdown() async {
        for endpoint in endpoints {
            try? await endpoint.http.shutdown()
            try? await endpoint.probeHTTP.shutdown()
        }
    }

    /// The replicas' base URLs, in configuration order.
    var urls: [String] { endpoints.map(\.url) }

    /// What the client currently knows of each replica.
    var endpointStates: KeyServiceEndpoints { state.withLockedValue { $0 } }

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
            response = try await call(KeyServiceAPI.Path.generate, body, idempotent: false)
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
        let response: KeyServiceAPI.UnwrapResponse = try await call(KeyServiceAPI.Path.unwrap, body, idempotent: true)
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
        let response: KeyServiceAPI.RewrapResponse = try await call(KeyServiceAPI.Path.rewrap, body, idempotent: true)
        guard let bytes = Data(base64Encoded: response.wrapped) else { throw .protocolViolation("rewrap answer lacks a wrapped key") }
        return (Array(bytes), response.kekVersion)
    }

    /// One failed attempt: the error, whether the request may have reached the replica, and
    /// whether the failure says the replica itself is unwell (as opposed to an answer about this
    /// request, such as a refusal or a rate limit).
    private struct AttemptFailure: Error {
        var error: KeyAccessError
        var sent: Bool
        var endpointFault: Bool
    }

    private func call<Request: Encodable & Sendable, Response: Decodable>(
        _ path: String,
        _ body: Request,
        idempotent: Bool
    ) async throws(KeyAccessError) -> Response {
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout / .nanoseconds(1)))
        let payload: ByteBuffer
        do {
            payload = ByteBuffer(bytes: try JSONEncoder().encode(body))
        } catch {
            throw .protocolViolation("cannot encode the request: \(error)")
        }
        // generate tries each replica at most once, and moves on only while nothing was sent.
        let attempts = idempotent ? Self.idempotentAttempts : endpoints.count
        var tried: [Int] = []
        var failures: [String] = []
        var lastError = KeyAccessError.unavailable("no attempt made")
        var backoffs = 0
        for attempt in 0..<attempts {
            let (choice, canMoveOn) = state.withLockedValue { endpoints -> (KeyServiceEndpoints.Choice, Bool) in
                let choice = endpoints.choose(tried: tried)
                let canMoveOn = idempotent && attempt + 1 < attempts && endpoints.hasUntried(tried + [choice.index])
                return (choice, canMoveOn)
            }
            if choice.again {
                // Every replica was tried in this call: generate stops; an idempotent call waits
                // 100 ms, 200 ms, ... with full jitter, never past the deadline.
                guard idempotent else { break }
                backoffs += 1
                let backoff = Double(100 << (backoffs - 1)) * Double.random(in: 0.5...1.0)
                let remaining = Double((deadline - NIODeadline.now()).nanoseconds) / 1e6
                guard remaining > backoff else { break }
                try? await Task.sleep(for: .milliseconds(Int(backoff)))
            } else if attempt > 0 {
                Counter(label: "splitkey_keyservice_failovers_total", dimensions: [("path", path)]).increment()
            }
            let now = NIODeadline.now()
            guard now < deadline else { break }
            tried.append(choice.index)
            let endpoint = endpoints[choice.index]
            // An attempt that could still fail over gets half the time left, so a replica that
            // accepts and never answers cannot use up the whole deadline.
            let attemptDeadline = canMoveOn ? now + .nanoseconds((deadline - now).nanoseconds / 2) : deadline
            let started = ContinuousClock.now
            do {
                let result: Response = try await once(endpoint, path, payload, deadline: attemptDeadline)
                Timer(label: "splitkey_keyservice_call_duration", dimensions: [("path", path)]).record(
                    duration: ContinuousClock.now - started)
                report(state.withLockedValue { $0.markSucceeded(choice.index) })
                return result
            } catch {
                Timer(label: "splitkey_keyservice_call_duration", dimensions: [("path", path)]).record(
                    duration: ContinuousClock.now - started)
                Counter(label: "splitkey_keyservice_call_errors_total", dimensions: [("path", path), ("kind", error.error.kind)])
                    .increment()
                lastError = error.error
                switch error.error {
                case .unavailable(let detail):
                    if error.endpointFault { report(state.withLockedValue { $0.markFailed(choice.index, reason: detail) }) }
                    failures.append("\(endpoint.url): \(detail)")
                    logger.warning(
                        "KeyService call failed",
                        metadata: [
                            "path": "\(path)", "attempt": "\(attempt + 1)", "keyService": "\(endpoint.url)",
                            "requestSent": "\(error.sent)", "error": "\(error.error)",
                        ])
                    // generate: the replica may have counted the wrap, so it is not sent again.
                    guard idempotent || !error.sent else { throw error.error }
                case .untrustedKeyService(let detail):
                    report(state.withLockedValue { $0.markFailed(choice.index, reason: "not the trusted KeyService") })
                    throw .untrustedKeyService("\(endpoint.url): \(detail)")
                case .refused, .integrity:
                    // A considered answer: the replica works, the request was refused.
                    report(state.withLockedValue { $0.markSucceeded(choice.index) })
                    throw error.error
                case .protocolViolation:
                    throw error.error
                }
            }
        }
        if case .unavailable = lastError, failures.count > 1 {
            throw .unavailable("every attempt failed: " + failures.joined(separator: "; "))
        }
        throw lastError
    }

    private func once<Response: Decodable>(
        _ endpoint: Endpoint,
        _ path: String,
        _ payload: ByteBuffer,
        deadline: NIODeadline
    ) async throws(AttemptFailure) -> Response {
        var request = HTTPClientRequest(url: endpoint.url + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        // The client pulls the body only once the request head went out on an established (and
        // identity-checked) connection: until then nothing of the request can have reached the
        // replica, which is what lets a generate move on to another one.
        let sent = NIOLockedValueBox(false)
        request.body = .stream(MarkedBody(payload: payload, sent: sent), length: .known(Int64(payload.readableBytes)))
        let status: HTTPResponseStatus
        let answer: ByteBuffer
        do {
            let response = try await endpoint.http.execute(request, deadline: deadline, logger: logger)
            status = response.status
            answer = try await response.body.collect(upTo: 1 << 20)
        } catch let error as ServerIdentityError {
            throw AttemptFailure(error: .untrustedKeyService(error.description), sent: false, endpointFault: true)
        } catch {
            throw AttemptFailure(error: .unavailable("\(error)"), sent: sent.withLockedValue { $0 }, endpointFault: true)
        }
        if status == .ok {
            do {
                return try JSONDecoder().decode(Response.self, from: Data(buffer: answer))
            } catch {
                throw AttemptFailure(
                    error: .protocolViolation("unexpected answer from the KeyService: \(error)"), sent: true, endpointFault: false)
            }
        }
        let detail = (try? JSONDecoder().decode(ErrorBody.self, from: Data(buffer: answer)))?.error
        let code = detail?.code ?? ErrorCode("http_\(status.code)")
        let message = detail?.message ?? "KeyService answered \(status.code)"
        switch status.code {
        case 400, 422: throw AttemptFailure(error: .integrity(code: code, message: message), sent: true, endpointFault: false)
        case 401, 403, 404, 409: throw AttemptFailure(error: .refused(code: code, message: message), sent: true, endpointFault: false)
        case 429:
            // This node is over its rate at that replica; the replica itself is fine.
            throw AttemptFailure(error: .unavailable("KeyService is rate-limiting: \(message)"), sent: true, endpointFault: false)
        default:
            throw AttemptFailure(
                error: .unavailable("KeyService answered \(status.code) \(code): \(message)"), sent: true, endpointFault: true)
        }
    }

    /// Logs and exports a change of a replica's health.
    private func report(_ transition: KeyServiceEndpoints.Transition?) {
        guard let transition else { return }
        endpoints[transition.index].healthGauge.record(transition.healthy ? 1 : 0)
        let summary = state.withLockedValue { $0.summary }
        if transition.healthy {
            logger.notice(
                "KeyService endpoint healthy again", metadata: ["keyService": "\(transition.url)", "keyServiceEndpoints": "\(summary)"])
        } else {
            logger.warning(
                "KeyService endpoint unhealthy",
                metadata: [
                    "keyService": "\(transition.url)", "reason": "\(transition.reason ?? "?")", "keyServiceEndpoints": "\(summary)",
                ])
        }
    }
}

/// A request body of one buffer that records when the HTTP client first asks for it.
private struct MarkedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let payload: ByteBuffer
    let sent: NIOLockedValueBox<Bool>

    struct AsyncIterator: AsyncIteratorProtocol {
        var payload: ByteBuffer?
        mutating func next() async -> ByteBuffer? {
            defer { payload = nil }
            return payload
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        sent.withLockedValue { $0 = true }
        return AsyncIterator(payload: payload)
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
    /// How long a background health probe may take: the connect timeout, at most 1 s.
    var probeTimeout: Duration { min(connectTimeout, .seconds(1)) }

    /// What one probe of replica `index` found: nil failure when healthy.
    struct ProbeResult: Sendable {
        var index: Int
        var url: String
        var failure: String?
    }

    /// Why replica `index` is not healthy, or nil when it is: healthy is a whole `GET /v1/health`
    /// answer with status 200 that says ACTIVE (a KeyService that says DEGRADED refuses key
    /// operations). A connection cut after "200" is not healthy. `onCallConnections` sends it
    /// over the key calls' pooled connections (the node's health endpoint: the path its key
    /// requests take); otherwise on a connection of its own, closed after the answer.
    func probe(_ index: Int, timeout: Duration, onCallConnections: Bool) async -> String? {
        var request = HTTPClientRequest(url: endpoints[index].url + KeyServiceAPI.Path.health)
        request.method = .GET
        if !onCallConnections { request.headers.add(name: "Connection", value: "close") }
        do {
            let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout / .nanoseconds(1)))
            let http = onCallConnections ? endpoints[index].http : endpoints[index].probeHTTP
            let response = try await http.execute(request, deadline: deadline, logger: logger)
            let body = try await response.body.collect(upTo: 1 << 16)
            guard response.status == .ok else { return "health check answered \(response.status.code)" }
            if let health = try? JSONDecoder().decode(KeyServiceAPI.Health.self, from: Data(buffer: body)), health.status != .active {
                return "health check says \(health.status.rawValue)"
            }
            return nil
        } catch let error as ServerIdentityError {
            return "not the trusted KeyService: \(error)"
        } catch {
            return "health check failed: \(error)"
        }
    }

    /// Probes every replica at once, records what it found, and returns the findings in the
    /// order of the URLs.
    @discardableResult
    func checkHealth(timeout: Duration, onCallConnections: Bool = false) async -> [ProbeResult] {
        let results = await withTaskGroup(of: ProbeResult.self) { group in
            for index in endpoints.indices {
                group.addTask {
                    ProbeResult(
                        index: index, url: endpoints[index].url,
                        failure: await probe(index, timeout: timeout, onCallConnections: onCallConnections))
                }
            }
            var results: [ProbeResult] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.index < $1.index }
        }
        for result in results {
            report(
                state.withLockedValue { endpoints in
                    result.failure.map { endpoints.markFailed(result.index, reason: $0) } ?? endpoints.markSucceeded(result.index)
                })
        }
        return results
    }

    /// Probes every replica every `interval` (each probe bounded by ``probeTimeout``, on a
    /// connection of its own) until the task is cancelled, so a replica that died or came back is
    /// known within about a second, also while no request needs a key.
    func monitorHealth(interval: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            await checkHealth(timeout: probeTimeout)
            try? await Task.sleep(for: interval)
        }
    }
}
