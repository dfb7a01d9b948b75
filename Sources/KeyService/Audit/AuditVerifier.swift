import Crypto
import Foundation

/// Checks a whole audit trail, every segment in order, and names the first record that is wrong.
///
/// What it detects: an edited record (its MAC fails), a line that is not the canonical encoding
/// of its record (fields added, duplicated or reordered), a deleted, duplicated or reordered
/// record (the next record's `prev` or `seq` does not follow), a cut-off last line, and records
/// missing at the end (the authenticated head names a later record than the trail holds, or a
/// different one). A missing head is a failure unless the operator says it may be absent.
struct AuditVerifier {
    let key: SymmetricKey

    enum Outcome: Equatable, CustomStringConvertible {
        case intact(records: UInt64, lastMAC: String, segments: Int, replica: String? = nil)
        case broken(segment: String, line: Int, reason: String)

        var description: String {
            switch self {
            case .intact(let n, let mac, let segments, let replica):
                "OK: \(n) records in \(segments) segment\(segments == 1 ? "" : "s")\(replica.map { " of replica \($0)" } ?? ""), chain intact, last MAC \(mac.prefix(16))..."
            case .broken(let segment, let line, let reason): "BROKEN at \(segment) line \(line): \(reason)"
            }
        }
    }

    /// The records a trail holds once verified: the last sequence number and MAC, and where the
    /// last record ends (for `audit repair`).
    struct Walk {
        var outcome: Outcome
        var end: AuditPosition
        var tornAt: (path: String, offset: UInt64)?
    }

    func verify(file: String, allowMissingHead: Bool = false) throws -> Outcome {
        try walk(file: file, allowMissingHead: allowMissingHead, tolerateTornTail: false).outcome
    }

    func walk(file: String, allowMissingHead: Bool, tolerateTornTail: Bool) throws -> Walk {
        let segments = AuditSegments(current: file)
        guard FileManager.default.fileExists(atPath: file) || !segments.rotated().isEmpty else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: file])
        }
        var chain = AuditChain(key: key, seq: 0, mac: AuditRecord.genesis)
        var end = AuditPosition.empty
        var macAt: [UInt64: String] = [:]
        let head = try? AuditHead.load(path: segments.head, key: key)
        let headFileExists = FileManager.default.fileExists(atPath: segments.head)
        var paths = segments.rotated().map { ($0.path, Optional($0.firstSeq)) }
        paths.append((file, nil))
        var torn: (String, UInt64)?
        for (path, firstSeq) in paths where FileManager.default.fileExists(atPath: path) {
            let name = (path as NSString).lastPathComponent
            end.segmentStart = chain.seq + 1
            end.offset = 0
            if let firstSeq, firstSeq != chain.seq + 1 {
                return Walk(
                    outcome: .broken(segment: name, line: 1, reason: "segment named for record \(firstSeq) follows record \(chain.seq)"),
                    end: end)
            }
            var reader = AuditLineReader(path: path, from: 0)
            var number = 0
            while let item = try reader.next() {
                number += 1
                switch item {
                case .line(let line, let lineEnd):
                    switch chain.accept(line) {
                    case .success:
                        end = AuditPosition(seq: chain.seq, mac: chain.mac, segmentStart: end.segmentStart, offset: lineEnd)
                        if let head, chain.seq == head.seq { macAt[chain.seq] = chain.mac }
                    case .failure(let failure):
                        return Walk(outcome: .broken(segment: name, line: number, reason: failure.reason), end: end)
                    }
                case .torn(let offset):
                    guard tolerateTornTail, path == file else {
                        return Walk(
                            outcome: .broken(
                                segment: name, line: number, reason: "the last record is cut off (the file was truncated mid-record)"),
                            end: end)
                    }
                    torn = (path, offset)
                }
            }
        }
        let name = (file as NSString).lastPathComponent
        if headFileExists && head == nil && !allowMissingHead {
            return Walk(
                outcome: .broken(
                    segment: name, line: 0,
                    reason: "the head file is not sealed under this audit key (--allow-missing-head to check the chain alone)"), end: end)
        }
        if let head {
            if head.seq > chain.seq {
                return Walk(
                    outcome: .broken(
                        segment: name, line: 0, reason: "records \(chain.seq + 1)...\(head.seq) are missing: the trail was truncated"),
                    end: end)
            }
            if head.seq > 0, macAt[head.seq] != head.mac {
                return Walk(
                    outcome: .broken(segment: name, line: 0, reason: "record \(head.seq) differs from the one the head names"), end: end)
            }
        } else if !allowMissingHead && chain.seq > 0 {
            return Walk(
                outcome: .broken(
                    segment: name, line: 0,
                    reason: "the head file is missing, so a cut tail cannot be detected (--allow-missing-head to check the chain alone)"),
                end: end)
        }
        return Walk(
            outcome: .intact(
                records: chain.seq, lastMAC: chain.mac, segments: paths.count(where: { FileManager.default.fileExists(atPath: $0.0) }),
                replica: chain.replica),
            end: end, tornAt: torn)
    }
}
