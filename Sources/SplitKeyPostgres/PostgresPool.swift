import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Shared

/// A daemon's pooled connections to its PostgreSQL database, every call bounded.
///
/// Every ``run(_:_:)`` ends by `settings.timeout` (or the limit given), whatever the database
/// does: a stopped server, a lost network or a pool waiting for a connection all end in a
/// ``PostgresPoolError``, which the stores turn into their own "unavailable" answers.
public final class PostgresPool: Sendable {
    public let client: PostgresClient
    public let settings: PostgresSettings
    public let logger: Logger
    private let runner: Task<Void, Never>

    public init(settings: PostgresSettings, logger: Logger) throws(PostgresPoolError) {
        var configuration: PostgresClient.Configuration
        do {
            configuration = PostgresClient.Configuration(
                host: settings.host, port: settings.port, username: settings.username, password: settings.password,
                database: settings.database, tls: try Self.tls(settings))
        } catch {
            throw .database("cannot configure the PostgreSQL client for \(settings.redacted): \(error)")
        }
        configuration.options.maximumConnections = settings.maxConnections
        configuration.options.minimumConnections = 1
        configuration.options.connectTimeout = settings.timeout
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(15))
        // The pool logs every failed reconnect at info; the stores report their own failures.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.client = client
        self.settings = settings
        self.logger = logger
        self.runner = Task { await client.run() }
    }

    private static func tls(_ settings: PostgresSettings) throws -> PostgresClient.Configuration.TLS {
        switch settings.tls {
        case .disable:
            return .disable
        case .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return .require(tls)
        case .verifyFull:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            if let ca = settings.caFile {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            return .require(tls)
        }
    }

    /// Ends background work; the pool is unusable afterwards.
    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    /// Runs `body` on the pool by the deadline. An error `body` throws itself (a store's own
    /// decision, such as "changed since read") comes back as ``PostgresPoolError/decision(_:)``,
    /// rolled back when it ended a transaction.
    public func run<T: Sendable>(_ limit: Duration? = nil, _ body: @escaping @Sendable (PostgresClient, Logger) async throws -> T)
        async throws(PostgresPoolError) -> T
    {
        let (client, logger, limit) = (self.client, self.logger, limit ?? settings.timeout)
        do {
            return try await Deadline.run(within: limit) { try await body(client, logger) }
        } catch let error as Deadline.Expired {
            throw .database("PostgreSQL at \(settings.redacted) gave \(error)")
        } catch let error as PostgresSchemaError {
            throw .schema(error)
        } catch let error as PostgresTransactionError {
            if let decision = error.closureError, !(decision is PSQLError) { throw .decision(decision) }
            throw .database("PostgreSQL at \(settings.redacted): \(String(reflecting: error))")
        } catch let error as PSQLError {
            // PSQLError's description is deliberately generic; the reflection names the cause.
            throw .database("PostgreSQL at \(settings.redacted): \(String(reflecting: error))")
        } catch {
            throw .decision(error)
        }
    }

    /// ``run(_:_:)`` inside one transaction.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T)
        async throws(PostgresPoolError) -> T
    {
        try await run { client, logger in
            try await client.withTransaction(logger: logger) { tx in try await body(tx, logger) }
        }
    }
}

/// Why a pooled call did not give its answer.
public enum PostgresPoolError: Error, CustomStringConvertible {
    /// The database did not answer by the deadline, or answered with an error.
    case database(String)
    /// The schema is not the one this binary needs.
    case schema(PostgresSchemaError)
    /// The body's own error, passed through.
    case decision(any Error)

    public var description: String {
        switch self {
        case .database(let detail): detail
        case .schema(let error): error.description
        case .decision(let error): "\(error)"
        }
    }
}
