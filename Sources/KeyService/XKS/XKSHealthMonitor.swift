import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Shared

/// The deep health check KMS's `GetHealthStatus` reads, run in the background because KMS
/// waits 250 ms at most (the spec allows a cached result up to a minute old).
///
/// Every `interval` this replica checks the key store answers, the audit trail is writable and
/// a test key (random, in memory, never a customer's key) encrypts and decrypts; it records
/// the result as its heartbeat in the key store, and reads every replica's heartbeat: that
/// list is the fleet KMS sees, each replica `ACTIVE` or `UNAVAILABLE` (one heard from within
/// the last `staleAfter` seconds but not the last three intervals counts as `UNAVAILABLE`).
/// `xksProxyFleetSize` counts the replicas that are not `UNAVAILABLE`.
final class XKSHealthMonitor: Service, Sendable {
    let store: any KeyStore
    let audit: AuditLog
    let replica: String
    let model: String
    let logger: Logger
    let interval: Duration
    private let state = NIOLockedValueBox(Snapshot(fleet: [], checkedAt: .distantPast))
    private let testKey = SymmetricKey(size: .bits256)

    struct Snapshot: Sendable {
        var fleet: [XKSAPI.HealthResponse.EKM]
        var checkedAt: Date
    }

    static let staleAfter: Int64 = 300

    init(store: any KeyStore, audit: AuditLog, replica: String, backend: String, logger: Logger, interval: Duration = .seconds(5)) {
        self.store = store
        self.audit = audit
        self.replica = replica
        self.model = "SplitKey KeyService \(SplitKeyVersion.current) (\(backend) key store)"
        self.logger = logger
        self.interval = interval
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await check()
            // A drain must not wait out the interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// One round: the own deep check, the heartbeat, the fleet.
    func check() async {
        let own = await deepCheck()
        let now = Int64(Date().timeIntervalSince1970)
        var fleet: [XKSAPI.HealthResponse.EKM] = []
        do {
            try await store.heartbeat(replica: replica, status: own.rawValue, at: now)
            let fresh = now - 3 * max(1, Int64(interval.components.seconds))
            for beat in try await store.replicaHeartbeats(since: now - Self.staleAfter) where beat.replica != replica {
                let status = beat.seenAt >= fresh ? beat.status : XKSAPI.HealthStatus.unavailable.rawValue
                fleet.append(.init(id: beat.replica, model: model, healthStatus: status))
            }
        } catch {
            logger.warning("xks health: cannot record or read replica heartbeats", metadata: ["error": "\(error)"])
        }
        fleet.insert(.init(id: replica, model: model, healthStatus: own.rawValue), at: 0)
        state.withLockedValue { $0 = Snapshot(fleet: Array(fleet.prefix(10)), checkedAt: Date()) }
    }

    /// A check slower than this still serves, but eats most of KMS's 250 ms: `DEGRADED`.
    static let slowCheck = Duration.milliseconds(100)

    /// The KeyService's own health in the spec's terms: `UNAVAILABLE` when the key store does not
    /// answer or the audit trail cannot be written (every key operation is refused then, which
    /// the KeyService's own health calls DEGRADED but KMS must see as unable to serve),
    /// `DEGRADED` when everything works but the round took over ``slowCheck``, else `ACTIVE`.
    private func deepCheck() async -> XKSAPI.HealthStatus {
        let started = ContinuousClock.now
        do {
            try await store.ping()
        } catch {
            logger.error("xks health: key store does not answer", metadata: ["error": "\(error)"])
            return .unavailable
        }
        if audit.lastFailure != nil { return .unavailable }
        let probe = RandomBytes.bytes(32)
        guard let sealed = try? XKSCipher.encrypt(probe, aad: [1, 2, 3], key: testKey),
            (try? XKSCipher.decrypt(sealed, aad: [1, 2, 3], key: testKey)) == probe
        else { return .unavailable }
        return ContinuousClock.now - started > Self.slowCheck ? .degraded : .active
    }

    /// The answer to `GetHealthStatus`: the last round's fleet (this replica first).
    func response() -> XKSAPI.HealthResponse {
        let snapshot = state.withLockedValue { $0 }
        var fleet = snapshot.fleet
        if fleet.isEmpty || Date().timeIntervalSince(snapshot.checkedAt) > 60 {
            // No round within the minute the spec allows: say so rather than repeat an old answer.
            fleet = [.init(id: replica, model: model, healthStatus: XKSAPI.HealthStatus.unavailable.rawValue)]
        }
        return XKSAPI.HealthResponse(
            xksProxyFleetSize: max(1, fleet.filter { $0.healthStatus != XKSAPI.HealthStatus.unavailable.rawValue }.count),
            xksProxyVendor: "SplitKey", xksProxyModel: "SplitKey XKS proxy \(SplitKeyVersion.current)", ekmVendor: "SplitKey",
            ekmFleetDetails: fleet)
    }

    /// For a load balancer's plain health probe: whether this replica can serve.
    var isServing: Bool {
        state.withLockedValue { $0.fleet.first?.healthStatus == XKSAPI.HealthStatus.active.rawValue }
    }
}
