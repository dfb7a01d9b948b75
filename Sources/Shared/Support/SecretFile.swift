import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads files that hold secrets (root key, private keys), refusing ones that other users may read.
///
/// A key file readable by its group or by everyone has already leaked to whoever else is on the
/// host, so starting with it would hide the problem instead of reporting it.
public enum SecretFile {
    public static let maximumSize = 1 << 20

    public static func read(_ path: String) throws(SecretFileError) -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw errno == ENOENT ? .missing(path) : .unreadable(path, String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(path) }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else { throw .tooOpen(path, mode: mode) }
        guard st.st_size <= maximumSize else { throw .unreadable(path, "file is larger than \(maximumSize) bytes") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path, "permission denied")
        }
        return Array(data)
    }

    /// Writes `bytes` to a new file created with mode 0600 (never widened by the umask).
    public static func write(_ bytes: [UInt8], to path: String, overwrite: Bool = false) throws(SecretFileError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL)
        let fd = open(path, flags, 0o600)
        guard fd >= 0 else {
            throw errno == EEXIST ? .exists(path) : .unreadable(path, String(cString: strerror(errno)))
        }
        defer { close(fd) }
        _ = fchmod(fd, 0o600)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw .unreadable(path, String(cString: strerror(errno))) }
            written += n
        }
        guard fsync(fd) == 0 else { throw .unreadable(path, "fsync failed: \(String(cString: strerror(errno)))") }
    }
}

public enum SecretFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(String)
    case notARegularFile(String)
    case tooOpen(String, mode: mode_t)
    case unreadable(String, String)
    case exists(String)

    public var description: String {
        switch self {
        case .missing(let p): "\(p) does not exist"
        case .notARegularFile(let p): "\(p) is not a regular file"
        case .tooOpen(let p, let mode):
            "\(p) has mode \(String(mode, radix: 8)); secret files must not be readable by group or others (chmod 600 \(p))"
        case .unreadable(let p, let why): "cannot read \(p): \(why)"
        case .exists(let p): "\(p) already exists; refusing to overwrite a secret"
        }
    }
}
