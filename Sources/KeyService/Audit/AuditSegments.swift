import Crypto
import Foundation
import Shared

#if canImport(Glibc)
    import Glibc
#endif

/// The files of one audit trail: the current segment at the configured path, and earlier
/// segments renamed to `PATH.<first sequence number, 20 digits>` when the current one reached
/// its size limit. Sequence numbers and the MAC chain run on across segments, so a verifier
/// reads them in order as one trail.
struct AuditSegments: Sendable {
    let current: String
    var head: String { current + ".head" }

    func rotatedPath(firstSeq: UInt64) -> String {
        current + "." + String(firstSeq).leftPadded(to: 20)
    }

    /// Rotated segments, oldest first, with the sequence number of their first record.
    func rotated() -> [(firstSeq: UInt64, path: String)] {
        let directory = (current as NSString).deletingLastPathComponent
        let prefix = (current as NSString).lastPathComponent + "."
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        return names.compactMap { name -> (UInt64, String)? in
            guard name.hasPrefix(prefix) else { return nil }
            let suffix = name.dropFirst(prefix.count)
            guard suffix.count == 20, suffix.allSatisfy(\.isASCIIDigit), let seq = UInt64(suffix) else { return nil }
            return (seq, (directory.isEmpty ? "" : directory + "/") + name)
        }.sorted { $0.0 < $1.0 }
    }

    /// Every segment in order, the current one last.
    func all() -> [String] { rotated().map(\.path) + [current] }

    static func size(of path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt64(info.st_size)
    }

    /// The bytes of `path` in `range` (clamped to the file).
    static func read(_ path: String, from start: UInt64, to end: UInt64) throws(AuditError) -> [UInt8] {
        guard end > start else { return [] }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: Int(end - start))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(start) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }

    /// The record whose line ends at byte `end` (its newline is byte `end - 1`), found by reading
    /// backwards in growing chunks; nil if there is no such complete, canonical record.
    static func record(in path: String, endingAt end: UInt64, limit: UInt64 = 64 << 20) throws(AuditError) -> AuditRecord? {
        guard end > 0, try read(path, from: end - 1, to: end) == [UInt8(ascii: "\n")] else { return nil }
        var chunk: UInt64 = 4096
        while true {
            let from = end - 1 > chunk ? end - 1 - chunk : 0
            let bytes = try read(path, from: from, to: end - 1)
            if let newline = bytes.lastIndex(of: UInt8(ascii: "\n")) {
                return AuditRecord.parse(line: bytes[(newline + 1)...])
            }
            if from == 0 { return AuditRecord.parse(line: bytes) }
            guard chunk < limit else { return nil }
            chunk *= 2
        }
    }
}

/// Reads a segment line by line from an offset in bounded memory (64 KiB at a time, plus the
/// longest line), giving each line with the offset just past its newline.
struct AuditLineReader {
    let path: String
    private var position: UInt64
    private var buffer: [UInt8] = []
    private var bufferStart: UInt64
    private var atEnd = false

    init(path: String, from offset: UInt64) {
        self.path = path
        self.position = offset
        self.bufferStart = offset
    }

    enum Item {
        case line(ArraySlice<UInt8>, end: UInt64)
        /// Bytes after the last newline: an incomplete record starting at `offset`.
        case torn(offset: UInt64)
    }

    mutating func next() throws(AuditError) -> Item? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[..<newline]
                let end = bufferStart + UInt64(newline) + 1
                let result = Item.line(ArraySlice(line), end: end)
                buffer.removeFirst(newline + 1)
                bufferStart = end
                return result
            }
            if atEnd {
                if buffer.isEmpty { return nil }
                let offset = bufferStart
                buffer = []
                return .torn(offset: offset)
            }
            let chunk = try AuditSegments.read(path, from: position, to: position + 65_536)
            if chunk.isEmpty { atEnd = true }
            position += UInt64(chunk.count)
            buffer += chunk
        }
    }
}

/// The running state of a chain check: each record must follow the one before by sequence
/// number and `prev`, carry a valid MAC and be in canonical form.
struct AuditChain {
    let key: SymmetricKey
    var seq: UInt64
    var mac: String
    /// The replica the records so far name: one trail belongs to one replica.
    var replica: String? = nil

    mutating func accept(_ line: ArraySlice<UInt8>) -> Result<AuditRecord, ChainBreak> {
        guard let record = AuditRecord.parse(line: line), let recordMAC = record.mac else {
            return .failure(.init("not a well-formed audit record in canonical form (edited, or fields added)"))
        }
        guard record.seq == seq + 1 else {
            return .failure(.init("sequence \(record.seq) follows \(seq): records were deleted, duplicated or reordered"))
        }
        guard record.prev == mac else {
            return .failure(.init("does not chain to the record before it: records were deleted or reordered"))
        }
        guard let expected = try? record.computeMAC(key: key),
            MessageAuthentication.constantTimeEqual(Array(expected.utf8), Array(recordMAC.utf8))
        else {
            return .failure(.init("MAC mismatch: the record was edited (or the audit key is wrong)"))
        }
        if let named = replica, record.replica != named {
            return .failure(
                .init(
                    "names replica \(record.replica ?? "none") after records of replica \(named): two replicas' trails were mixed"))
        }
        seq = record.seq
        mac = recordMAC
        replica = record.replica ?? replica
        return .success(record)
    }

    struct ChainBreak: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
