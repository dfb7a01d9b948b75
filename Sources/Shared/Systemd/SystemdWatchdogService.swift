import CSystemd
import Logging
import ServiceLifecycle

/// Sends `WATCHDOG=1` every half `WatchdogSec=` while the daemon runs.
///
/// With `WatchdogSec=` set, systemd kills and restarts a daemon that stops sending keep-alives,
/// which catches a hung process that is still alive. `sd_watchdog_enabled` reads `$WATCHDOG_USEC`
/// (and checks `$WATCHDOG_PID`); half the interval is the margin `sd_watchdog_enabled(3)` advises.
///
/// Put it first in the `ServiceGroup`: services shut down in reverse order, so it keeps the
/// keep-alives going while the listener drains and ends last. Without a watchdog it simply waits
/// for graceful shutdown (returning early would end the whole group).
public struct SystemdWatchdogService: Service {
    let notifier: SystemdNotifier
    let logger: Logger

    public init(notifier: SystemdNotifier, logger: Logger) {
        self.notifier = notifier
        self.logger = logger
    }

    /// The keep-alive interval systemd asks for, or nil when the watchdog is off.
    public static func interval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    public func run() async throws {
        guard let interval = Self.interval() else {
            try? await gracefulShutdown()
            return
        }
        let period = interval / 2
        logger.info("systemd watchdog enabled", metadata: ["interval": "\(interval)", "keepAlive": "\(period)"])
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                notifier.watchdog()
                try await Task.sleep(for: period)
            }
        }
    }
}
