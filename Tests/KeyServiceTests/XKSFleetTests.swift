import Foundation
import Shared
import SplitKeyTestSupport
import Testing

/// `GetHealthStatus` across replicas: every replica's own deep check reaches the others through
/// its heartbeat in the shared key store, and a replica that stops is reported `UNAVAILABLE`.
@Suite struct XKSFleetTests {
    /// One signed health call with curl, as the spec's appendix D does it.
    static func health(_ ks: KeyServiceFixture, port: Int) async throws -> XKSAPI.HealthResponse {
        let line = try #require(
            try String(contentsOfFile: ks.path("xks-credentials"), encoding: .utf8).split(separator: "\n").first { !$0.hasPrefix("#") })
        let fields = line.split(separator: " ").map(String.init)
        let out = try await ChildProcess.run(
            try XKSFixture.tool("curl"),
            [
                "-sS", "--cacert", ks.path("ca.pem"), "--aws-sigv4", "aws:amz:eu-west-1:kms-xks-proxy", "--user",
                "\(fields[1]):\(fields[2])",
                "-H", "Content-Type: application/json", "-X", "POST", "--data",
                #"{"requestMetadata":{"kmsRequestId":"fleet","kmsOperation":"KmsHealthCheck"}}"#,
                "https://localhost:\(port)\(fields[0])/health",
            ], in: ks.dir)
        do {
            return try JSONDecoder().decode(XKSAPI.HealthResponse.self, from: Data(out.output.utf8))
        } catch {
            throw TestFailure("health answered: \(out.output)")
        }
    }

    @Test func healthListsEveryReplicaAndReportsAStoppedOneUnavailable() async throws {
        let port = try freeLoopbackPort()
        let ks = try await KeyServiceFixture.start(
            environment: ["SPLITKEY_XKS_LISTEN_PORT": String(port), "SPLITKEY_XKS_HEALTH_INTERVAL": "1", "SPLITKEY_REPLICA_ID": "ks-a"])
        do {
            try await check(ks, port: port)
        } catch {
            await ks.tearDown()
            throw error
        }
        await ks.tearDown()
    }

    func check(_ ks: KeyServiceFixture, port: Int) async throws {
        try await ks.daemon.waitForLog("xks listening")
        let b = try await ks.startReplica("ks-b")

        var seen: XKSAPI.HealthResponse?
        let started = ContinuousClock.now
        // On a loaded machine a heartbeat (every second) can be late enough for a replica to
        // show as unavailable for a moment: wait, bounded, for both to be listed and active.
        while ContinuousClock.now - started < .seconds(60) {
            let answer = try await Self.health(ks, port: port)
            seen = answer
            if answer.ekmFleetDetails.map(\.id) == ["ks-a", "ks-b"],
                answer.ekmFleetDetails.allSatisfy({ $0.healthStatus == XKSAPI.HealthStatus.active.rawValue })
            {
                break
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        let both = try #require(seen)
        #expect(both.ekmFleetDetails.map(\.id) == ["ks-a", "ks-b"], "\(both)")
        #expect(both.ekmFleetDetails.allSatisfy { $0.healthStatus == XKSAPI.HealthStatus.active.rawValue }, "\(both)")
        #expect(both.xksProxyFleetSize == 2)
        #expect(both.xksProxyVendor == "SplitKey" && both.ekmVendor == "SplitKey")
        // Replica B answers for the same fleet, itself first.
        #expect(try await Self.health(ks, port: b.xksPort).ekmFleetDetails.map(\.id) == ["ks-b", "ks-a"])

        _ = await b.stop()
        let stopped = ContinuousClock.now
        var after = both
        while ContinuousClock.now - stopped < .seconds(60) {
            after = try await Self.health(ks, port: port)
            let aActive = after.ekmFleetDetails.first { $0.id == "ks-a" }?.healthStatus == XKSAPI.HealthStatus.active.rawValue
            if after.xksProxyFleetSize == 1 && aActive { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        print("both replicas active after \(stopped - started); B reported UNAVAILABLE \(ContinuousClock.now - stopped) after it stopped")
        #expect(after.xksProxyFleetSize == 1, "\(after)")
        #expect(after.ekmFleetDetails.first { $0.id == "ks-b" }?.healthStatus == XKSAPI.HealthStatus.unavailable.rawValue)
        #expect(after.ekmFleetDetails.first { $0.id == "ks-a" }?.healthStatus == XKSAPI.HealthStatus.active.rawValue)
    }
}
