import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Shared

/// A dev PKI made by `keyservice pki init` and a `keyservice serve` process using it, on a
/// free loopback port. Every test gets its own.
public final class KeyServiceFixture: @unchecked Sendable {
    // @unchecked: `daemon` is replaced only by restart(), which tests call from one task.
    public let dir: URL
    public let port: Int
    /// Extra environment of every `keyservice serve` this fixture starts (NOTIFY_SOCKET, ...).
    public let environment: [String: String]
    public private(set) var daemon: ChildProcess
    private var clients: [String: HTTPClient] = [:]
    /// Replicas started by ``startReplica(_:)``; torn down with the fixture.
    private var replicas: [KeyServiceReplica] = []
    private let lock = NSLock()

    public static func start(
        label: String = #function, editConfig: (String) -> String = { $0 }, environment: [String: String] = [:]
    ) async throws -> KeyServiceFixture {
        let dir = try TestPaths.temporaryDirectory("ks-\(label.prefix(20).filter { $0.isLetter })")
        let pki = try await ChildProcess.run(
            try TestPaths.binary("keyservice"),
            ["pki", "init", "--dir", dir.path],
            in: dir
        )
        guard pki.status == 0 else { throw TestFailure("pki init failed: \(pki.output)") }
        let configPath = dir.appendingPathComponent("keyservice.yaml").path
        let text = try String(contentsOfFile: configPath, encoding: .utf8)
        try editConfig(text).write(toFile: configPath, atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        let daemon = try Self.spawn(dir: dir, port: port, environment: environment)
        let fixture = KeyServiceFixture(dir: dir, port: port, environment: environment, daemon: daemon)
        try await daemon.waitForLog("keyservice listening")
        return fixture
    }

    private init(dir: URL, port: Int, environment: [String: String], daemon: ChildProcess) {
        self.dir = dir
        self.port = port
        self.environment = environment
        self.daemon = daemon
    }

    public static func spawn(dir: URL, port: Int, environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(
            executable: try TestPaths.binary("keyservice"),
            arguments: ["serve", "--config", dir.appendingPathComponent("keyservice.yaml").path],
            // The dev config's XKS listener takes any free port unless a test names one.
            environment: ["SPLITKEY_XKS_LISTEN_PORT": "0"].merging(environment) { _, given in given }
                .merging(["SPLITKEY_LISTEN_PORT": String(port)]) { _, port in port },
            logURL: dir.appendingPathComponent("keyservice-\(UUID().uuidString.prefix(6)).log")
        )
    }

    public func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    public var baseURL: String { "https://localhost:\(port)" }

    /// Stops with SIGTERM (expecting exit 0) and starts again on the same port and state.
    public func restart() async throws -> Int32 {
        daemon.signal(SIGTERM)
        let status = await daemon.waitForExit()
        daemon = try Self.spawn(dir: dir, port: port, environment: environment)
        try await daemon.waitForLog("keyservice listening")
        return status
    }

    /// Starts the daemon again after ``stop()``, on the same port and state.
    public func start() async throws {
        daemon = try Self.spawn(dir: dir, port: port, environment: environment)
        try await daemon.waitForLog("keyservice listening")
    }

    public func stop() async -> Int32 {
        daemon.signal(SIGTERM)
        return await daemon.waitForExit()
    }

    /// kill -9: no shutdown path runs; ``start()`` brings it back on the same state.
    @discardableResult
    public func kill() async -> Int32 {
        daemon.signal(SIGKILL)
        return await daemon.waitForExit()
    }

    /// An HTTP client presenting `identity` (a file stem of the PKI: "admin", "node-eu-west", ...).
    public func client(_ identity: String, http1Only: Bool = false, readTimeout: Int64 = 20) throws -> HTTPClient {
        let key = identity + (http1Only ? "/h1" : "") + "/\(readTimeout)"
        lock.lock()
        defer { lock.unlock() }
        if let existing = clients[key] { return existing }
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: try configuration(identity, http1Only: http1Only, readTimeout: readTimeout))
        clients[key] = client
        return client
    }

    /// A client of its own for tests that kill daemons: HTTP/1.1, not kept in the fixture's
    /// pool (the caller shuts it down), and failing at once on a refused connection instead of
    /// reconnecting until the connect timeout, so a killed daemon answers in milliseconds.
    public func freshClient(_ identity: String) throws -> HTTPClient {
        var config = try configuration(identity, http1Only: true, readTimeout: 20)
        config.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    private func configuration(_ identity: String, http1Only: Bool, readTimeout: Int64) throws -> HTTPClient.Configuration {
        let files = TLSFiles(certificate: path("\(identity).pem"), privateKey: path("\(identity)-key.pem"), ca: path("ca.pem"))
        var config = HTTPClient.Configuration(tlsConfiguration: .splitKeyClient(try files.load()))
        if http1Only { config.httpVersion = .http1Only }
        // The read timeout runs from the end of the upload to the answer, and between chunks.
        config.timeout = .init(connect: .seconds(5), read: .seconds(readTimeout))
        return config
    }

    /// Another replica of this KeyService: a second `keyservice serve` of the same config and
    /// state directory (SQLite in WAL mode is shared safely between processes), on a port of its
    /// own with its own audit trail (`state/keyservice/audit-NAME.log`) and `replica.id` NAME.
    public func startReplica(_ name: String) async throws -> KeyServiceReplica {
        let replica = KeyServiceReplica(
            dir: dir, port: try freeLoopbackPort(),
            environment: environment.merging([
                "SPLITKEY_AUDIT_FILE": path("state/keyservice/audit-\(name).log"), "SPLITKEY_REPLICA_ID": name,
                "SPLITKEY_XKS_LISTEN_PORT": String(try freeLoopbackPort()),
            ]) { _, own in own })
        lock.withLock { replicas.append(replica) }
        try await replica.start()
        return replica
    }

    /// Shuts down clients, replicas and the daemon, and removes the folder.
    public func tearDown() async {
        let all = lock.withLock { Array(clients.values) }
        for client in all { try? await client.shutdown() }
        for replica in lock.withLock({ replicas }) { _ = await replica.stop() }
        daemon.signal(SIGTERM)
        await daemon.waitForExit()
        try? FileManager.default.removeItem(at: dir)
    }
}

/// A further `keyservice serve` of a ``KeyServiceFixture``'s config and state; see
/// ``KeyServiceFixture/startReplica(_:)``.
public final class KeyServiceReplica: @unchecked Sendable {
    // @unchecked: `daemon` is replaced only by start(), which tests call from one task.
    public let dir: URL
    public let port: Int
    let environment: [String: String]
    public private(set) var daemon: ChildProcess?
    /// The port of this replica's XKS proxy listener.
    public var xksPort: Int { Int(environment["SPLITKEY_XKS_LISTEN_PORT"] ?? "") ?? 0 }

    init(dir: URL, port: Int, environment: [String: String]) {
        self.dir = dir
        self.port = port
        self.environment = environment
    }

    public var baseURL: String { "https://localhost:\(port)" }

    /// Starts (again) on the same port, audit trail and state.
    public func start() async throws {
        let daemon = try KeyServiceFixture.spawn(dir: dir, port: port, environment: environment)
        self.daemon = daemon
        try await daemon.waitForLog("keyservice listening")
    }

    /// kill -9: no shutdown path runs.
    @discardableResult
    public func kill() async -> Int32 {
        daemon?.signal(SIGKILL)
        return await daemon?.waitForExit() ?? -1
    }

    public func stop() async -> Int32 {
        daemon?.signal(SIGTERM)
        return await daemon?.waitForExit() ?? -1
    }
}

/// A decoded response: status, headers and body.
public struct APIResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: Data

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw TestFailure("status \(status.code), cannot decode \(T.self) from: \(String(decoding: body, as: UTF8.self))")
        }
    }

    public var error: ErrorBody? { try? JSONDecoder().decode(ErrorBody.self, from: body) }
    public var requestID: String? { headers.first(name: "X-Request-Id") }
}

extension HTTPClient {
    public func call(_ method: HTTPMethod, _ url: String, json: (any Encodable)? = nil, rawBody: Data? = nil) async throws -> APIResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let json {
            let encoder = JSONEncoder()
            request.body = .bytes(ByteBuffer(bytes: try encoder.encode(json)))
            request.headers.add(name: "Content-Type", value: "application/json")
        } else if let rawBody {
            request.body = .bytes(ByteBuffer(bytes: rawBody))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response = try await execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 8 << 20)
        return APIResponse(status: response.status, headers: response.headers, body: Data(buffer: body))
    }
}

/// Runs `body` against a fresh KeyService and always tears it down, also when `body` fails.
public func withKeyService(
    label: String = #function, editConfig: (String) -> String = { $0 }, _ body: (KeyServiceFixture) async throws -> Void
)
    async throws
{
    let ks = try await KeyServiceFixture.start(label: label, editConfig: editConfig)
    do {
        try await body(ks)
    } catch {
        await ks.tearDown()
        throw error
    }
    await ks.tearDown()
}

extension KeyServiceFixture {
    /// Generates a data key of `user` as `node` and returns the unwrap request that opens it.
    public func unwrapRequest(user: String, node: String = "node-eu-west", context: String = "c") async throws
        -> KeyServiceAPI.UnwrapRequest
    {
        let key = try await client(node).call(
            .POST, baseURL + KeyServiceAPI.Path.generate, json: KeyServiceAPI.GenerateRequest(user: user, context: context)
        ).decode(KeyServiceAPI.GenerateResponse.self)
        return KeyServiceAPI.UnwrapRequest(user: user, wrapped: key.wrapped, context: context, reason: .userRequest)
    }
}
