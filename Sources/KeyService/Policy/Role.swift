/// What an identity may do at the KeyService.
enum Role: Hashable, Sendable, CustomStringConvertible {
    /// A StorageNode of one region: generate and unwrap data keys of users homed there.
    case node(region: String)
    /// Key lifecycle: create, show and list users.
    case admin
    /// Read-only: show and list users, health.
    case auditor

    var description: String {
        switch self {
        case .node(let region): "node:\(region)"
        case .admin: "admin"
        case .auditor: "auditor"
        }
    }
}
