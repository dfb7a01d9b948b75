import NIOConcurrencyHelpers
import Shared

/// The parts of the configuration that SIGHUP or an admin may change, swapped as one immutable
/// value: the policy from the config file and the identities revoked at run time.
struct ServerState: Sendable {
    var policy: AccessPolicy
    var revoked: [IdentityMatcher] = []
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

    func update(_ change: (inout ServerState) -> Void) {
        box.withLockedValue { change(&$0) }
    }
}
