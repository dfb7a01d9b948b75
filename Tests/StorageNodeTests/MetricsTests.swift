import Foundation
import NIOHTTP1
import Shared
import SplitKeyTestSupport
import Testing

/// Prometheus metrics on their own plain-HTTP listeners, scraped with curl.
@Suite(.serialized)
struct MetricsTests {
    func scrape(_ port: Int, in dir: URL) async throws -> String {
        let result = try await ChildProcess.run(
            try tool("curl"), ["--silent", "--show-error", "http://127.0.0.1:\(port)/metrics"], in: dir)
        guard result.status == 0 else { throw TestFailure("scrape failed: \(result.output)") }
        return result.output
    }

    @Test func bothDaemonsExportRequestKeyAndCacheMetrics() async throws {
        let ksMetrics = try freeLoopbackPort()
        let nodeMetrics = try freeLoopbackPort()
        try await withStorageNode(
            keyServiceEnvironment: ["SPLITKEY_METRICS_PORT": String(ksMetrics)],
            nodeEnvironment: ["SPLITKEY_METRICS_PORT": String(nodeMetrics)]
        ) { env in
            let alice = try env.ks.client("user-alice")
            #expect(try await alice.send(.PUT, env.objectURL("m"), body: [1, 2, 3]).status == .created)
            #expect(try await alice.send(.GET, env.objectURL("m")).status == .ok)
            #expect(try await alice.send(.GET, env.objectURL("missing")).status == .notFound)
            let carol = try await env.ks.client("user-carol").send(.PUT, env.objectURL("x"), body: [1])
            #expect(carol.status == .forbidden)

            let ks = try await scrape(ksMetrics, in: env.ks.dir)
            #expect(ks.contains(#"splitkey_key_operations_total{op="generate",outcome="granted"} 1"#), "\(ks)")
            #expect(ks.contains(#"splitkey_key_operations_total{op="generate",outcome="refused"} 1"#), "\(ks)")
            #expect(ks.contains("http_server_request_duration"), "\(ks)")
            let node = try await scrape(nodeMetrics, in: env.ks.dir)
            #expect(node.contains("splitkey_dek_cache_hits_total 1"), "\(node)")
            #expect(node.contains("splitkey_keyservice_call_duration"), "\(node)")
            #expect(node.contains(#"http_response_status_code="404""#), "\(node)")
            #expect(node.contains(#"splitkey_keyservice_call_errors_total{kind="refused""#) || node.contains(#"kind="refused""#), "\(node)")
            // No user id or object key in any label.
            #expect(!node.contains("alice") && !node.contains("carol") && !ks.contains("alice"))
        }
    }
}
