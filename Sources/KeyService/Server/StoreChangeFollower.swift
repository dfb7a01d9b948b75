import Logging
import ServiceLifecycle
import Shared

/// Keeps this replica's run-time revocations equal to the key store's: another replica's
/// `admin node revoke` arrives as a store announcement (PostgreSQL NOTIFY) and takes effect at
/// once, closing the revoked identity's open connections here too. A poll every
/// `pollInterval` (1 s: one small query) catches what the channel missed while it was still
/// being set up or reconnecting, so a revocation holds on every replica within a second either way.
struct StoreChangeFollower: Service {
    let store: any KeyStore
    let state: ServerStateStore
    let connections: ConnectionRegistry
    let logger: Logger
    var pollInterval: Duration = .seconds(1)

    func run() async throws {
        let (changes, sink) = AsyncStream.makeStream(of: KeyStoreChange.self, bufferingPolicy: .bufferingNewest(64))
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await listen(sink) }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: pollInterval)
                        sink.yield(.revocations)
                    }
                }
                group.addTask {
                    for await change in changes {
                        if change == .revocations { await sync() }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            sink.finish()
        }
    }

    private func listen(_ sink: AsyncStream<KeyStoreChange>.Continuation) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await store.followChanges { sink.yield($0) }
                if !Task.isCancelled && failures == 0 {
                    // The store has no other writers (SQLite): nothing to listen for.
                    try? await Task.sleep(for: .seconds(1_000_000_000))
                }
                return
            } catch {
                failures += 1
                if failures == 1 || failures % 60 == 0 {
                    logger.warning("key store announcements lost; polling until they are back", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
                // Whatever was announced while the channel was down.
                sink.yield(.revocations)
            }
        }
    }

    /// Applies the stored revocations; closes the connections of identities newly revoked.
    func sync() async {
        let stored: [IdentityMatcher]
        do {
            stored = try await store.revokedIdentities().compactMap(IdentityMatcher.init)
        } catch {
            logger.warning("cannot read the run-time revocations", metadata: ["error": "\(error)"])
            return
        }
        var added: [IdentityMatcher] = []
        state.update { current in
            added = stored.filter { !current.revoked.contains($0) }
            current.revoked = stored
        }
        for matcher in added {
            let closed = connections.close(where: matcher.matches)
            logger.notice("identity revoked by another replica", metadata: ["identity": "\(matcher)", "connectionsClosed": "\(closed)"])
        }
    }
}
