import Crypto
import Foundation

/// Checks an audit file record by record and names the first one that is wrong.
///
/// What it detects: an edited record (its MAC fails), a deleted or reordered record (the next
/// record's `prev` or `seq` does not follow), a cut-off last line (not a complete record), and
/// records missing at the end (the head file names a later record than the file holds).
struct AuditVerifier {
    let key: SymmetricKey

    enum Outcome: Equatable, CustomStringConvertible {
        case intact(records: UInt64, lastMAC: String)
        case broken(line: Int, reason: String)

        var description: String {
            switch self {
            case .intact(let n, let mac): "OK: \(n) records, chain intact, last MAC \(mac.prefix(16))..."
            case .broken(let line, let reason): "BROKEN at line \(line): \(reason)"
            }
        }
    }

    func verify(file: String, head: String?) throws -> Outcome {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: file])
        }
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        if !data.isEmpty && data.last != UInt8(ascii: "\n") {
            return .broken(line: lines.count, reason: "the last record is cut off (the file was truncated mid-record)")
        }
        var prev = AuditRecord.genesis
        var seq: UInt64 = 0
        for (index, line) in lines.enumerated() {
            let number = index + 1
            guard let record = try? JSONDecoder().decode(AuditRecord.self, from: Data(line)), let mac = record.mac else {
                return .broken(line: number, reason: "not a well-formed audit record")
            }
            guard record.seq == seq + 1 else {
                return .broken(line: number, reason: "sequence \(record.seq) follows \(seq): records were deleted or reordered")
            }
            guard record.prev == prev else {
                return .broken(line: number, reason: "does not chain to the record before it: records were deleted or reordered")
            }
            guard try record.computeMAC(key: key) == mac else {
                return .broken(line: number, reason: "MAC mismatch: the record was edited (or the audit key is wrong)")
            }
            prev = mac
            seq = record.seq
        }
        if let head, let headData = FileManager.default.contents(atPath: head),
            let anchor = try? JSONDecoder().decode(AuditHead.self, from: headData)
        {
            if anchor.seq > seq {
                return .broken(line: lines.count + 1, reason: "records \(seq + 1)...\(anchor.seq) are missing: the file was truncated")
            }
            if anchor.seq == seq && anchor.mac != prev {
                return .broken(line: lines.count, reason: "the last record differs from the one the head file names")
            }
        }
        return .intact(records: seq, lastMAC: prev)
    }
}
