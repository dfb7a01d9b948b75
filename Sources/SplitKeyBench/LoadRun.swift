import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One run: `connections` closed-loop workers sharing a request counter and a deadline.
struct LoadRun: Sendable {
    let plan: LoadPlan
    /// nil when no target is `https://`.
    let sslContext: NIOSSLContext?
    let group: MultiThreadedEventLoopGroup

    func run(connections: Int) async throws -> LoadResult {
        let start = NIODeadline.now()
        let clock = RunClock(
            measureFrom: start + plan.warmup,
            stopAt: start + plan.warmup + plan.measured,
            maxRequests: plan.maxRequests
        )
        let samples = try await withThrowingTaskGroup(of: ConnectionSamples.self) { tasks in
            for index in 0..<connections {
                tasks.addTask { try await runConnection(plan.target(connection: index), clock: clock) }
            }
            var all: [ConnectionSamples] = []
            for try await samples in tasks { all.append(samples) }
            return all
        }
        return LoadResult(merging: samples, measuredSeconds: clock.measuredSeconds())
    }

    private func runConnection(_ target: TargetURL, clock: RunClock) async throws -> ConnectionSamples {
        let serverName = plan.serverName ?? target.host
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if target.tls, let sslContext {
                        let name = serverName.isIPAddress ? nil : serverName
                        let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: name)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        var samples = ConnectionSamples()
        let body = ByteBuffer(bytes: plan.body)
        // Over TLS the name the certificate is checked against, as before; a plain-HTTP target
        // (an S3 store) gets HOST:PORT, which the signed mode signs.
        let hostHeader = target.tls ? serverName : "\(serverName):\(target.port)"
        try await channel.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            while let sequence = clock.nextRequest() {
                let path = target.path(sequence: sequence)
                var head = HTTPRequestHead(
                    version: .http1_1,
                    method: HTTPMethod(rawValue: plan.method),
                    uri: path
                )
                head.headers.add(name: "host", value: hostHeader)
                head.headers.add(name: "content-length", value: String(body.readableBytes))
                for (name, value) in plan.headers { head.headers.add(name: name, value: value) }
                if let signer = plan.signer {
                    for (name, value) in try signer.headers(method: plan.method, path: path, host: hostHeader) {
                        head.headers.add(name: name, value: value)
                    }
                }

                let sent = NIODeadline.now()
                var parts: [HTTPClientRequestPart] = [.head(head)]
                if body.readableBytes > 0 { parts.append(.body(.byteBuffer(body))) }
                parts.append(.end(nil))
                try await outbound.write(contentsOf: parts)

                var status = 0
                var received = 0
                reading: while true {
                    guard let part = try await responses.next() else {
                        throw LoadError.connectionClosed(afterRequests: samples.total)
                    }
                    switch part {
                    case .head(let responseHead): status = Int(responseHead.status.code)
                    case .body(let chunk): received += chunk.readableBytes
                    case .end: break reading
                    }
                }
                let done = NIODeadline.now()
                if clock.isMeasured(startedAt: sent, finishedAt: done) {
                    samples.record(
                        latency: done - sent,
                        ok: status == plan.expectStatus,
                        status: status,
                        bytesIn: received,
                        bytesOut: body.readableBytes
                    )
                }
                samples.total += 1
            }
        }
        return samples
    }
}

/// The shared deadline and request budget of a run.
final class RunClock: Sendable {
    let measureFrom: NIODeadline
    let stopAt: NIODeadline
    private let maxRequests: Int
    private let state = NIOLockedValueBox((issued: 0, measured: 0, lastFinish: NIODeadline.uptimeNanoseconds(0)))

    init(measureFrom: NIODeadline, stopAt: NIODeadline, maxRequests: Int) {
        self.measureFrom = measureFrom
        self.stopAt = stopAt
        self.maxRequests = maxRequests
    }

    /// The sequence number of the next request, or nil when time or budget is spent.
    func nextRequest() -> Int? {
        let now = NIODeadline.now()
        return state.withLockedValue { state in
            guard now < stopAt else { return nil }
            if maxRequests > 0, now >= measureFrom, state.measured >= maxRequests { return nil }
            state.issued += 1
            if now >= measureFrom { state.measured += 1 }
            return state.issued
        }
    }

    func isMeasured(startedAt: NIODeadline, finishedAt: NIODeadline) -> Bool {
        guard startedAt >= measureFrom else { return false }
        state.withLockedValue { $0.lastFinish = max($0.lastFinish, finishedAt) }
        return true
    }

    /// From the end of the warm-up to the last measured response (not to the deadline, so a
    /// count-bounded run is not diluted by idle time).
    func measuredSeconds() -> Double {
        let last = state.withLockedValue { $0.lastFinish }
        return Double((last - measureFrom).nanoseconds) / 1e9
    }
}

enum LoadError: Error, CustomStringConvertible {
    case connectionClosed(afterRequests: Int)

    var description: String {
        switch self {
        case .connectionClosed(let count):
            "the server closed a keep-alive connection after \(count) requests"
        }
    }
}

extension String {
    fileprivate var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
