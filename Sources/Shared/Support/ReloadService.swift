import Logging
import ServiceLifecycle
import UnixSignals

/// Runs `reload` on every SIGHUP until graceful shutdown.
///
/// A failed reload keeps the previous state in force and logs why: an operator's typo must never
/// take the listener down. Under systemd each reload is bracketed by `RELOADING=1` and
/// `READY=1` with a `STATUS=` saying how it went, so `systemctl reload` waits for it to finish.
public struct ReloadService: Service {
    let logger: Logger
    let notifier: SystemdNotifier
    let reload: @Sendable () async throws -> Void

    public init(logger: Logger, notifier: SystemdNotifier? = nil, reload: @escaping @Sendable () async throws -> Void) {
        self.logger = logger
        self.notifier = notifier ?? SystemdNotifier(logger: logger)
        self.reload = reload
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reloading configuration, certificates and policy")
            notifier.reloading(status: "reloading configuration, certificates and policy")
            do {
                try await reload()
                logger.notice("reload complete; new connections use the new certificates and policy")
                notifier.ready(status: "reloaded configuration, certificates and policy")
            } catch {
                logger.error("reload failed; the previous configuration stays in force", metadata: ["error": "\(error)"])
                notifier.ready(status: "reload failed, previous configuration in force: \(error)")
            }
        }
    }
}
