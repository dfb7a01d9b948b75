import Logging

/// Which metadata database a blob store's blobs belong to, and the rule that keeps a node from
/// serving (and collecting) blobs of another database.
///
/// The hazard: the collector deletes every blob older than its grace that no row of *its*
/// database names. Two nodes pointed at one bucket and prefix but at different databases (a
/// typo in `metadata.postgres.url`, a staging node on the production bucket, an SQLite file
/// restored from another node) would each delete the other's objects. So the blob store carries
/// a label naming its database (``BlobStore/label()``), written by the first node that starts on
/// it, and a node whose database is another one refuses to start.
enum StoreBinding {
    /// What a node does at start, given its database's identity and the blob store's label.
    enum Decision: Equatable, Sendable {
        /// The label names this database.
        case bound
        /// No label yet (a new store, or one from before labels): write this one.
        case bind([UInt8])
        /// The label names another database (`labelled`), or is no label of ours (nil).
        case refuse(labelled: String?)
    }

    static let magic = "splitkey-storagenode-blobs v1"

    static func label(for databaseID: String) -> [UInt8] {
        Array("\(magic)\nmetadata \(databaseID)\n".utf8)
    }

    /// The database a label names; nil for bytes that are no label of this format.
    static func databaseID(in label: [UInt8]) -> String? {
        let lines = String(decoding: label, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 3, lines[0] == magic, lines[2].isEmpty, lines[1].hasPrefix("metadata ") else { return nil }
        let id = lines[1].dropFirst("metadata ".count)
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
        return String(id)
    }

    static func decide(databaseID: String, label: [UInt8]?) -> Decision {
        guard let label else { return .bind(Self.label(for: databaseID)) }
        guard let labelled = Self.databaseID(in: label) else { return .refuse(labelled: nil) }
        return labelled == databaseID ? .bound : .refuse(labelled: labelled)
    }

    /// Checks the pair at start and labels an unlabelled store. After writing a label it reads
    /// it back: of two nodes of different databases that start on one new store at the same
    /// moment, the one whose label did not stay refuses too.
    static func establish(blobs: any BlobStore, metadata: any MetadataStore, logger: Logger) async throws {
        let databaseID = try await metadata.storeID()
        switch decide(databaseID: databaseID, label: try await blobs.label()) {
        case .bound:
            return
        case .bind(let label):
            try await blobs.setLabel(label)
            let stored = try await blobs.label()
            if case .refuse(let labelled) = decide(databaseID: databaseID, label: stored) {
                throw StoreBindingError.belongsToAnotherDatabase(labelled: labelled, database: databaseID)
            }
            logger.notice("labelled the blob store as belonging to this metadata database", metadata: ["database": "\(databaseID)"])
        case .refuse(let labelled):
            throw StoreBindingError.belongsToAnotherDatabase(labelled: labelled, database: databaseID)
        }
    }
}

enum StoreBindingError: Error, Equatable, CustomStringConvertible {
    case belongsToAnotherDatabase(labelled: String?, database: String)

    var description: String {
        switch self {
        case .belongsToAnotherDatabase(let labelled, let database):
            let owner = labelled.map { "metadata database \($0)" } ?? "something that is not a StorageNode (its label is not ours)"
            return
                "the blob store belongs to \(owner), but this node's metadata database is \(database): "
                + "a node on both would delete the other's blobs as orphans. Point blobs.s3.bucket/prefix "
                + "(or blobs.path) and metadata at the pair that belong together; the label is the object "
                + "'\(S3BlobStore.labelName)' under the prefix (the file 'blobs.label' in the state directory)"
        }
    }
}
