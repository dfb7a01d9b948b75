import Configuration
import Foundation
import SystemPackage
import Yams

/// A daemon's configuration: a YAML file, overridden by `SPLITKEY_*` environment variables.
///
/// An override names the key in upper case with `_` for `.` and for camelCase boundaries:
/// `listen.port` is `SPLITKEY_LISTEN_PORT`, `tls.privateKey` is `SPLITKEY_TLS_PRIVATE_KEY`.
///
/// Reading is strict, because a daemon that guesses starts wrong: a missing required key, a
/// value of the wrong type or out of range, and a key the daemon does not know (a typo) all
/// stop the start with a ``ConfigurationError`` naming the key and the file.
public struct ConfigSource: Sendable {
    public static let environmentPrefix = "SPLITKEY_"

    public let path: String
    let reader: ConfigReader
    let fileKeys: Set<String>

    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(ConfigurationError) -> ConfigSource {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileMissing(path) }
        let fileKeys: Set<String>
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            fileKeys = try Self.leafKeys(yaml: text)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw .fileUnreadable(path, "\(error)")
        }
        let overrides = Dictionary(
            uniqueKeysWithValues: environment.compactMap { name, value -> (String, String)? in
                guard name.hasPrefix(environmentPrefix) else { return nil }
                return (String(name.dropFirst(environmentPrefix.count)), value)
            }
        )
        let file: FileProvider<YAMLSnapshot>
        do {
            file = try await FileProvider<YAMLSnapshot>(filePath: FilePath(path))
        } catch {
            throw .fileUnreadable(path, "\(error)")
        }
        let reader = ConfigReader(providers: [EnvironmentVariablesProvider(environmentVariables: overrides), file])
        return ConfigSource(path: path, reader: reader, fileKeys: fileKeys)
    }

    /// Refuses keys in the file that the daemon does not read.
    public func rejectUnknownKeys(known: Set<String>) throws(ConfigurationError) {
        if let unknown = fileKeys.subtracting(known).sorted().first {
            throw .unknownKey(unknown, path)
        }
    }

    func key(_ name: String) -> ConfigKey {
        ConfigKey(name.split(separator: ".").map(String.init))
    }

    /// The raw scalar at `name`, whatever its YAML type; nil when absent.
    public func raw(_ name: String) -> String? {
        reader.string(forKey: key(name))
    }

    public func requiredString(_ name: String) throws(ConfigurationError) -> String {
        guard let value = raw(name) else { throw .missing(name, path) }
        guard !value.isEmpty else { throw .invalid(name, path, "must not be empty") }
        return value
    }

    public func string(_ name: String, default defaultValue: String) -> String {
        raw(name) ?? defaultValue
    }

    public func int(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let value = raw(name) else { return defaultValue }
        guard let int = Int(value.trimmingCharacters(in: .whitespaces)) else {
            throw .invalid(name, path, "'\(value)' is not an integer")
        }
        guard range.contains(int) else {
            throw .invalid(name, path, "\(int) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return int
    }

    public func bool(_ name: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let value = raw(name) else { return defaultValue }
        switch value.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw .invalid(name, path, "'\(value)' is not true or false")
        }
    }

    public func stringArray(_ name: String) throws(ConfigurationError) -> [String] {
        if let values = reader.stringArray(forKey: key(name)) { return values }
        if let scalar = raw(name) {
            // An environment override gives a comma-separated list; a YAML scalar is a mistake.
            if fileKeys.contains(name) && !scalar.isEmpty { throw .invalid(name, path, "must be a list") }
            return scalar.isEmpty ? [] : scalar.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        }
        return []
    }

    /// Whether the file or environment sets `name` to a list (possibly empty).
    public func isList(_ name: String) -> Bool {
        reader.stringArray(forKey: key(name)) != nil
    }

    /// A path; relative paths are taken relative to the config file's folder.
    public func requiredPath(_ name: String) throws(ConfigurationError) -> String {
        resolve(try requiredString(name))
    }

    /// A list of paths, each resolved like ``requiredPath(_:)``.
    public func paths(_ name: String) throws(ConfigurationError) -> [String] {
        try stringArray(name).map(resolve)
    }

    public func path(_ name: String) -> String? {
        raw(name).map(resolve)
    }

    func resolve(_ value: String) -> String {
        if value.hasPrefix("/") { return value }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        return base.appendingPathComponent(value).standardizedFileURL.path
    }

    static func leafKeys(yaml: String) throws -> Set<String> {
        guard let node = try Yams.compose(yaml: yaml) else { return [] }
        var keys = Set<String>()
        func walk(_ node: Node, prefix: [String]) {
            if let mapping = node.mapping {
                for (k, v) in mapping {
                    walk(v, prefix: prefix + [k.string ?? ""])
                }
            } else {
                keys.insert(prefix.joined(separator: "."))
            }
        }
        walk(node, prefix: [])
        return keys
    }
}

/// Why a configuration could not be used; each case names the key or file to fix.
public enum ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    case fileMissing(String)
    case fileUnreadable(String, String)
    case missing(String, String)
    case invalid(String, String, String)
    case unknownKey(String, String)

    public var description: String {
        switch self {
        case .fileMissing(let p): "configuration file \(p) does not exist"
        case .fileUnreadable(let p, let why): "configuration file \(p) cannot be read: \(why)"
        case .missing(let key, let p): "configuration key '\(key)' is required (in \(p) or as \(ConfigurationError.envName(key)))"
        case .invalid(let key, let p, let why): "configuration key '\(key)' in \(p): \(why)"
        case .unknownKey(let key, let p): "configuration key '\(key)' in \(p) is not a known setting (misspelt?)"
        }
    }

    /// The environment variable that overrides `key`.
    public static func envName(_ key: String) -> String {
        var out = ConfigSource.environmentPrefix
        var previousLower = false
        for ch in key {
            if ch == "." || ch == "-" {
                out += "_"
                previousLower = false
                continue
            }
            if ch.isUppercase && previousLower { out += "_" }
            out += ch.uppercased()
            previousLower = ch.isLowercase
        }
        return out
    }
}
