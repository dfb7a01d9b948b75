import CSystemd
import Foundation
import Logging

/// Tells the service manager about the daemon's state over `$NOTIFY_SOCKET` (`sd_notify(3)`).
///
/// Both daemons are `Type=notify` units: systemd considers them started only after `READY=1`,
/// shows `STATUS=` in `systemctl status`, tracks `RELOADING=1` ... `READY=1` around a SIGHUP
/// reload and `STOPPING=1` during the drain. Outside systemd `$NOTIFY_SOCKET` is unset and every
/// call is a no-op, so the same binary runs by hand, in tests and under a unit.
///
/// Swift cannot call the variadic `sd_notifyf`, so each message is formatted here and passed to
/// `sd_notify` as one newline-separated string.
public struct SystemdNotifier: Sendable {
    private let logger: Logger?

    /// - Parameter logger: where a failed send is reported (a notification that does not arrive
    ///   makes systemd time the unit out, so the cause must be visible in the log).
    public init(logger: Logger? = nil) {
        self.logger = logger
    }

    /// The notification socket systemd gave this process, if any.
    public var socketPath: String? {
        ProcessInfo.processInfo.environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether notifications go anywhere: `$NOTIFY_SOCKET` is set.
    public var isEnabled: Bool { socketPath != nil }

    /// Start-up is complete: the listener accepts connections.
    public func ready(status: String) {
        send(["READY=1", "STATUS=\(Self.oneLine(status))"])
    }

    /// A free-form line for `systemctl status`.
    public func status(_ text: String) {
        send(["STATUS=\(Self.oneLine(text))"])
    }

    /// A reload starts; follow it with ``ready(status:)`` when it has finished (or failed).
    ///
    /// `MONOTONIC_USEC` is what systemd 253+ requires with `RELOADING=1` for `Type=notify-reload`;
    /// systemd 252 (Debian 12) ignores it.
    public func reloading(status: String = "reloading configuration") {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        send(["RELOADING=1", "MONOTONIC_USEC=\(usec)", "STATUS=\(Self.oneLine(status))"])
    }

    /// Graceful shutdown has started (in-flight requests are draining).
    public func stopping(status: String = "stopping: draining connections") {
        send(["STOPPING=1", "STATUS=\(Self.oneLine(status))"])
    }

    /// Keep-alive for `WatchdogSec=`; see ``SystemdWatchdogService``.
    public func watchdog() {
        send(["WATCHDOG=1"])
    }

    /// Sends `lines` as one datagram; returns the error instead of logging when no logger is set.
    @discardableResult
    public func send(_ lines: [String]) -> SystemdError? {
        guard let socket = socketPath else { return nil }
        let result = sd_notify(0, lines.joined(separator: "\n"))
        guard result < 0 else { return nil }
        let error = SystemdError.notifyFailed(socket: socket, errno: -result)
        logger?.warning("systemd notification failed", metadata: ["error": "\(error)"])
        return error
    }

    /// A `STATUS=` value must not contain a newline: it would start a new assignment.
    static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ")
    }
}
