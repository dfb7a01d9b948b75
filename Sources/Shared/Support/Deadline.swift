import NIOConcurrencyHelpers

/// Runs work that must end by a deadline even when the work itself does not notice
/// cancellation (a query on a connection to a frozen database, a lease from a pool whose
/// server is gone): the caller gets its answer or a timeout by `limit`, and the work is
/// cancelled and left to finish in the background.
public enum Deadline {
    public struct Expired: Error, Sendable, CustomStringConvertible {
        public let limit: Duration
        public var description: String { "no answer within \(limit)" }
    }

    public static func run<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let gate = Gate<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            gate.arm(continuation)
            let work = Task {
                do {
                    gate.finish(.success(try await body()))
                } catch {
                    gate.finish(.failure(error))
                }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                if gate.finish(.failure(Expired(limit: limit))) { work.cancel() }
            }
            gate.onFinish { timer.cancel() }
        }
    }

    /// Resumes the continuation exactly once, whichever side finishes first.
    private final class Gate<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var done = false
            var cleanup: (@Sendable () -> Void)?
        }
        private let state = NIOLockedValueBox(State())

        func arm(_ continuation: CheckedContinuation<T, any Error>) {
            state.withLockedValue { $0.continuation = continuation }
        }

        @discardableResult
        func finish(_ result: Result<T, any Error>) -> Bool {
            let (continuation, cleanup) = state.withLockedValue { s -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
                guard !s.done else { return (nil, nil) }
                s.done = true
                defer { s.continuation = nil }
                return (s.continuation, s.cleanup)
            }
            guard let continuation else { return false }
            continuation.resume(with: result)
            cleanup?()
            return true
        }

        /// Runs `cleanup` once finished (at once if already finished).
        func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
            let already = state.withLockedValue { s -> Bool in
                if s.done { return true }
                s.cleanup = cleanup
                return false
            }
            if already { cleanup() }
        }
    }
}
