import Foundation

/// The names of blob files: what ``FileBlobStore`` makes, and the only thing it opens or deletes.
///
/// A name is a lower-case UUID (36 bytes: hex digits and `-` at offsets 8, 13, 18, 23). The
/// metadata store records it, and anyone who can edit that store could put `../../x` there; a
/// name is therefore checked against this format before every file system call, and anything
/// else is an integrity failure of the metadata, never a path.
enum BlobName {
    static func make() -> String {
        UUID().uuidString.lowercased()
    }

    static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            default:
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                else { return false }
            }
        }
        return true
    }

    /// `name` itself if it is of the node's format; otherwise the integrity error to answer with.
    static func checked(_ name: String) throws(StorageError) -> String {
        guard isValid(name) else {
            throw .integrity("blob name \(String(reflecting: String(name.prefix(80)))) is not of the node's format (a lower-case UUID)")
        }
        return name
    }
}
