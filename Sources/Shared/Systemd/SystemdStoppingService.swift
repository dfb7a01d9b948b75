import Logging
import ServiceLifecycle

/// Sends `STOPPING=1` as soon as graceful shutdown starts.
///
/// systemd then shows the unit as deactivating while the listener drains, instead of treating
/// the still-running process as healthy. Put it last in the `ServiceGroup`: the group tells
/// services about graceful shutdown in reverse order, so the last one hears first.
public struct SystemdStoppingService: Service {
    let notifier: SystemdNotifier

    public init(notifier: SystemdNotifier) {
        self.notifier = notifier
    }

    public func run() async throws {
        // Cancellation (the group ending because another service failed) also means stopping.
        try? await gracefulShutdown()
        notifier.stopping()
    }
}
