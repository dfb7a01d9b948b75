import Foundation

/// Loads Wycheproof vector files from the test bundle's `Fixtures/wycheproof` (copied from
/// C2SP/wycheproof; see its README and LICENSE there).
enum Wycheproof {
    struct File<Group: Decodable & Sendable>: Decodable, Sendable {
        var algorithm: String
        var numberOfTests: Int
        var testGroups: [Group]
    }

    static func load<Group: Decodable & Sendable>(_ name: String, as: Group.Type) throws -> File<Group> {
        guard let url = Bundle.module.url(forResource: "Fixtures/wycheproof/\(name)", withExtension: nil) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: name])
        }
        return try JSONDecoder().decode(File<Group>.self, from: Data(contentsOf: url))
    }
}

extension Array where Element == UInt8 {
    init(wycheproofHex hex: String) {
        self = [UInt8](hex: hex)!
    }
}
