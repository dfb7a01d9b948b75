#if canImport(Glibc)
    import Glibc
#endif

/// Failures talking to the service manager or the journal, each naming what an operator can check.
///
/// libsystemd reports errors as negative errno values; the messages turn them into text and say
/// which environment variable or socket was involved.
public enum SystemdError: Error, CustomStringConvertible, Equatable {
    /// `sd_notify` could not send to `$NOTIFY_SOCKET`.
    case notifyFailed(socket: String, errno: Int32)
    /// `sd_listen_fds_with_names` rejected `$LISTEN_FDS` / `$LISTEN_FDNAMES`.
    case listenFDsInvalid(errno: Int32)
    /// `sd_journal_sendv` could not reach journald.
    case journalUnreachable(errno: Int32)

    public var description: String {
        switch self {
        case .notifyFailed(let socket, let errno):
            return "cannot notify systemd on NOTIFY_SOCKET=\(socket): \(Self.text(errno)); "
                + "check that the unit is Type=notify and the socket is writable by the service user"
        case .listenFDsInvalid(let errno):
            return "the sockets passed by systemd (LISTEN_FDS, LISTEN_FDNAMES) cannot be used: \(Self.text(errno)); "
                + "check the .socket unit"
        case .journalUnreachable(let errno):
            return "journald is unreachable at /run/systemd/journal/socket: \(Self.text(errno)); "
                + "logging to stderr instead (set SPLITKEY_LOG=stderr to choose stderr explicitly)"
        }
    }

    static func text(_ errno: Int32) -> String {
        guard let message = strerror(errno) else { return "errno \(errno)" }
        return "\(String(cString: message)) (errno \(errno))"
    }
}
