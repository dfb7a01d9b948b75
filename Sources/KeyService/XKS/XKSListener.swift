import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Shared

/// What SIGHUP can change on the XKS listener without closing it: credentials (rotation),
/// policy and the server certificate.
final class XKSLiveState: Sendable {
    private let box: NIOLockedValueBox<(credentials: XKSCredentials, policy: XKSPolicy)>
    let tls: PublicTLSStore

    init(settings: XKSSettings) throws {
        box = NIOLockedValueBox((try XKSCredentials.load(path: settings.credentialsFile), settings.policy))
        tls = PublicTLSStore(try PublicTLS(settings: Self.tlsSettings(settings)))
    }

    var credentials: XKSCredentials { box.withLockedValue { $0.credentials } }
    var policy: XKSPolicy { box.withLockedValue { $0.policy } }

    /// Builds everything first; returns the step that swaps it in (all or nothing).
    func prepareReload(_ settings: XKSSettings) throws -> @Sendable () -> Void {
        let credentials = try XKSCredentials.load(path: settings.credentialsFile)
        let tls = try PublicTLS(settings: Self.tlsSettings(settings))
        let (box, store, policy) = (self.box, self.tls, settings.policy)
        return {
            box.withLockedValue { $0 = (credentials, policy) }
            store.replace(with: tls)
        }
    }

    static func tlsSettings(_ settings: XKSSettings) -> PublicTLSSettings {
        PublicTLSSettings(
            certificate: settings.certificate, privateKey: settings.privateKey,
            minimumVersion: settings.minimumTLSVersion == "1.3" ? .tlsv13 : .tlsv12,
            clientCA: settings.clientCA, allowedClientSubjects: settings.clientSubjects)
    }
}

/// The XKS proxy listener as one service: TLS 1.2/1.3, HTTP/1.1, the ``XKSResponder``.
enum XKSListener {
    static func make(
        settings: XKSSettings, live: XKSLiveState, operations: XKSOperations, idleTimeout: Duration, handshakeTimeout: Duration,
        maxConnections: Int, logger: Logger
    ) -> any Service {
        let responder = XKSResponder(
            operations: operations, credentials: { live.credentials }, maxSkew: TimeInterval(settings.maxSkewSeconds), logger: logger)
        let registry = ConnectionRegistry(maxConnections: maxConnections)
        let uriPaths = live.credentials.uriPaths
        return Application(
            responder: responder,
            server: PublicTLSHTTPChannel.builder(
                store: live.tls, registry: registry, idleTimeout: idleTimeout, handshakeTimeout: handshakeTimeout, logger: logger),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in
                logger.notice(
                    "xks listening",
                    metadata: [
                        "address": "\(channel.localAddress?.description ?? "?")", "uriPaths": "\(uriPaths.joined(separator: ","))",
                        "mutualTLS": "\(settings.clientCA != nil)",
                    ])
            },
            logger: logger
        )
    }
}
