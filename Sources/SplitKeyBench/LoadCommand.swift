import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// `splitkey-bench`: a closed-loop HTTP/1.1 load generator over TLS 1.3 that presents a client
/// certificate. wrk cannot present one and h2load has no option for it, so the benchmarks of a
/// mutual-TLS service and of its nginx reference both go through this one client: whatever it
/// costs, it costs both sides the same.
///
/// Each of `--connections` keep-alive connections sends one request, waits for the whole
/// response, records the latency and sends the next, until `--duration` seconds or `--requests`
/// requests in all, whichever comes first. Requests that start during `--warmup` are sent but
/// not counted. With several `--url`s, connection i goes to URL i mod N (round-robin), so one run
/// spreads its load over several servers (KeyService replicas). The result is one JSON object on
/// stdout.
///
/// An `http://` URL is sent over plain TCP (no certificate options needed for it); with
/// `--sigv4 CREDENTIALS` every request is signed with AWS Signature Version 4 for its own path
/// and time (``RequestSigner``), so the same client can load an S3 store that checks every
/// signature, as the reference of the StorageNode-on-S3 rows.
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "splitkey-bench",
        abstract: "Closed-loop HTTPS load with a client certificate; prints one JSON result."
    )

    @Option(
        name: .customLong("url"),
        help:
            "https://HOST:PORT/PATH; {n} in the path becomes a per-request sequence number. Repeatable: connections are spread round-robin over the URLs."
    )
    var urls: [String]

    @Option(help: "HTTP method.")
    var method: String = "GET"

    @Option(help: "File whose bytes are the request body of every request.")
    var bodyFile: String?

    @Option(name: .customLong("header"), help: "Extra request header, 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(help: "Concurrent keep-alive connections.")
    var connections: Int = 1

    @Option(help: "Upper bound on the measured time in seconds.")
    var duration: Double = 10

    @Option(help: "Upper bound on the number of measured requests (0: no bound but --duration).")
    var requests: Int = 0

    @Option(help: "Seconds of load before measuring starts.")
    var warmup: Double = 1

    @Option(help: "Client certificate chain (PEM); required for https:// URLs.")
    var cert: String?

    @Option(help: "Client private key (PEM); required for https:// URLs.")
    var key: String?

    @Option(help: "CA certificate the server's chain must lead to (PEM); required for https:// URLs.")
    var ca: String?

    @Option(
        name: .customLong("sigv4"),
        help: "Sign every request with AWS SigV4 using this file's 'ACCESS_KEY_ID SECRET' line (S3: path-style URLs, no query)."
    )
    var sigv4Credentials: String?

    @Option(name: .customLong("sigv4-region"), help: "SigV4 signing region.")
    var sigv4Region: String = "us-east-1"

    @Option(name: .customLong("sigv4-service"), help: "SigV4 service name.")
    var sigv4Service: String = "s3"

    @Option(help: "Name the server certificate must carry (default: the URL's host).")
    var serverName: String?

    @Option(help: "Status every response must have; others are counted as errors.")
    var expectStatus: Int = 200

    @Option(help: "Event loop threads of the load generator.")
    var threads: Int = 1

    @Option(help: "Label copied into the JSON result.")
    var label: String = ""

    func validate() throws {
        guard !urls.isEmpty else { throw ValidationError("at least one --url is required") }
        if urls.contains(where: { $0.hasPrefix("https://") }), cert == nil || key == nil || ca == nil {
            throw ValidationError("--cert, --key and --ca are required for https:// URLs")
        }
        if sigv4Credentials != nil, urls.contains(where: { $0.contains("?") }) {
            throw ValidationError("--sigv4 signs paths without a query; drop the '?...' from --url")
        }
    }

    mutating func run() async throws {
        let targets = try urls.map { try TargetURL(parsing: $0) }
        let body = try bodyFile.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? Data()
        let extraHeaders = try headers.map(Self.parseHeader)

        var sslContext: NIOSSLContext?
        if targets.contains(where: \.tls), let cert, let key, let ca {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv13
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            tls.trustRoots = .file(ca)
            sslContext = try NIOSSLContext(configuration: tls)
        }

        var plan = LoadPlan(
            targets: targets,
            serverName: serverName,
            method: method,
            body: body,
            headers: extraHeaders,
            expectStatus: expectStatus,
            warmup: .nanoseconds(Int64(warmup * 1e9)),
            measured: .nanoseconds(Int64(duration * 1e9)),
            maxRequests: requests
        )
        if let sigv4Credentials {
            plan.signer = try RequestSigner(credentialsFile: sigv4Credentials, region: sigv4Region, service: sigv4Service, body: body)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let result: LoadResult
        do {
            result = try await LoadRun(plan: plan, sslContext: sslContext, group: group)
                .run(connections: max(1, connections))
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        let report = LoadReport(label: label, plan: plan, connections: connections, result: result)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        if result.measuredRequests == 0 {
            throw ValidationError("no request completed in the measured window")
        }
    }

    private static func parseHeader(_ text: String) throws -> (String, String) {
        guard let colon = text.firstIndex(of: ":") else {
            throw ValidationError("header '\(text)' is not 'Name: value'")
        }
        let name = text[..<colon].trimmingCharacters(in: .whitespaces)
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        return (name, value)
    }
}
