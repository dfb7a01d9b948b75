/// How a ``BlobStore`` call fails. The detail is for the operator's log (it may name paths, a
/// bucket or the store's own error text); ``NodeError`` decides what a client is told.
enum BlobStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No committed blob has this name.
    case missing(String)
    /// The store has no room (a full disk or quota); nothing of the failed write is kept.
    case full(String)
    /// The store, or something it depends on, is down or too slow to answer now; retrying later
    /// may work.
    case unavailable(String)
    /// Anything else: an I/O error, a refused request, a read past a blob's end.
    case io(String)

    var description: String {
        switch self {
        case .missing(let name): "no blob named \(name) in the blob store"
        case .full(let d): "the blob store is full (free space, or raise its quota): \(d)"
        case .unavailable(let d): "the blob store cannot be reached in time (check that it runs and is reachable): \(d)"
        case .io(let d): "blob store I/O failed: \(d)"
        }
    }
}
