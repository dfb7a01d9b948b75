import Foundation
import Shared

/// How a daemon reaches PostgreSQL: `PREFIX.url` (`postgres://USER@HOST:PORT/DATABASE`, with
/// `?sslmode=disable|require|verify-full`), the password from `PREFIX.passwordFile` or a
/// systemd credential, never from the URL in a file others may read. `PREFIX` is the config
/// section (`keyStore` of the KeyService, `metadata` of the StorageNode).
public struct PostgresSettings: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP: only for a database on loopback or a private link.
        case disable
        /// TLS, certificate not checked (protects against passive listeners only).
        case require
        /// TLS with the server's certificate checked against `PREFIX.ca` and its name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var caFile: String?
    public var maxConnections: Int
    /// Every store call ends by this deadline (a lease waiting on a dead database included).
    public var timeout: Duration

    /// The URL without its password, for logs.
    public var redacted: String { "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)" }

    /// The config keys under `prefix`.
    public static func knownKeys(prefix: String) -> Set<String> {
        Set(["url", "passwordFile", "ca", "maxConnections", "timeout"].map { prefix + "." + $0 })
    }

    /// `passwordCredential`: the file name in `$CREDENTIALS_DIRECTORY` read when
    /// `PREFIX.passwordFile` is not set.
    public static func load(
        _ source: ConfigSource, prefix: String, passwordCredential: String, path: String, credentialsDirectory: String?
    ) throws(ConfigurationError) -> PostgresSettings {
        let urlKey = prefix + ".url"
        let passwordKey = prefix + ".passwordFile"
        let text = try source.requiredString(urlKey)
        var settings = try parse(url: text, key: urlKey, path: path)
        if settings.password != nil {
            throw .invalid(urlKey, path, "holds a password; put it in \(passwordKey) or the \(passwordCredential) credential")
        }
        if let file = source.path(passwordKey) {
            settings.password = try readPassword(file, key: passwordKey, path: path)
        } else if let dir = credentialsDirectory, FileManager.default.fileExists(atPath: dir + "/" + passwordCredential) {
            settings.password = try readPassword(dir + "/" + passwordCredential, key: passwordKey, path: path)
        }
        settings.caFile = source.path(prefix + ".ca")
        if settings.tls == .verifyFull && settings.caFile == nil {
            throw .invalid(prefix + ".ca", path, "sslmode=verify-full needs the CA file that signed the database's certificate")
        }
        settings.maxConnections = try source.int(prefix + ".maxConnections", default: 20, range: 2...1000)
        settings.timeout = .seconds(try source.int(prefix + ".timeout", default: 2, range: 1...60))
        return settings
    }

    /// Parses `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]`.
    public static func parse(url text: String, key: String, path: String) throws(ConfigurationError) -> PostgresSettings {
        guard let url = URLComponents(string: text), url.scheme == "postgres" || url.scheme == "postgresql" else {
            throw .invalid(key, path, "'\(text)' is not a postgres://USER@HOST:PORT/DATABASE URL")
        }
        guard let host = url.host, !host.isEmpty, let user = url.user, !user.isEmpty else {
            throw .invalid(key, path, "the URL needs a user and a host (postgres://USER@HOST:PORT/DATABASE)")
        }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw .invalid(key, path, "the URL needs one database name after the host")
        }
        var mode = TLSMode.disable
        for item in url.queryItems ?? [] {
            guard item.name == "sslmode", let value = item.value else {
                throw .invalid(key, path, "unknown URL parameter '\(item.name)' (only sslmode is read)")
            }
            guard let parsed = TLSMode(rawValue: value) else {
                throw .invalid(key, path, "sslmode '\(value)' is not one of disable, require, verify-full")
            }
            mode = parsed
        }
        return PostgresSettings(
            host: host, port: url.port ?? 5432, username: user, password: url.password, database: database, tls: mode, caFile: nil,
            maxConnections: 20, timeout: .seconds(2))
    }

    private static func readPassword(_ file: String, key: String, path: String) throws(ConfigurationError) -> String {
        do {
            let bytes = try SecretFile.read(file)
            guard let text = String(bytes: bytes, encoding: .utf8) else {
                throw ConfigurationError.invalid(key, path, "\(file) is not UTF-8")
            }
            return text.trimmingCharacters(in: .newlines)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw .invalid(key, path, "\(error)")
        }
    }
}
