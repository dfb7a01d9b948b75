import GRDB
import NIOConcurrencyHelpers

/// Group commit for the node's metadata writes.
///
/// With `synchronous=FULL` every SQLite commit costs an fsync, and SQLite runs one writer at a
/// time, so one commit per PUT capped concurrent PUTs at the fsync rate. Writes that arrive
/// while a commit is under way are queued and run together in the next transaction, each in its
/// own savepoint (one failing write is rolled back alone and gets its own error), and all of them
/// share one commit. Each caller resumes only after the commit that covers its write: nothing is
/// acknowledged before it is durable. If the commit fails, every write of that batch fails.
final class MetadataWriteBatcher: Sendable {
    typealias Operation = @Sendable (Database) throws -> any Sendable

    private struct Pending {
        let operation: Operation
        let continuation: CheckedContinuation<any Sendable, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var flushing = false
    }

    private let pool: DatabasePool
    private let state = NIOLockedValueBox(State())

    init(pool: DatabasePool) {
        self.pool = pool
    }

    func write<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let value = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
            let startFlusher = state.withLockedValue { state -> Bool in
                state.pending.append(Pending(operation: { try operation($0) }, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if startFlusher {
                Task { await self.flushUntilEmpty() }
            }
        }
        guard let typed = value as? T else {
            preconditionFailure("a batched write returned \(type(of: value)) instead of \(T.self)")
        }
        return typed
    }

    private func flushUntilEmpty() async {
        while true {
            let batch = state.withLockedValue { state -> [Pending] in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            if batch.isEmpty { return }
            let operations = batch.map(\.operation)
            do {
                let results = try await pool.writeWithoutTransaction { db -> [Result<any Sendable, any Error>] in
                    var results: [Result<any Sendable, any Error>] = []
                    results.reserveCapacity(operations.count)
                    try db.inTransaction {
                        for operation in operations {
                            do {
                                var value: (any Sendable)?
                                try db.inSavepoint {
                                    value = try operation(db)
                                    return .commit
                                }
                                results.append(value.map { .success($0) } ?? .failure(DatabaseError(message: "write produced no value")))
                            } catch {
                                results.append(.failure(error))
                            }
                        }
                        return .commit
                    }
                    return results
                }
                for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
            } catch {
                for pending in batch { pending.continuation.resume(throwing: error) }
            }
        }
    }
}
