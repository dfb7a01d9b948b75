import Crypto
import Foundation

/// Where the writer continues: the last record's sequence number and MAC, and the current
/// segment's first sequence number and length.
struct AuditPosition: Sendable, Equatable {
    var seq: UInt64
    var mac: String
    var segmentStart: UInt64
    var offset: UInt64

    static let empty = AuditPosition(seq: 0, mac: AuditRecord.genesis, segmentStart: 1, offset: 0)

    var head: AuditHead { AuditHead(seq: seq, mac: mac, segmentStart: segmentStart, offset: offset) }
}

/// Start-up: finds where the trail ends without reading all of it, and refuses a trail that
/// does not end where the authenticated head says (cut, replaced, torn or headless).
///
/// Only the head's record and what follows it are read: after a crash the head may lag the
/// file by the batches whose head write did not reach the disk; those records must chain from
/// the head's record, so they are verified one by one and accepted.
enum AuditResume {
    static func position(_ segments: AuditSegments, key: SymmetricKey) throws(AuditError) -> (AuditPosition, headWasBehind: Bool) {
        let currentSize = AuditSegments.size(of: segments.current) ?? 0
        let rotated = segments.rotated()
        guard let head = try AuditHead.load(path: segments.head, key: key) else {
            if currentSize == 0 && rotated.isEmpty { return (.empty, false) }
            throw .headMissing(segments.current)
        }
        let rotatedHolder = rotated.first(where: { $0.firstSeq == head.segmentStart })?.path
        let holder = rotatedHolder ?? segments.current
        let size = AuditSegments.size(of: holder) ?? 0
        guard size >= head.offset else {
            throw .tailMismatch(holder, "it ends at byte \(size); the head names record \(head.seq) ending at byte \(head.offset)")
        }
        if head.offset > 0 {
            let record = try AuditSegments.record(in: holder, endingAt: head.offset)
            guard let record, record.seq == head.seq, record.mac == head.mac else {
                throw .tailMismatch(holder, "the record ending at byte \(head.offset) is not record \(head.seq) that the head names")
            }
        } else if head.segmentStart != head.seq + 1 {
            throw .tailMismatch(holder, "the head names an empty segment that does not follow record \(head.seq)")
        }
        var chain = AuditChain(key: key, seq: head.seq, mac: head.mac)
        var position = AuditPosition(seq: head.seq, mac: head.mac, segmentStart: head.segmentStart, offset: head.offset)
        try follow(holder, &chain, &position)
        if rotatedHolder != nil {
            // A rotation was cut short after its rename: the current segment, if any, continues.
            position.segmentStart = chain.seq + 1
            position.offset = 0
            try follow(segments.current, &chain, &position)
        }
        return (position, position != AuditPosition(seq: head.seq, mac: head.mac, segmentStart: head.segmentStart, offset: head.offset))
    }

    /// Verifies every record after `position.offset` in `path` and moves `position` past them.
    private static func follow(_ path: String, _ chain: inout AuditChain, _ position: inout AuditPosition) throws(AuditError) {
        var reader = AuditLineReader(path: path, from: position.offset)
        while let item = try reader.next() {
            switch item {
            case .line(let line, let end):
                switch chain.accept(line) {
                case .success:
                    position.seq = chain.seq
                    position.mac = chain.mac
                    position.offset = end
                case .failure(let failure):
                    throw .broken(path, "record after byte \(position.offset): \(failure.reason)")
                }
            case .torn(let offset):
                throw .tornTail(path, offset: offset)
            }
        }
    }
}
