import Foundation
import Shared

/// The user lifecycle as a pure state machine (NIST SP 800-57 states): which admin action is
/// allowed in which state, and what the user looks like after it. No store, no clock, no I/O:
/// the caller reads the user, asks here, records the decision, and only then writes.
///
/// active <-> suspended (disable / enable); active or suspended -> deactivated (schedule
/// destruction, within the configured delay bounds) -> active (cancel) or destroyed (destroy,
/// once the waiting period is over). Destroyed is final. Rotation adds a KEK version to an
/// active or suspended user; the minimum version moves only forward, up to the newest.
enum UserLifecycle {
    enum Change: Sendable, Equatable {
        case rotate
        case disable
        case enable
        case minVersion(UInt32)
        case scheduleDestruction(delaySeconds: Int?)
        case cancelDestruction
        case destroy
        case clearLockout
    }

    /// The user after `change`, or the refusal.
    static func apply(_ change: Change, to user: UserRecord, now: Date, settings: LifecycleSettings) throws(Refusal) -> UserRecord {
        var next = user
        switch change {
        case .rotate:
            try require(user, in: [.active, .suspended], "only an active or suspended user can be rotated")
            next.currentKEKVersion = user.currentKEKVersion + 1
        case .disable:
            try require(user, in: [.active], "only an active user can be disabled")
            next.state = .suspended
        case .enable:
            try require(user, in: [.suspended], "only a suspended user can be enabled")
            next.state = .active
        case .minVersion(let version):
            guard version >= user.minKEKVersion, version <= user.currentKEKVersion else {
                throw Refusal(
                    .conflict, .invalidState,
                    "the minimum KEK version must be between the current minimum \(user.minKEKVersion) and the newest version \(user.currentKEKVersion)"
                )
            }
            next.minKEKVersion = version
        case .scheduleDestruction(let requested):
            let delay = requested ?? settings.destroyDelay
            guard (settings.minDestroyDelay...settings.maxDestroyDelay).contains(delay) else {
                throw Refusal(
                    .badRequest, .invalidDelay,
                    "delaySeconds must be between \(settings.minDestroyDelay) and \(settings.maxDestroyDelay) (the configured bounds)")
            }
            try require(user, in: [.active, .suspended], "only an active or suspended user can be scheduled for destruction")
            next.state = .deactivated
            next.destroyAfter = now.addingTimeInterval(TimeInterval(delay))
        case .cancelDestruction:
            try require(user, in: [.deactivated], "no destruction of this user is scheduled")
            next.state = .active
            next.destroyAfter = nil
        case .destroy:
            // Destroying a destroyed user again changes nothing; it only finishes the erasure
            // (the WAL checkpoint) if the first attempt could not.
            if user.state == .destroyed { return user }
            guard user.state == .deactivated, let after = user.destroyAfter else {
                throw Refusal(.conflict, .invalidState, "the user is \(user.state.rawValue); schedule its destruction first")
            }
            guard now >= after else {
                throw Refusal(.conflict, .invalidState, "the user may be destroyed from \(Timestamps.string(after)); cancel or wait")
            }
            next.state = .destroyed
            next.destroyAfter = nil
        case .clearLockout:
            try require(user, in: [.active, .suspended, .deactivated], "a destroyed user has no lockout to clear")
            next.unwrapLocked = false
        }
        return next
    }

    private static func require(_ user: UserRecord, in states: Set<UserRecord.State>, _ message: String) throws(Refusal) {
        guard states.contains(user.state) else {
            throw Refusal(.conflict, .invalidState, "\(message); the user is \(user.state.rawValue)")
        }
    }
}
