import Foundation
import Shared

/// Which engine holds users and sealed KEKs (`keyStore.backend`), and how to reach it.
enum KeyStoreSettings: Sendable, Equatable {
    /// One SQLite file in the state directory: the embedded default, one process only.
    case sqlite(directory: String)
    /// A PostgreSQL database shared by every replica.
    case postgres(PostgresSettings)

    static let knownKeys: Set<String> = [
        "keyStore.backend", "keyStore.url", "keyStore.passwordFile", "keyStore.ca", "keyStore.maxConnections",
        "keyStore.timeout",
    ]

    static func load(_ source: ConfigSource, path: String, stateDirectory: String, credentialsDirectory: String?)
        throws(ConfigurationError) -> KeyStoreSettings
    {
        switch source.string("keyStore.backend", default: "sqlite") {
        case "sqlite":
            return .sqlite(directory: stateDirectory)
        case "postgres":
            return .postgres(
                try PostgresSettings.load(source, path: path, credentialsDirectory: credentialsDirectory))
        case let other:
            throw .invalid("keyStore.backend", path, "'\(other)' is not one of sqlite, postgres")
        }
    }

    var backendName: String {
        switch self {
        case .sqlite: "sqlite"
        case .postgres: "postgres"
        }
    }
}

/// How a replica reaches PostgreSQL: `keyStore.url` (`postgres://USER@HOST:PORT/DATABASE`, with
/// `?sslmode=disable|require|verify-full`), the password from `keyStore.passwordFile` or
/// `$CREDENTIALS_DIRECTORY/keystore-password`, never from the URL in a file others may read.
struct PostgresSettings: Sendable, Equatable {
    enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP: only for a database on loopback or a private link.
        case disable
        /// TLS, certificate not checked (protects against passive listeners only).
        case require
        /// TLS with the server's certificate checked against `keyStore.ca` and its name.
        case verifyFull = "verify-full"
    }

    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String
    var tls: TLSMode
    var caFile: String?
    var maxConnections: Int
    /// Every store call ends by this deadline (a lease waiting on a dead database included).
    var timeout: Duration

    /// The URL without its password, for logs.
    var redacted: String { "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)" }

    static let passwordCredential = "keystore-password"

    static func load(_ source: ConfigSource, path: String, credentialsDirectory: String?) throws(ConfigurationError)
        -> PostgresSettings
    {
        let text = try source.requiredString("keyStore.url")
        var settings = try parse(url: text, key: "keyStore.url", path: path)
        if settings.password != nil {
            throw .invalid("keyStore.url", path, "holds a password; put it in keyStore.passwordFile or the keystore-password credential")
        }
        if let file = source.path("keyStore.passwordFile") {
            settings.password = try readPassword(file, key: "keyStore.passwordFile", path: path)
        } else if let dir = credentialsDirectory, FileManager.default.fileExists(atPath: dir + "/" + passwordCredential) {
            settings.password = try readPassword(dir + "/" + passwordCredential, key: "keyStore.passwordFile", path: path)
        }
        settings.caFile = source.path("keyStore.ca")
        if settings.tls == .verifyFull && settings.caFile == nil {
            throw .invalid("keyStore.ca", path, "sslmode=verify-full needs the CA file that signed the database's certificate")
        }
        settings.maxConnections = try source.int("keyStore.maxConnections", default: 20, range: 2...1000)
        settings.timeout = .seconds(try source.int("keyStore.timeout", default: 2, range: 1...60))
        return settings
    }

    /// Parses `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]`.
    static func parse(url text: String, key: String, path: String) throws(ConfigurationError) -> PostgresSettings {
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
