import NIOConcurrencyHelpers
import NIOCore

/// The open TLS connections of a listener and the identity each authenticated as.
///
/// A new TLS context or policy affects only new handshakes and requests; revoking an identity
/// must also cut what it already has open, so the registry can close every connection of the
/// identities a predicate selects.
public final class ConnectionRegistry: Sendable {
    private struct Entry {
        var channel: any Channel
        var identity: PeerIdentity
    }

    private let entries = NIOLockedValueBox<[ObjectIdentifier: Entry]>([:])

    public init() {}

    func register(_ channel: any Channel, identity: PeerIdentity) {
        let id = ObjectIdentifier(channel)
        let isNew = entries.withLockedValue { entries in
            guard entries[id] == nil else { return false }
            entries[id] = Entry(channel: channel, identity: identity)
            return true
        }
        if isNew {
            channel.closeFuture.whenComplete { [weak self] _ in
                _ = self?.entries.withLockedValue { $0.removeValue(forKey: id) }
            }
        }
    }

    /// Closes every open connection whose identity `matches` selects; returns how many.
    @discardableResult
    public func close(where matches: (PeerIdentity) -> Bool) -> Int {
        let victims = entries.withLockedValue { entries in entries.values.filter { matches($0.identity) }.map(\.channel) }
        for channel in victims { channel.close(promise: nil) }
        return victims.count
    }

    public var count: Int { entries.withLockedValue { $0.count } }
}
