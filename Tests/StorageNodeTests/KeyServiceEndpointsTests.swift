import Foundation
import Shared
import Testing

@testable import StorageNode

/// Which KeyService replica a call goes to, and how failures and successes move that: the pure
/// state behind the node's client, without a process or a socket.
struct KeyServiceEndpointsTests {
    static let urls = ["https://a:1", "https://b:2", "https://c:3"]

    /// The indices `n` fresh calls (nothing tried yet) go to first.
    func firstChoices(_ endpoints: inout KeyServiceEndpoints, _ n: Int) -> [Int] {
        (0..<n).map { _ in endpoints.choose(tried: []).index }
    }

    @Test func freshCallsGoRoundRobinOverAllHealthyEndpoints() {
        var endpoints = KeyServiceEndpoints(urls: Self.urls)
        #expect(endpoints.healthyCount == 3)
        #expect(firstChoices(&endpoints, 7) == [0, 1, 2, 0, 1, 2, 0])
    }

    @Test func unhealthyEndpointsAreSkippedAndComeBackWhenTheySucceed() {
        var endpoints = KeyServiceEndpoints(urls: Self.urls)
        let down = endpoints.markFailed(1, reason: "connection refused")
        #expect(down == .init(index: 1, url: "https://b:2", healthy: false, reason: "connection refused"))
        #expect(endpoints.healthyCount == 2)
        #expect(firstChoices(&endpoints, 4) == [0, 2, 0, 2])
        // A second failure is no new transition, but counted.
        #expect(endpoints.markFailed(1, reason: "timeout") == nil)
        #expect(endpoints.endpoints[1].consecutiveFailures == 2)
        #expect(endpoints.endpoints[1].lastFailure == "timeout")

        let up = endpoints.markSucceeded(1)
        #expect(up == .init(index: 1, url: "https://b:2", healthy: true, reason: nil))
        #expect(endpoints.markSucceeded(1) == nil)
        #expect(endpoints.endpoints[1].consecutiveFailures == 0)
        #expect(Set(firstChoices(&endpoints, 3)) == [0, 1, 2])
    }

    @Test func whenNoneIsHealthyCallsStillGoOutRoundRobin() {
        var endpoints = KeyServiceEndpoints(urls: Self.urls)
        for index in 0..<3 { endpoints.markFailed(index, reason: "down") }
        #expect(endpoints.healthyCount == 0)
        let choices = (0..<3).map { _ in endpoints.choose(tried: []) }
        #expect(choices.map(\.index) == [0, 1, 2])
        #expect(choices.allSatisfy { !$0.again })
    }

    @Test func aRetryGoesToAnotherEndpointHealthyFirstThenTheUntriedUnhealthyOnes() {
        var endpoints = KeyServiceEndpoints(urls: Self.urls)
        endpoints.markFailed(2, reason: "down")
        let first = endpoints.choose(tried: [])
        #expect(first == .init(index: 0, again: false))
        endpoints.markFailed(0, reason: "reset")
        // The healthy one the call has not tried.
        #expect(endpoints.choose(tried: [0]) == .init(index: 1, again: false))
        // Then the unhealthy one it has not tried: its health may be stale.
        #expect(endpoints.choose(tried: [0, 1]) == .init(index: 2, again: false))
        #expect(endpoints.hasUntried([0, 1]))
        #expect(!endpoints.hasUntried([0, 1, 2]))
        // All tried: one again (a healthy one if any), which the caller backs off for.
        #expect(endpoints.choose(tried: [0, 1, 2]) == .init(index: 1, again: true))
    }

    @Test func oneEndpointIsTriedAgainAfterItsFirstAttempt() {
        var endpoints = KeyServiceEndpoints(urls: ["https://only:1"])
        #expect(endpoints.choose(tried: []) == .init(index: 0, again: false))
        endpoints.markFailed(0, reason: "refused")
        #expect(endpoints.choose(tried: [0]) == .init(index: 0, again: true))
        #expect(endpoints.choose(tried: [0, 0]) == .init(index: 0, again: true))
    }

    @Test func theSummaryNamesEachEndpointAndWhyItIsDown() {
        var endpoints = KeyServiceEndpoints(urls: Self.urls)
        endpoints.markFailed(1, reason: "connection refused")
        #expect(endpoints.summary == "https://a:1 healthy, https://b:2 unhealthy (connection refused), https://c:3 healthy")
        #expect(endpoints.urls == Self.urls)
        #expect(endpoints.count == 3)
    }

    @Test func outOfRangeIndicesChangeNothing() {
        var endpoints = KeyServiceEndpoints(urls: Self.urls)
        #expect(endpoints.markFailed(7, reason: "x") == nil)
        #expect(endpoints.markSucceeded(-1) == nil)
        #expect(endpoints.healthyCount == 3)
    }
}

/// `keyService.urls` and `keyService.url` in the node's configuration.
struct KeyServiceURLsConfigTests {
    static let base = """
        region: eu-west
        tls:
          certificate: node.pem
          privateKey: node-key.pem
          ca: ca.pem
        stateDirectory: state
        keyService:

        """

    func load(_ keyService: String, environment: [String: String] = [:]) async throws(ConfigurationError) -> StorageNodeConfig {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sn-urls-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("storagenode.yaml").path
        try? (Self.base + keyService).write(toFile: path, atomically: true, encoding: .utf8)
        return try await StorageNodeConfig.load(path: path, environment: environment)
    }

    func refusal(_ keyService: String, environment: [String: String] = [:]) async -> String? {
        do {
            _ = try await load(keyService, environment: environment)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aListOfReplicasIsReadInOrderWithoutTrailingSlashes() async throws {
        let config = try await load("  urls:\n    - https://ks-a.example:8443/\n    - https://ks-b.example:8443\n")
        #expect(config.keyServiceURLs == ["https://ks-a.example:8443", "https://ks-b.example:8443"])
    }

    @Test func oneURLIsAListOfOne() async throws {
        let config = try await load("  url: https://ks.example:8443/\n")
        #expect(config.keyServiceURLs == ["https://ks.example:8443"])
    }

    @Test func theEnvironmentCanGiveTheListCommaSeparated() async throws {
        let config = try await load(
            "  timeout: 5\n", environment: ["SPLITKEY_KEY_SERVICE_URLS": "https://a.example:1, https://b.example:2"])
        #expect(config.keyServiceURLs == ["https://a.example:1", "https://b.example:2"])
    }

    @Test func bothKeysAtOnceAreRefused() async {
        let inFile = await refusal("  url: https://a.example:1\n  urls:\n    - https://b.example:2\n")
        #expect(inFile?.contains("keyService.url and keyService.urls are both set") == true, "\(inFile ?? "accepted")")
        let mixed = await refusal("  url: https://a.example:1\n", environment: ["SPLITKEY_KEY_SERVICE_URLS": "https://b.example:2"])
        #expect(mixed?.contains("both set") == true, "\(mixed ?? "accepted")")
    }

    @Test func badListsAreRefusedNamingTheKey() async {
        for (yaml, why) in [
            ("  urls: []\n", "at least one"),
            ("  urls:\n    - https://a.example:1\n    - http://b.example:2\n", "'http://b.example:2' is not an https:// URL"),
            ("  urls:\n    - https://a.example:1\n    - https://a.example:1/\n", "listed twice"),
            ("  urls: https://a.example:1\n", "must be a list"),
        ] {
            let message = await refusal(yaml)
            #expect(message?.contains("keyService.urls") == true && message?.contains(why) == true, "\(yaml): \(message ?? "accepted")")
        }
        let single = await refusal("  url: ftp://a.example\n")
        #expect(single?.contains("'keyService.url'") == true && single?.contains("not an https:// URL") == true, "\(single ?? "accepted")")
        let none = await refusal("  timeout: 5\n")
        #expect(none?.contains("keyService.url") == true, "\(none ?? "accepted")")
    }
}
