import Foundation
import NIOCore

/// What every connection of one run sends, and for how long.
struct LoadPlan: Sendable {
    let target: TargetURL
    let serverName: String
    let method: String
    let body: Data
    let headers: [(String, String)]
    let expectStatus: Int
    let warmup: TimeAmount
    let measured: TimeAmount
    /// 0 means bounded by time only.
    let maxRequests: Int
}
