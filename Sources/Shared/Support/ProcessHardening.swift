import CProcess

#if canImport(Glibc)
    import Glibc
#endif

/// Process-wide protections both daemons apply before they load any key material.
public enum ProcessHardening {
    /// - No core dumps and no ptrace attach by other processes of the same user
    ///   (`PR_SET_DUMPABLE` 0; also `RLIMIT_CORE` 0, as `LimitCORE=0` in the units), so a crash
    ///   or a debugger cannot copy root keys, KEKs or data keys out of memory.
    /// - `SIGXFSZ` ignored: a write past a file-size limit then fails with `EFBIG` and takes the
    ///   audit trail's fail-closed path instead of killing the daemon.
    ///
    /// Returns what could not be applied, for the log.
    @discardableResult
    public static func apply() -> [String] {
        var failures: [String] = []
        if splitkey_set_dumpable(0) != 0 { failures.append("prctl(PR_SET_DUMPABLE, 0): \(String(cString: strerror(errno)))") }
        // Under the units (LimitCORE=0) the limit is 0 already, and their seccomp filter refuses
        // setrlimit: only lower it when it is not.
        let core = __rlimit_resource_t(RLIMIT_CORE.rawValue)
        var current = rlimit()
        if getrlimit(core, &current) != 0 || current.rlim_cur != 0 || current.rlim_max != 0 {
            var none = rlimit(rlim_cur: 0, rlim_max: 0)
            if setrlimit(core, &none) != 0 { failures.append("setrlimit(RLIMIT_CORE, 0): \(String(cString: strerror(errno)))") }
        }
        signal(SIGXFSZ, SIG_IGN)
        return failures
    }

    /// Whether the process may be dumped or traced (`/proc/self` and tests read this).
    public static var isDumpable: Bool { splitkey_get_dumpable() != 0 }
}
