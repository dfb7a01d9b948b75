import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// Prometheus metrics of a daemon, served on their own plain-HTTP listener.
///
/// The listener is separate from the mutual-TLS API so a scraper needs no client certificate and
/// never reaches the key API; bind it to loopback or a management network only. The metrics say
/// how much and how fast, never which user or key: no label carries a user id, object key or
/// key material.
public enum MetricsExport {
    public static let registry = PrometheusCollectorRegistry()

    /// Routes swift-metrics to the Prometheus registry; call once per process, before any metric is made.
    public static func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// `GET /metrics` in the Prometheus text format on `host:port`.
    public static func listener(host: String, port: Int, logger: Logger) -> any Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
        var named = logger
        named[metadataKey: "listener"] = "metrics"
        let metricsLogger = named
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                metricsLogger.notice("metrics listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
            },
            logger: metricsLogger
        )
    }
}
