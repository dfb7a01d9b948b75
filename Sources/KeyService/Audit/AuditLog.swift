import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Shared

#if canImport(Glibc)
    import Glibc
#endif

/// The append-only, hash-chained audit trail, with group commit and size-based segments.
///
/// Every operation waits in ``append(_:)`` until its record is on disk: records of concurrent
/// operations are written together and share one fsync, and each caller resumes only after the
/// fsync that covers its record. If the write or the fsync fails, the file is cut back to the
/// end of the last good record before any caller of that batch hears of the failure, so the
/// trail never holds a record of an operation that was refused for want of its record, and no
/// sequence number is written twice. If even the cut fails, the trail is wedged: every append
/// fails until an operator restarts the daemon (whose start-up then checks the tail).
/// ``lastFailure`` turns health DEGRADED until a write succeeds again.
final class AuditLog: Sendable {
    private struct Pending {
        var event: KeyEvent
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var flushing = false
        var position: AuditPosition
        var fd: Int32
        var lastHeadSync: ContinuousClock.Instant
        var lastFailure: String?
        var wedged = false
    }

    let segments: AuditSegments
    let segmentBytes: UInt64
    private let key: SymmetricKeyBox
    private let head: AuditHeadFile
    private let state: NIOLockedValueBox<State>
    private let logger: Logger
    /// The replica whose trail this is, named in every record (nil: a trail from before replicas).
    let replica: String?

    var path: String { segments.current }

    /// Resumes the trail at `path` (created when neither it nor its head exists), refusing one
    /// whose tail does not match its authenticated head; see ``AuditResume``.
    init(path: String, key: SymmetricKeyBox, segmentBytes: UInt64 = 64 << 20, replica: String? = nil, logger: Logger)
        throws(AuditError)
    {
        self.segments = AuditSegments(current: path)
        self.replica = replica
        self.segmentBytes = segmentBytes
        self.key = key
        self.logger = logger
        let (position, headWasBehind) = try AuditResume.position(segments, key: key.key)
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .unwritable(path, String(cString: strerror(errno))) }
        self.head = try AuditHeadFile(path: segments.head)
        if headWasBehind || position == .empty {
            try head.write(position.head, key: key.key, sync: true)
        }
        if headWasBehind {
            logger.notice("audit head caught up with records written before a crash", metadata: ["seq": "\(position.seq)"])
        }
        self.state = NIOLockedValueBox(State(position: position, fd: fd, lastHeadSync: .now))
    }

    var lastFailure: String? { state.withLockedValue { $0.lastFailure } }
    var position: AuditPosition { state.withLockedValue { $0.position } }

    func append(_ event: KeyEvent) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startFlusher = state.withLockedValue { state -> Bool in
                state.pending.append(Pending(event: event, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if startFlusher {
                NIOThreadPool.singleton.submit { _ in self.flushUntilEmpty() }
            }
        }
    }

    /// Runs on a thread-pool thread, one at a time (the `flushing` flag): writes batches until
    /// no caller is waiting. Only this thread touches the descriptor and the position.
    private func flushUntilEmpty() {
        while true {
            let (batch, start, fd, wedged) = state.withLockedValue { state -> ([Pending], AuditPosition, Int32, Bool) in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.flushing = false }
                return (batch, state.position, state.fd, state.wedged)
            }
            if batch.isEmpty { return }
            do {
                if wedged { throw AuditError.wedged }
                let (position, newFD) = try write(batch.map(\.event), at: start, fd: fd)
                state.withLockedValue { state in
                    state.position = position
                    state.fd = newFD
                    state.lastFailure = nil
                }
                for item in batch { item.continuation.resume() }
            } catch {
                let message = "\(error)"
                state.withLockedValue { $0.lastFailure = message }
                logger.critical("audit write failed; key operations are refused", metadata: ["error": "\(message)"])
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
    }

    /// Writes one batch durably after `start`, rotating first when the segment is full.
    private func write(_ events: [KeyEvent], at start: AuditPosition, fd: Int32) throws(AuditError) -> (AuditPosition, Int32) {
        var position = start
        var fd = fd
        if position.offset >= segmentBytes {
            fd = try rotate(position: &position, fd: fd)
        }
        var bytes = Data()
        let now = Timestamps.string(Date())
        var seq = position.seq
        var mac = position.mac
        do {
            for event in events {
                seq += 1
                var record = event.record(seq: seq, time: now, prev: mac, replica: replica)
                record.mac = try record.computeMAC(key: key.key)
                mac = record.mac!
                bytes += try record.line()
            }
        } catch {
            throw .unwritable(path, "cannot encode a record: \(error)")
        }
        if let failure = Self.writeAll(bytes, fd: fd, at: position.offset) ?? (fsync(fd) == 0 ? nil : "fsync: \(Self.errnoText())") {
            // Cut back to the last good record, so nothing of this batch stays in the trail.
            if ftruncate(fd, off_t(position.offset)) != 0 || fsync(fd) != 0 {
                state.withLockedValue { $0.wedged = true }
                logger.critical("audit file could not be cut back after a failed write", metadata: ["error": "\(Self.errnoText())"])
            }
            throw .unwritable(path, failure)
        }
        position.seq = seq
        position.mac = mac
        position.offset += UInt64(bytes.count)
        // The head is made durable at most once a second; the records it names already are.
        let syncHead = state.withLockedValue { state in
            guard ContinuousClock.now - state.lastHeadSync >= .seconds(1) else { return false }
            state.lastHeadSync = .now
            return true
        }
        do {
            try head.write(position.head, key: key.key, sync: syncHead)
        } catch {
            // The records are durable, so their operations stand; only the head lags (start-up
            // accepts records after it that chain from it). The next batch writes it again.
            logger.error("audit head could not be written; it lags the trail", metadata: ["error": "\(error)"])
        }
        return (position, fd)
    }

    /// Renames the full current segment to its rotated name and starts an empty one.
    private func rotate(position: inout AuditPosition, fd: Int32) throws(AuditError) -> Int32 {
        let rotated = segments.rotatedPath(firstSeq: position.segmentStart)
        guard fsync(fd) == 0 else { throw .unwritable(path, "fsync: \(Self.errnoText())") }
        guard rename(path, rotated) == 0 else { throw .unwritable(path, "rename to \(rotated): \(Self.errnoText())") }
        _ = Glibc.close(fd)
        let fresh = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fresh >= 0 else {
            // The head still names the rotated segment; start-up finds it there.
            state.withLockedValue { $0.wedged = true }
            throw .unwritable(path, "create a new segment: \(Self.errnoText())")
        }
        Self.fsyncDirectory(of: path)
        position.segmentStart = position.seq + 1
        position.offset = 0
        try head.write(position.head, key: key.key, sync: true)
        logger.notice("audit segment rotated", metadata: ["segment": "\(rotated)", "nextSeq": "\(position.segmentStart)"])
        return fresh
    }

    /// Makes the head durable (graceful shutdown).
    func close() {
        let position = state.withLockedValue { $0.position }
        try? head.write(position.head, key: key.key, sync: true)
    }

    private static func writeAll(_ bytes: Data, fd: Int32, at offset: UInt64) -> String? {
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset) + off_t(written)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return errnoText() }
            written += n
        }
        return nil
    }

    private static func fsyncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = Glibc.close(fd)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// Holds the audit HMAC key; a class so the key is not copied around with every value.
final class SymmetricKeyBox: Sendable {
    let key: SymmetricKey
    init(_ key: SymmetricKey) { self.key = key }
}
