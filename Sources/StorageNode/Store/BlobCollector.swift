import Foundation
import Logging
import ServiceLifecycle
import Shared

/// Deletes blobs no metadata row names once they are older than a grace period: at start, then
/// every `interval`, a page of the blob listing at a time (memory: one page, whatever the size
/// of the store).
///
/// Why such blobs exist: an object exists once its metadata commit returns, and that commit
/// comes after the blob store acknowledged the blob. A crash (or a failed commit whose cleanup
/// also failed) between the two leaves a blob no row names; so does a replaced or deleted
/// object whose blob delete did not happen. Never the other way round: no row is committed
/// before its blob is, and this collector never deletes a blob a row names.
///
/// Why the grace makes it safe while this node and others write: a blob being uploaded now has
/// no row yet, by design. Its row is committed right after its upload's commit, so a blob with
/// no row that is older than the grace is one whose row will never come. The grace must exceed
/// the longest time from a blob's last-modified time to its metadata commit: on a store that
/// dates a blob from the start of its upload (an S3 multipart upload), that is the longest PUT.
struct BlobCollector: Service {
    let blobs: any BlobStore
    let metadata: any MetadataStore
    /// How old a blob with no row must be before it is deleted.
    let grace: TimeInterval
    let interval: Duration
    let pageSize: Int
    let logger: Logger
    /// The clock the grace counts on (tests move it forward instead of waiting an hour).
    let now: @Sendable () -> Date

    init(
        blobs: any BlobStore,
        metadata: any MetadataStore,
        grace: TimeInterval,
        interval: Duration,
        pageSize: Int = 1000,
        logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.blobs = blobs
        self.metadata = metadata
        self.grace = grace
        self.interval = interval
        self.pageSize = pageSize
        self.logger = logger
        self.now = now
    }

    /// What one pass did.
    struct Pass: Sendable, Equatable {
        /// Blobs listed.
        var examined = 0
        /// Blobs with no row, younger than the grace: left for a later pass.
        var young = 0
        var removed: [String] = []
    }

    enum Failure: Error, CustomStringConvertible {
        case blobs(BlobStoreError)
        case metadata(StorageError)

        var description: String {
            switch self {
            case .blobs(let error): "\(error)"
            case .metadata(let error): "\(error)"
            }
        }
    }

    func run() async throws {
        var failing = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let pass = try await cancelWhenGracefulShutdown { try await collect() }
                if failing { logger.notice("the blob collector runs again") }
                failing = false
                if !pass.removed.isEmpty {
                    logger.notice(
                        "removed orphaned blobs",
                        metadata: ["removed": "\(pass.removed.count)", "examined": "\(pass.examined)", "young": "\(pass.young)"])
                }
            } catch {
                // Cut off by shutdown: not a failure worth a warning.
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                // Nothing is lost by a failed pass; the next one starts over.
                if !failing { logger.warning("blob collector pass failed", metadata: ["error": "\(error)"]) }
                failing = true
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// One pass over the whole store.
    func collect() async throws(Failure) -> Pass {
        var pass = Pass()
        var after: String?
        while true {
            let page: [BlobListing]
            do {
                page = try await blobs.list(after: after, limit: pageSize)
            } catch {
                throw .blobs(error)
            }
            guard let last = page.last else { return pass }
            after = last.name
            pass.examined += page.count
            // The cutoff is taken after the listing, so each blob's age is at least what it is
            // compared with; the rows are read after that.
            let cutoff = now().addingTimeInterval(-grace)
            let kept: Set<String>
            do {
                kept = try await metadata.existingBlobNames(page.map(\.name))
            } catch {
                throw .metadata(error)
            }
            for blob in page where !kept.contains(blob.name) {
                guard blob.lastModified < cutoff else {
                    pass.young += 1
                    continue
                }
                do {
                    try await blobs.delete(name: blob.name)
                } catch {
                    throw .blobs(error)
                }
                pass.removed.append(blob.name)
                logger.info(
                    "removed orphaned blob",
                    metadata: ["blob": "\(blob.name)", "lastModified": "\(Timestamps.string(blob.lastModified))"])
            }
        }
    }
}
