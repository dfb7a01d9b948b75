import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// A KeyService and a StorageNode of region eu-west as real processes on free loopback ports,
/// with the dev PKI of `keyservice pki init` and users alice and bob (homed in eu-west) and
/// carol (homed in us-east) created by the admin. The node keeps its data on `backend`
/// (``RegionStorage``); ``startExtraNode()`` adds nodes of the same region on the same storage.
public final class StorageNodeFixture: @unchecked Sendable {
    // @unchecked: `node` and `extraNodes` are replaced only by the start/stop methods, which
    // tests call from one task.
    public let ks: KeyServiceFixture
    public let port: Int
    public private(set) var node: ChildProcess?
    /// The region's storage the nodes share.
    public let storage: RegionStorage
    public private(set) var extraNodes: [ExtraStorageNode] = []

    public static func start(
        label: String = #function,
        backend: RegionBackend = .embedded,
        privateEngines: Bool = false,
        editKeyServiceConfig: (String) -> String = { $0 },
        editNodeConfig: @escaping (String) -> String = { $0 },
        keyServiceEnvironment: [String: String] = [:],
        nodeEnvironment: [String: String] = [:]
    ) async throws -> StorageNodeFixture {
        let ks = try await KeyServiceFixture.start(label: label, editConfig: editKeyServiceConfig, environment: keyServiceEnvironment)
        let storage: RegionStorage
        do {
            storage = try await RegionStorage.make(
                backend, stateDirectory: ks.dir.appendingPathComponent("state/storagenode-eu-west"), privateEngines: privateEngines)
        } catch {
            await ks.tearDown()
            throw error
        }
        let fixture = StorageNodeFixture(
            ks: ks, port: try freeLoopbackPort(), storage: storage,
            environment: storage.nodeEnvironment.merging(nodeEnvironment) { _, given in given })
        do {
            for (user, region) in [("alice", "eu-west"), ("bob", "eu-west"), ("carol", "us-east")] {
                try await ks.createUser(user, region: region)
            }
            let configPath = ks.path("storagenode-eu-west.yaml")
            let text = try String(contentsOfFile: configPath, encoding: .utf8)
            try editNodeConfig(text)
                .write(toFile: configPath, atomically: true, encoding: .utf8)
            try await fixture.startNode()
        } catch {
            await fixture.tearDown()
            throw error
        }
        return fixture
    }

    /// Extra environment of every `storagenode serve` this fixture starts.
    public let environment: [String: String]

    private init(ks: KeyServiceFixture, port: Int, storage: RegionStorage, environment: [String: String]) {
        self.ks = ks
        self.port = port
        self.storage = storage
        self.environment = environment
    }

    public var baseURL: String { "https://localhost:\(port)" }
    public var stateDirectory: URL { ks.dir.appendingPathComponent("state/storagenode-eu-west") }

    public func objectURL(_ key: String) -> String { baseURL + StorageNodeAPI.Path.objects + "/" + key }

    /// Starts the node with the fixture's KeyService, or `keyServiceURL`, or the replicas
    /// `keyServiceURLs` (`keyService.urls`; the config file's `keyService.url` line is then
    /// removed, as the node refuses both at once).
    public func startNode(keyServiceURL: String? = nil, keyServiceURLs: [String]? = nil) async throws {
        var keyService = ["SPLITKEY_KEY_SERVICE_URL": keyServiceURL ?? ks.baseURL]
        if let keyServiceURLs {
            let configPath = ks.path("storagenode-eu-west.yaml")
            let lines = try String(contentsOfFile: configPath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            try lines.filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("url:") }.joined(separator: "\n")
                .write(toFile: configPath, atomically: true, encoding: .utf8)
            keyService = ["SPLITKEY_KEY_SERVICE_URLS": keyServiceURLs.joined(separator: ",")]
        }
        let node = try spawnNode(port: port, keyService: keyService)
        self.node = node
        try await node.waitForLog("storagenode listening")
    }

    private func spawnNode(port: Int, keyService: [String: String], extra: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(
            executable: try TestPaths.binary("storagenode"),
            arguments: ["serve", "--config", ks.path("storagenode-eu-west.yaml")],
            // The 2 s KeyService deadline is a default a test may lengthen (to tell "failed fast"
            // from "waited out the deadline" on a loaded CI machine); the port is not.
            environment: ["SPLITKEY_KEY_SERVICE_TIMEOUT": "2"].merging(environment) { _, given in given }
                .merging(extra) { _, given in given }
                .merging(keyService.merging(["SPLITKEY_LISTEN_PORT": String(port)]) { _, fixed in fixed }) { _, fixed in fixed },
            logURL: ks.dir.appendingPathComponent("storagenode-\(UUID().uuidString.prefix(6)).log")
        )
    }

    /// Starts another node of the region on its own port and state directory, with the same
    /// configuration and storage: on the scale-out backend it serves the same objects.
    public func startExtraNode() async throws -> ExtraStorageNode {
        let index = extraNodes.count + 2
        let stateDirectory = ks.dir.appendingPathComponent("state/storagenode-eu-west-\(index)")
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        let extra = ExtraStorageNode(port: try freeLoopbackPort(), stateDirectory: stateDirectory)
        try await startExtraNode(extra)
        extraNodes.append(extra)
        return extra
    }

    /// Starts `extra` (again, after it was stopped or killed) on its port and state directory.
    public func startExtraNode(_ extra: ExtraStorageNode) async throws {
        let process = try spawnNode(
            port: extra.port, keyService: ["SPLITKEY_KEY_SERVICE_URL": ks.baseURL],
            extra: ["SPLITKEY_STATE_DIRECTORY": extra.stateDirectory.path])
        extra.process = process
        try await process.waitForLog("storagenode listening")
    }

    @discardableResult
    public func stopNode(signal: Int32 = SIGTERM) async -> Int32 {
        guard let node else { return -1 }
        node.signal(signal)
        let status = await node.waitForExit()
        self.node = nil
        return status
    }

    public func restartNode() async throws {
        await stopNode()
        try await startNode()
    }

    public func tearDown() async {
        for extra in extraNodes { await extra.stop() }
        await stopNode()
        await ks.tearDown()
        await storage.remove()
    }
}

extension KeyServiceFixture {
    /// Creates a user through the admin API, failing the test setup if that is refused.
    public func createUser(_ id: String, region: String) async throws {
        let response = try await client("admin").call(
            .POST,
            baseURL + KeyServiceAPI.Path.users,
            json: KeyServiceAPI.CreateUserRequest(id: id, homeRegion: region)
        )
        guard response.status == .created else {
            throw TestFailure("cannot create user \(id): \(String(decoding: response.body, as: UTF8.self))")
        }
    }
}

extension HTTPClient {
    /// Sends raw bytes and returns the whole answer.
    public func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = [])
        async throws -> APIResponse
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await execute(request, timeout: .seconds(60))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return APIResponse(status: response.status, headers: response.headers, body: Data(buffer: collected))
    }
}

/// Another node of a fixture's region (``StorageNodeFixture/startExtraNode()``).
public final class ExtraStorageNode: @unchecked Sendable {
    // @unchecked: `process` is replaced only by the fixture's start method and stop(), which
    // tests call from one task.
    public let port: Int
    public let stateDirectory: URL
    public fileprivate(set) var process: ChildProcess?

    init(port: Int, stateDirectory: URL) {
        self.port = port
        self.stateDirectory = stateDirectory
    }

    public var baseURL: String { "https://localhost:\(port)" }
    public func objectURL(_ key: String) -> String { baseURL + StorageNodeAPI.Path.objects + "/" + key }

    @discardableResult
    public func stop(signal: Int32 = SIGTERM) async -> Int32 {
        guard let process else { return -1 }
        process.signal(signal)
        let status = await process.waitForExit()
        self.process = nil
        return status
    }
}

/// Runs `body` against a fresh KeyService and StorageNode, always tearing both down.
public func withStorageNode(
    label: String = #function,
    backend: RegionBackend = .embedded,
    privateEngines: Bool = false,
    editKeyServiceConfig: (String) -> String = { $0 },
    editNodeConfig: @escaping (String) -> String = { $0 },
    keyServiceEnvironment: [String: String] = [:],
    nodeEnvironment: [String: String] = [:],
    _ body: (StorageNodeFixture) async throws -> Void
) async throws {
    if let reason = backend.skipReason {
        print("\(label) on \(backend) skipped: \(reason)")
        return
    }
    let env = try await StorageNodeFixture.start(
        label: label,
        backend: backend,
        privateEngines: privateEngines,
        editKeyServiceConfig: editKeyServiceConfig,
        editNodeConfig: editNodeConfig,
        keyServiceEnvironment: keyServiceEnvironment,
        nodeEnvironment: nodeEnvironment
    )
    do {
        try await body(env)
    } catch {
        await env.tearDown()
        throw error
    }
    await env.tearDown()
}
