import NIOConcurrencyHelpers
import NIOCore

/// The open TLS connections of a listener: how many there are, the identity each
/// authenticated as, and which generation of the CRLs it was last checked against.
///
/// A connection is counted when it is accepted (over ``maxConnections`` it is closed before its
/// handshake) and registered with its identity as soon as its handshake completes, not on its
/// first request: a reload that revokes a certificate must also close connections that have
/// not sent anything yet. Requests read the identity from here (a certificate cannot change
/// within a connection, so it is parsed once), and each request re-checks it against the
/// revocations applied since its connection was last checked: a connection whose handshake
/// straddled a reload cannot slip through.
public final class ConnectionRegistry: Sendable {
    private struct Entry {
        var channel: any Channel
        var identity: PeerIdentity?
        /// The revocation generation the identity was checked against; nil: never.
        var checked: UInt64?
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var revocations = RevocationList()
        var generation: UInt64 = 0
    }

    /// What a request learns about its connection.
    public enum Lookup: Sendable, Equatable {
        /// Not registered yet (its handshake callback has not run).
        case unknown
        case identity(PeerIdentity)
        /// Revoked since its handshake; the connection is being closed.
        case revoked
    }

    private let state = NIOLockedValueBox(State())
    public let maxConnections: Int

    public init(maxConnections: Int = 4096) {
        self.maxConnections = maxConnections
    }

    /// The generation of the revocations in force; a handshake records it when it starts.
    public var generation: UInt64 { state.withLockedValue { $0.generation } }

    /// Counts a newly accepted connection; false when the listener is full (close it).
    public func accept(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLockedValue { state -> Bool in
            guard state.entries.count < maxConnections else { return false }
            state.entries[id] = Entry(channel: channel, identity: nil, checked: nil)
            return true
        }
        if accepted { removeOnClose(channel) }
        return accepted
    }

    /// Records the identity of a connection whose handshake verified it against the revocations
    /// of generation `checked` (nil: unknown, so the next request re-checks).
    public func register(_ channel: any Channel, identity: PeerIdentity, checked: UInt64?) {
        let id = ObjectIdentifier(channel)
        let isNew = state.withLockedValue { state -> Bool in
            let isNew = state.entries[id] == nil
            state.entries[id] = Entry(channel: channel, identity: identity, checked: checked)
            return isNew
        }
        if isNew { removeOnClose(channel) }
    }

    /// The identity of the connection `channel` is, re-checked against revocations applied since.
    public func lookup(_ channel: any Channel) -> Lookup {
        let id = ObjectIdentifier(channel)
        let (result, victim) = state.withLockedValue { state -> (Lookup, (any Channel)?) in
            guard var entry = state.entries[id], let identity = entry.identity else { return (.unknown, nil) }
            if entry.checked != state.generation {
                if state.revocations.isRevoked(identity) { return (.revoked, entry.channel) }
                entry.checked = state.generation
                state.entries[id] = entry
            }
            return (.identity(identity), nil)
        }
        victim?.close(promise: nil)
        return result
    }

    /// Puts new CRLs in force: later lookups re-check against them, and every open connection
    /// they revoke is closed now. Returns how many were closed.
    @discardableResult
    public func apply(_ revocations: RevocationList) -> Int {
        let victims = state.withLockedValue { state -> [any Channel] in
            state.revocations = revocations
            state.generation += 1
            return state.entries.values.compactMap { entry in
                guard let identity = entry.identity, revocations.isRevoked(identity) else { return nil }
                return entry.channel
            }
        }
        for channel in victims { channel.close(promise: nil) }
        return victims.count
    }

    /// Closes every open connection whose identity `matches` selects; returns how many.
    @discardableResult
    public func close(where matches: (PeerIdentity) -> Bool) -> Int {
        let victims = state.withLockedValue { state in
            state.entries.values.compactMap { entry in entry.identity.map(matches) == true ? entry.channel : nil }
        }
        for channel in victims { channel.close(promise: nil) }
        return victims.count
    }

    /// Open connections, authenticated or not yet.
    public var count: Int { state.withLockedValue { $0.entries.count } }

    private func removeOnClose(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        // The channel stays alive until its close future completes, so its identifier cannot be
        // reused by another channel before the entry is removed.
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLockedValue { $0.entries.removeValue(forKey: id) }
        }
    }
}
