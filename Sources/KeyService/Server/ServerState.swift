import NIOConcurrencyHelpers
import Shared

/// The parts of the configuration that SIGHUP may change, swapped as one immutable value.
struct ServerState: Sendable {
    var policy: AccessPolicy
}

/// Holds the current ``ServerState``; requests read it once, reloads replace it whole.
final class ServerStateStore: Sendable {
    private let box: NIOLockedValueBox<ServerState>

    init(_ state: ServerState) {
        box = NIOLockedValueBox(state)
    }

    var current: ServerState { box.withLockedValue { $0 } }

    func replace(with state: ServerState) {
        box.withLockedValue { $0 = state }
    }
}
