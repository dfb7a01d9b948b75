import Shared

/// The operation an XKS API path names after its URI path: `/health` or
/// `/keys/<externalKeyId>/<metadata|encrypt|decrypt>`, nothing else (no empty, extra or encoded
/// segments). Pure, so the fuzz target runs it as the listener does.
enum XKSPath {
    static func route(_ rest: String) -> (XKSAPI.Operation, String?)? {
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == "" else { return nil }
        let segments = Array(parts.dropFirst())
        if segments == ["health"] { return (.health, nil) }
        guard segments.count == 3, segments[0] == "keys", XKSAPI.isValidKeyID(segments[1]),
            let op = XKSAPI.Operation(rawValue: segments[2]), op != .health
        else { return nil }
        return (op, segments[1])
    }
}
