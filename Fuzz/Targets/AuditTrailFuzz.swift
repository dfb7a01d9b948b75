// libFuzzer target: the KeyService's readers of its own audit trail, which someone with the disk
// controls byte for byte (Sources/KeyService/Audit/AuditRecord.swift, AuditHead.swift,
// AuditSegments.swift, compiled in as they are).
//
// The input is written to one temporary file (one path per process, rewritten per input), and
// read the way the daemon's start-up and `audit verify` read a segment and its head:
//   - `AuditLineReader` from offset 0 and from a few others: every `end` is past the one before
//     and inside the file, every line is exactly the input's bytes up to that newline, and a torn
//     tail is the bytes after the last newline;
//   - `AuditChain` (fixed audit key) over every line: an accepted record is the next in sequence,
//     chains to the one accepted before, carries the MAC this target computes itself, and its
//     `line()` minus the newline is the input line; a refusal leaves the chain where it was;
//   - `AuditSegments.record(in:endingAt:)` at each of the first 64 newline positions (and at 0,
//     the end, and past it): the record it finds backwards is the one the forward line parses to;
//   - `AuditRecord.parse(line:)` on the whole input: accepted only as its canonical encoding;
//   - `AuditHead.load(path:key:)` on the same file: a head, or `.headInvalid`; a loaded head
//     carries the tag this target computes under the fixed key.
// Never a crash, trap, leak or hang.
import Crypto
import Foundation
import Shared

#if canImport(Glibc)
    import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    InputFile.replace(with: input)
    let lines = checkReader(input, from: 0)
    for offset in [1, input.count / 2, max(input.count - 1, 0), input.count, input.count + 7] {
        _ = checkReader(input, from: offset)
    }
    checkChain(lines)
    checkBackwardRead(input, lines)
    checkParse(input[...])
    checkHead()
    return 0
}

/// The temporary file the input is written to: one per process (libFuzzer reuses the process
/// for every input), removed at exit.
private enum InputFile {
    static let path: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("splitkey-audit-fuzz-\(getpid())").path
        atexit { unlink(InputFile.path) }
        return path
    }()

    static func replace(with bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(path): \(String(cString: strerror(errno)))")
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            precondition(n > 0, "cannot write \(path): \(String(cString: strerror(errno)))")
            done += n
        }
    }
}

/// One line as the reader gives it: its bytes (without the newline) and the offset past the newline.
private struct Line {
    var bytes: ArraySlice<UInt8>
    var end: Int
}

/// Reads the file from `offset` to its end; returns the lines read.
private func checkReader(_ input: [UInt8], from offset: Int) -> [Line] {
    var reader = AuditLineReader(path: InputFile.path, from: UInt64(offset))
    var lines: [Line] = []
    var start = offset
    var tornSeen = false
    do {
        while let item = try reader.next() {
            precondition(!tornSeen, "the reader gave an item after the torn tail")
            switch item {
            case .line(let bytes, let end):
                let end = Int(end)
                precondition(end > start && end <= input.count, "line end \(end) not in \(start + 1)...\(input.count)")
                precondition(input[end - 1] == UInt8(ascii: "\n"), "line end \(end) is not past a newline")
                precondition(bytes.elementsEqual(input[start..<(end - 1)]), "line before \(end) is not the file's bytes")
                precondition(!bytes.contains(UInt8(ascii: "\n")), "a line holds a newline")
                lines.append(Line(bytes: bytes, end: end))
                start = end
            case .torn(let tornOffset):
                precondition(Int(tornOffset) == start && start < input.count, "torn tail at \(tornOffset), expected \(start)")
                precondition(!input[start...].contains(UInt8(ascii: "\n")), "torn tail holds a newline")
                tornSeen = true
            }
        }
    } catch {
        preconditionFailure("reading an existing file failed: \(error)")
    }
    precondition(start == input.count || tornSeen || offset > input.count, "the reader stopped at \(start) of \(input.count)")
    return lines
}

/// The MAC a record must carry, computed here from the documented definition (HMAC-SHA-256 over
/// `prev` and the sorted-key JSON without `mac`), not by the code under test.
private func expectedMAC(_ record: AuditRecord) -> String {
    var unsealed = record
    unsealed.mac = nil
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let body = try? encoder.encode(unsealed) else { preconditionFailure("an accepted record does not encode") }
    var hmac = HMAC<SHA256>(key: FuzzFixtures.auditKey)
    hmac.update(data: Array(record.prev.utf8))
    hmac.update(data: body)
    return Hex.encode(hmac.finalize())
}

private func checkChain(_ lines: [Line]) {
    var chain = AuditChain(key: FuzzFixtures.auditKey, seq: 0, mac: AuditRecord.genesis)
    for line in lines {
        let (seq, mac) = (chain.seq, chain.mac)
        switch chain.accept(line.bytes) {
        case .success(let record):
            precondition(record.seq == seq + 1 && record.prev == mac, "accepted a record that does not follow the chain")
            precondition(record.mac == expectedMAC(record), "accepted a record whose MAC the chain did not compute")
            precondition(chain.seq == record.seq && chain.mac == record.mac, "the chain did not move to the accepted record")
            checkCanonical(record, line.bytes)
        case .failure:
            precondition(chain.seq == seq && chain.mac == mac, "a refused record moved the chain")
        }
        checkParse(line.bytes)
    }
}

/// `record(in:endingAt:)` reads backwards from a newline; it must find what the forward reader
/// parses for the line that ends there.
private func checkBackwardRead(_ input: [UInt8], _ lines: [Line]) {
    var ends = lines.prefix(64).map(\.end)
    ends += [0, input.count, input.count + 1]
    for end in ends {
        let found: AuditRecord?
        do {
            found = try AuditSegments.record(in: InputFile.path, endingAt: UInt64(end))
        } catch {
            preconditionFailure("reading an existing file backwards failed: \(error)")
        }
        let forward = lines.first { $0.end == end }.flatMap { AuditRecord.parse(line: $0.bytes) }
        precondition(found == forward, "the record ending at \(end) read backwards differs from the one read forwards")
        if let found, let line = lines.first(where: { $0.end == end }) { checkCanonical(found, line.bytes) }
    }
}

private func checkParse(_ bytes: ArraySlice<UInt8>) {
    guard let record = AuditRecord.parse(line: bytes) else { return }
    precondition(record.mac != nil, "accepted a record without a MAC")
    checkCanonical(record, bytes)
}

/// An accepted record is exactly its canonical line: nothing the MAC does not cover was added.
private func checkCanonical(_ record: AuditRecord, _ bytes: ArraySlice<UInt8>) {
    guard let line = try? record.line() else { preconditionFailure("an accepted record does not encode") }
    precondition(line.last == UInt8(ascii: "\n") && line.dropLast().elementsEqual(bytes), "accepted a non-canonical line")
}

private func checkHead() {
    let head: AuditHead?
    do {
        head = try AuditHead.load(path: InputFile.path, key: FuzzFixtures.auditKey)
    } catch {
        guard case .headInvalid = error else { preconditionFailure("an existing head file failed with \(error)") }
        return
    }
    guard let head else { preconditionFailure("an existing head file loaded as absent") }
    var unsealed = head
    unsealed.tag = nil
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let body = try? encoder.encode(unsealed) else { preconditionFailure("a loaded head does not encode") }
    var hmac = HMAC<SHA256>(key: FuzzFixtures.auditKey)
    hmac.update(data: Array("splitkey/audit-head/v1\n".utf8))
    hmac.update(data: body)
    let tag = Hex.encode(hmac.finalize())
    precondition(head.tag == tag, "loaded a head whose tag was not computed under the audit key")
    // What the writer would put on disk for it loads as the same head.
    if let bytes = try? head.fileBytes() {
        precondition(bytes.count == AuditHead.fileSize, "head file is not \(AuditHead.fileSize) bytes")
        let end = bytes.firstIndex(of: UInt8(ascii: "\n"))!
        precondition((try? JSONDecoder().decode(AuditHead.self, from: Data(bytes[..<end]))) == head, "head does not round-trip")
    }
}
