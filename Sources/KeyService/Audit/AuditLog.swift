import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Shared

#if canImport(Glibc)
    import Glibc
#endif

/// The append-only, hash-chained audit file, with group commit.
///
/// Every key operation waits in ``append(_:)`` until its record is on disk: records of
/// concurrent operations are written together and share one fsync (about 350 us here), and each
/// caller resumes only after the fsync that covers its record. If the write or the fsync fails,
/// every caller of that batch gets an error and the KeyService refuses the operation (fail
/// closed); ``lastFailure`` then turns health DEGRADED until a write succeeds again.
final class AuditLog: Sendable {
    private struct Pending {
        var event: KeyEvent
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var flushing = false
        var seq: UInt64
        var lastMAC: String
        var lastFailure: String?
    }

    let path: String
    let headPath: String
    private let key: SymmetricKeyBox
    private let state: NIOLockedValueBox<State>
    private let logger: Logger

    /// Opens (or creates) the audit file and resumes the chain from its last record.
    init(path: String, key: SymmetricKeyBox, logger: Logger) throws(AuditError) {
        self.path = path
        self.headPath = path + ".head"
        self.key = key
        self.logger = logger
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw .unwritable(path, "cannot create")
            }
        }
        // Resume from the last complete record; verification of the whole file is the
        // operator's `keyservice audit verify`, not a start-up cost.
        var seq: UInt64 = 0
        var mac = AuditRecord.genesis
        if let data = fm.contents(atPath: path), let lastLine = data.split(separator: UInt8(ascii: "\n")).last,
            let record = try? JSONDecoder().decode(AuditRecord.self, from: Data(lastLine)), let recordMAC = record.mac
        {
            seq = record.seq
            mac = recordMAC
        }
        self.state = NIOLockedValueBox(State(seq: seq, lastMAC: mac))
    }

    var lastFailure: String? { state.withLockedValue { $0.lastFailure } }

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

    /// Runs on a thread-pool thread: writes batches until no caller is waiting.
    private func flushUntilEmpty() {
        while true {
            let (batch, startSeq, startMAC) = state.withLockedValue { state -> ([Pending], UInt64, String) in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.flushing = false }
                return (batch, state.seq, state.lastMAC)
            }
            if batch.isEmpty { return }
            var seq = startSeq
            var mac = startMAC
            var bytes = Data()
            let now = Timestamps.string(Date())
            do {
                for item in batch {
                    seq += 1
                    var record = AuditRecord(
                        seq: seq,
                        time: now,
                        op: item.event.op,
                        user: item.event.user,
                        peer: item.event.peer,
                        region: item.event.region?.isEmpty == true ? nil : item.event.region,
                        reason: item.event.reason,
                        outcome: item.event.outcome,
                        requestId: item.event.requestID,
                        detail: item.event.detail,
                        prev: mac,
                        mac: nil
                    )
                    record.mac = try record.computeMAC(key: key.key)
                    mac = record.mac!
                    bytes += try record.line()
                }
                try writeDurably(bytes, head: AuditHead(seq: seq, mac: mac))
                state.withLockedValue { state in
                    state.seq = seq
                    state.lastMAC = mac
                    state.lastFailure = nil
                }
                for item in batch { item.continuation.resume() }
            } catch {
                let message = "\(error)"
                state.withLockedValue { $0.lastFailure = message }
                logger.critical("audit write failed; key operations are refused", metadata: ["file": "\(path)", "error": "\(message)"])
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
    }

    private func writeDurably(_ bytes: Data, head: AuditHead) throws(AuditError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw .unwritable(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .unwritable(path, String(cString: strerror(errno))) }
            written += n
        }
        guard fsync(fd) == 0 else { throw .unwritable(path, "fsync: \(String(cString: strerror(errno)))") }
        // The head is advisory for truncation checks; the records above are already durable.
        let headData = (try? JSONEncoder().encode(head)) ?? Data()
        let hfd = open(headPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard hfd >= 0 else { throw .unwritable(headPath, String(cString: strerror(errno))) }
        defer { close(hfd) }
        _ = headData.withUnsafeBytes { Glibc.write(hfd, $0.baseAddress, $0.count) }
        guard fsync(hfd) == 0 else { throw .unwritable(headPath, "fsync: \(String(cString: strerror(errno)))") }
    }
}

/// Holds the audit HMAC key; a class so the key is not copied around with every value.
final class SymmetricKeyBox: Sendable {
    let key: SymmetricKey
    init(_ key: SymmetricKey) { self.key = key }
}

enum AuditError: Error, Sendable, CustomStringConvertible {
    case unwritable(String, String)

    var description: String {
        switch self {
        case .unwritable(let path, let why): "audit file \(path) cannot be written: \(why)"
        }
    }
}
