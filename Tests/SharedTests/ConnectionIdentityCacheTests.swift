import NIOCore
import NIOEmbedded
import Testing

@testable import Shared

/// The per-connection identity cache answers for the connection it was filled for, and forgets
/// it when the connection closes (an entry per closed connection would be a slow leak).
struct ConnectionIdentityCacheTests {
    @Test func entriesBelongToOneConnectionAndGoWithIt() async throws {
        let cache = ConnectionIdentityCache()
        let a = EmbeddedChannel()
        let b = EmbeddedChannel()
        let alice = PeerIdentity(spiffeID: nil, spkiSHA256: "aa", serialNumber: "01")
        cache.remember(alice, for: a)
        #expect(cache.identity(of: a) == alice)
        #expect(cache.identity(of: b) == nil)
        #expect(cache.count == 1)
        try await a.close()
        a.embeddedEventLoop.run()
        #expect(cache.identity(of: a) == nil)
        #expect(cache.count == 0)
        _ = try b.finish()
    }
}
