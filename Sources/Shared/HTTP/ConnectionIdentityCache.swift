import NIOConcurrencyHelpers
import NIOCore

/// The peer identity of each open TLS connection, read once per connection.
///
/// A certificate cannot change within a TLS connection, so its identity is parsed on the first
/// request and reused by every later request on the same connection (keep-alive, or each HTTP/2
/// stream). Parsing the leaf certificate on every request cost about a quarter of the CPU of a
/// small request. An entry is dropped when its connection closes; decisions that can change
/// while a connection is open (policy, revocation) are still made per request from the current
/// state, and revoking an identity closes its connections.
final class ConnectionIdentityCache: Sendable {
    private let entries = NIOLockedValueBox<[ObjectIdentifier: PeerIdentity]>([:])

    func identity(of channel: any Channel) -> PeerIdentity? {
        entries.withLockedValue { $0[ObjectIdentifier(channel)] }
    }

    func remember(_ identity: PeerIdentity, for channel: any Channel) {
        let key = ObjectIdentifier(channel)
        entries.withLockedValue { $0[key] = identity }
        // The channel stays alive until its close future completes, so the key cannot be reused
        // by another channel before its entry is removed.
        channel.closeFuture.whenComplete { [entries] _ in
            _ = entries.withLockedValue { $0.removeValue(forKey: key) }
        }
    }

    var count: Int { entries.withLockedValue { $0.count } }
}
