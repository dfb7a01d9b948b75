import Crypto
import Foundation
import Shared

#if canImport(Glibc)
    import Glibc
#endif

/// The authenticated head beside the audit trail: which record is the last one written, where
/// it ends, and which segment it is in, under a MAC of the audit key.
///
/// Without a MAC an attacker who cuts records from the end could rewrite the head to match; with
/// it, the daemon refuses to resume from a trail whose tail does not reach the head, and `audit
/// verify` reports the cut. What a MAC cannot catch is a whole older copy of trail *and* head put
/// back (a rollback); that needs a witness outside the key holder.
///
/// The file is a fixed-size record rewritten in place (one `pwrite` of less than a disk sector),
/// so a crash leaves the old head or the new one, never half of each. It is written after the
/// records it names are durable, so it may lag the file by one batch after a crash, never lead it.
struct AuditHead: Codable, Sendable, Equatable {
    /// Sequence number and MAC of the last record written.
    var seq: UInt64
    var mac: String
    /// Sequence number of the first record of the segment that holds it (the segment's name).
    var segmentStart: UInt64
    /// Byte offset in that segment just past the record's newline (0: the segment is empty).
    var offset: UInt64
    var tag: String?

    static let fileSize = 512
    private static let domain = Array("splitkey/audit-head/v1\n".utf8)

    func computeTag(key: SymmetricKey) throws -> String {
        var copy = self
        copy.tag = nil
        return Hex.encode(MessageAuthentication.hmacSHA256(key: key, Self.domain, Array(try AuditRecord.canonicalEncoder.encode(copy))))
    }

    func sealed(key: SymmetricKey) throws -> AuditHead {
        var copy = self
        copy.tag = try computeTag(key: key)
        return copy
    }

    /// The on-disk bytes: canonical JSON, a newline, padded with spaces to ``fileSize``.
    func fileBytes() throws -> [UInt8] {
        var bytes = Array(try AuditRecord.canonicalEncoder.encode(self)) + [UInt8(ascii: "\n")]
        guard bytes.count <= Self.fileSize else { throw AuditError.unwritable("audit head", "head record too long") }
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: Self.fileSize - bytes.count)
        return bytes
    }

    /// The head in `path`: nil when the file does not exist; throws when it exists but is not a
    /// head sealed under `key`.
    static func load(path: String, key: SymmetricKey) throws(AuditError) -> AuditHead? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        // Read through a descriptor: Foundation's contents(atPath:) leaks a buffer on empty files.
        let data = try AuditSegments.read(path, from: 0, to: UInt64(fileSize))
        guard let end = data.firstIndex(of: UInt8(ascii: "\n")),
            let head = try? JSONDecoder().decode(AuditHead.self, from: Data(data[..<end])),
            let tag = head.tag,
            let expected = try? head.computeTag(key: key),
            MessageAuthentication.constantTimeEqual(Array(tag.utf8), Array(expected.utf8))
        else {
            throw .headInvalid(path)
        }
        return head
    }
}

/// Writes the head in place through an open descriptor.
struct AuditHeadFile: Sendable {
    let path: String
    let fd: Int32

    init(path: String) throws(AuditError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .unwritable(path, String(cString: strerror(errno))) }
        self.fd = fd
    }

    /// Replaces the head; `sync` also makes it durable (rotation, shutdown). Per batch the head
    /// is not fsynced: the records it names already are, and a head that lags after a crash is
    /// accepted as long as the records after it chain from it.
    func write(_ head: AuditHead, key: SymmetricKey, sync: Bool) throws(AuditError) {
        let bytes: [UInt8]
        do {
            bytes = try head.sealed(key: key).fileBytes()
        } catch {
            throw .unwritable(path, "\(error)")
        }
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard n == bytes.count else { throw .unwritable(path, n < 0 ? String(cString: strerror(errno)) : "short write") }
        if sync {
            guard fsync(fd) == 0 else { throw .unwritable(path, "fsync: \(String(cString: strerror(errno)))") }
        }
    }

    func close() { _ = Glibc.close(fd) }
}
