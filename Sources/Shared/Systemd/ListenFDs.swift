import CSystemd
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Listening sockets passed by systemd socket activation (`sd_listen_fds_with_names(3)`).
///
/// systemd (or `systemd-socket-activate`) opens the sockets, starts the daemon with them as file
/// descriptors 3, 4, ... and sets `$LISTEN_PID`, `$LISTEN_FDS` and `$LISTEN_FDNAMES`
/// (`FileDescriptorName=` of the .socket unit). libsystemd ignores them unless `$LISTEN_PID` is
/// this process, marks them close-on-exec, and (as called here) removes the variables so no
/// child process mistakes them for its own.
///
/// ``HTTPService`` serves on the socket named `https` (or the only one) when there is one.
public enum ListenFDs {
    /// One passed socket: its descriptor and its name (`unknown` when the unit gives none).
    public struct Socket: Sendable, Equatable {
        public let fd: Int32
        public let name: String
    }

    /// The sockets passed to this process, or none when it was not socket-activated.
    public static func take() throws(SystemdError) -> [Socket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count >= 0 else { throw .listenFDsInvalid(errno: -count) }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        return (0..<count).map { index in
            let name = names?[Int(index)].map { String(cString: $0) } ?? "unknown"
            return Socket(fd: SD_LISTEN_FDS_START + index, name: name)
        }
    }

}
