import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP port on 127.0.0.1 that nothing listens on right now.
///
/// The port comes from below the kernel's ephemeral range (`ip_local_port_range`, 32768-60999 by
/// default), never from `bind(0)`: a port the kernel handed out once and got back is the next one
/// it may hand to any `bind(0)` — such as a daemon's XKS listener on port 0 starting a moment
/// before that daemon's main listener binds the port the test chose. No port is handed out twice
/// in one test process, so parallel tests cannot be given the same one either.
public func freeLoopbackPort() throws -> Int {
    for _ in 0..<200 {
        let candidate = Int.random(in: 20_000..<32_000)
        guard handedOutPorts.withLock({ $0.insert(candidate).inserted }) else { continue }
        if try isBindable(candidate) { return candidate }
    }
    throw TestFailure("no free loopback port found in 20000-31999 after 200 tries")
}

private let handedOutPorts = Mutex<Set<Int>>([])

private func isBindable(_ port: Int) throws -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return bound == 0
}
