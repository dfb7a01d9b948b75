import Logging
import ServiceLifecycle
import UnixSignals

/// Runs `reload` on every SIGHUP until graceful shutdown.
///
/// A failed reload keeps the previous state in force and logs why: an operator's typo must never
/// take the listener down.
public struct ReloadService: Service {
    let logger: Logger
    let reload: @Sendable () async throws -> Void

    public init(logger: Logger, reload: @escaping @Sendable () async throws -> Void) {
        self.logger = logger
        self.reload = reload
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reloading configuration, certificates and policy")
            do {
                try await reload()
                logger.notice("reload complete; new connections use the new certificates and policy")
            } catch {
                logger.error("reload failed; the previous configuration stays in force", metadata: ["error": "\(error)"])
            }
        }
    }
}
