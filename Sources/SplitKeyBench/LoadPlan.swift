import Foundation
import NIOCore

/// What every connection of one run sends, and for how long.
struct LoadPlan: Sendable {
    /// Connection i talks to `targets[i % targets.count]`.
    let targets: [TargetURL]
    /// The name the server certificates must carry; nil: each URL's host.
    let serverName: String?
    let method: String
    let body: Data
    let headers: [(String, String)]
    let expectStatus: Int
    let warmup: TimeAmount
    let measured: TimeAmount
    /// 0 means bounded by time only.
    let maxRequests: Int
    /// `--sigv4`: every request signed afresh (its path and time); nil: sent as given.
    var signer: RequestSigner? = nil

    func target(connection: Int) -> TargetURL { targets[connection % targets.count] }
}
