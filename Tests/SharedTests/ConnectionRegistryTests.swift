import NIOCore
import NIOEmbedded
import Testing

@testable import Shared

/// The registry counts connections up to its cap, answers for the connection it was filled for,
/// forgets it when it closes, and re-checks an identity against revocations applied after the
/// connection's handshake was verified.
struct ConnectionRegistryTests {
    let alice = PeerIdentity(spiffeID: nil, spkiSHA256: "aa", serialNumber: "01", issuerDER: "30")

    @Test func entriesBelongToOneConnectionAndGoWithIt() async throws {
        let registry = ConnectionRegistry()
        let a = EmbeddedChannel()
        let b = EmbeddedChannel()
        registry.register(a, identity: alice, checked: registry.generation)
        #expect(registry.lookup(a) == .identity(alice))
        #expect(registry.lookup(b) == .unknown)
        #expect(registry.count == 1)
        try await a.close()
        a.embeddedEventLoop.run()
        #expect(registry.lookup(a) == .unknown)
        #expect(registry.count == 0)
        _ = try b.finish()
    }

    @Test func theCapRefusesConnectionsUntilOneCloses() async throws {
        let registry = ConnectionRegistry(maxConnections: 2)
        let channels = (0..<3).map { _ in EmbeddedChannel() }
        #expect(registry.accept(channels[0]))
        #expect(registry.accept(channels[1]))
        #expect(!registry.accept(channels[2]))
        try await channels[0].close()
        channels[0].embeddedEventLoop.run()
        #expect(registry.accept(channels[2]))
    }

    /// A handshake verified under the CRLs of generation g, registered after a reload to g+1
    /// that revokes it: its first request is refused and the connection closed.
    @Test func aHandshakeThatStraddledAReloadIsRecheckedOnItsFirstRequest() async throws {
        let registry = ConnectionRegistry()
        let before = registry.generation
        var revoked = RevocationList()
        revoked.revokeForTesting(serial: "01", issuerDER: "30")
        registry.apply(revoked)
        let channel = EmbeddedChannel()
        registry.register(channel, identity: alice, checked: before)
        #expect(registry.lookup(channel) == .revoked)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        // Checked under the current generation, a connection is not re-checked per request.
        let fresh = EmbeddedChannel()
        let bob = PeerIdentity(spiffeID: nil, spkiSHA256: "bb", serialNumber: "02", issuerDER: "30")
        registry.register(fresh, identity: bob, checked: registry.generation)
        #expect(registry.lookup(fresh) == .identity(bob))
        _ = try fresh.finish()
    }
}
