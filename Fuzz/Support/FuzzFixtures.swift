// Fixed keys and names shared by the fuzz targets and the seed generator (Fuzz/Support/MakeSeeds.swift),
// so committed seeds are valid under exactly the keys the targets use. Not secret: test values only.
import Crypto
import Shared

enum FuzzFixtures {
    /// KEK that the WrappedKey seeds are wrapped under.
    static let kek = SymmetricKey(data: [UInt8](repeating: 0x22, count: 32))
    /// Data key that the object-blob seeds are sealed under.
    static let dataKey = SymmetricKey(data: [UInt8](repeating: 0x11, count: 32))
    /// Audit key that the audit-record MACs and the audit-head tags of the seeds are under.
    static let auditKey = SymmetricKey(data: [UInt8](repeating: 0x33, count: 32))
    /// External (XKS) key that the XKS decrypt seeds are encrypted under.
    static let xksKey = SymmetricKey(data: [UInt8](repeating: 0x44, count: 32))
    static let userID = "alice"
    static let region = "eu-west"
    static let context = "fuzz-context"
    static let objectKey = "photos/cat.jpg"
}
