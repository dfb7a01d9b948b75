import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Testing

@testable import Shared

/// The public listener (XKS proxy API, S3) as the real `openssl s_client` and `curl` see it:
/// TLS 1.2 with the ECDHE AEAD suites and TLS 1.3 only, HTTP/1.1 only, the optional client
/// certificate check of the XKS specification (CA and subject name), the connection cap and
/// the handshake timeout. Certificates come from `scripts/make-test-certs` (the openssl CLI).
///
/// Serialized: in parallel the tools' processes and the debug-built handshakes contend for the
/// cores, the whole suite takes longer (about 6 s against 2.5 s) and the handshake timeout's
/// measured time turns to noise.
@Suite(.serialized)
struct PublicTLSListenerTests {
    static let kms = "cks.kms.eu-west-1.amazonaws.com"

    // MARK: Protocol versions, suites, ALPN

    @Test func tls12WithTheXKSSuiteAndTLS13AreAcceptedOlderAndWeakerAreNot() async throws {
        let pki = try PKI.shared.get()
        try await Listener.run(settings: pki.settings()) { listener in
            let tls12 = try await listener.sClient(["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"])
            #expect(tls12.output.contains("New, TLSv1.2, Cipher is ECDHE-RSA-AES256-GCM-SHA384"), "\(tls12.output)")
            #expect(tls12.output.contains("HTTP/1.1 200"), "\(tls12.output)")
            let chacha = try await listener.sClient(["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"])
            #expect(chacha.output.contains("HTTP/1.1 200"), "\(chacha.output)")
            for suite in ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] {
                let tls13 = try await listener.sClient(["-tls1_3", "-ciphersuites", suite])
                #expect(tls13.output.contains("New, TLSv1.3, Cipher is \(suite)"), "\(tls13.output)")
                #expect(tls13.output.contains("HTTP/1.1 200"), "\(tls13.output)")
            }
            // SECLEVEL=0 so the client really offers TLS 1.1 and the refusal is the server's.
            let tls11 = try await listener.sClient(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
            #expect(tls11.status != 0)
            #expect(!tls11.output.contains("HTTP/1.1 200"))
            #expect(tls11.output.contains("protocol version"), "\(tls11.output)")
            // CBC, and static RSA key exchange (no forward secrecy), under TLS 1.2.
            for weak in ["ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384"] {
                let refused = try await listener.sClient(["-tls1_2", "-cipher", weak])
                #expect(refused.status != 0, "\(weak) was accepted")
                #expect(!refused.output.contains("HTTP/1.1 200"), "\(weak) was accepted")
            }
        }
    }

    @Test func onlyHTTP11IsOfferedAndCurlFallsBackToIt() async throws {
        let pki = try PKI.shared.get()
        try await Listener.run(settings: pki.settings()) { listener in
            let h2 = try await listener.sClient(["-alpn", "h2"])
            #expect(h2.output.contains("No ALPN negotiated"), "\(h2.output)")
            #expect(h2.output.contains("HTTP/1.1 200"), "\(h2.output)")
            let both = try await listener.sClient(["-alpn", "h2,http/1.1"])
            #expect(both.output.contains("ALPN protocol: http/1.1"), "\(both.output)")
            let curl = try await listener.curl(["--http2"])
            #expect(curl.status == 0, "\(curl.output)")
            #expect(curl.output.hasSuffix("ok\n1.1 200"), "\(curl.output)")
        }
    }

    @Test func minimumTLS13RefusesTLS12() async throws {
        let pki = try PKI.shared.get()
        try await Listener.run(settings: pki.settings(minimumVersion: .tlsv13)) { listener in
            let tls12 = try await listener.sClient(["-tls1_2"])
            #expect(tls12.status != 0)
            #expect(!tls12.output.contains("HTTP/1.1 200"))
            let tls13 = try await listener.sClient(["-tls1_3"])
            #expect(tls13.output.contains("HTTP/1.1 200"), "\(tls13.output)")
            let curl = try await listener.curl([])
            #expect(curl.output.hasSuffix("ok\n1.1 200"), "\(curl.output)")
        }
    }

    // MARK: Optional mutual TLS

    @Test func withoutClientCAThereIsNoClientSubject() async throws {
        let pki = try PKI.shared.get()
        try await Listener.run(settings: pki.settings()) { listener in
            // A certificate offered unasked is not requested, so it is never seen.
            let curl = try await listener.curl(["--cert", pki.path("kms.pem"), "--key", pki.path("kms-key.pem")], path: "/whoami")
            #expect(curl.output.hasSuffix("none\n1.1 200"), "\(curl.output)")
        }
    }

    @Test func clientCertificateMustChainToTheCAAndCarryAnAllowedSubject() async throws {
        let pki = try PKI.shared.get()
        let settings = pki.settings(clientCA: pki.path("ca.pem"), allowedClientSubjects: [Self.kms])
        try await Listener.run(settings: settings) { listener in
            let good = try await listener.curl(["--cert", pki.path("kms.pem"), "--key", pki.path("kms-key.pem")], path: "/whoami")
            #expect(good.status == 0, "\(good.output)")
            #expect(good.output.hasSuffix("\(Self.kms)\n1.1 200"), "\(good.output)")
            // TLS 1.2 too, where the certificate check happens before the server's Finished.
            let good12 = try await listener.curl(
                ["--tls-max", "1.2", "--cert", pki.path("kms.pem"), "--key", pki.path("kms-key.pem")], path: "/whoami")
            #expect(good12.output.hasSuffix("\(Self.kms)\n1.1 200"), "\(good12.output)")

            let none = try await listener.curl([])
            #expect(none.status != 0)
            #expect(!none.output.contains("ok"), "\(none.output)")
            for (name, reason) in [
                ("stranger", "CN=someone.example.com is not one of the allowed subjects"),
                ("impostor", "no chain to the configured client CA"), ("kms-server-eku", "lacks clientAuth"),
            ] {
                for tlsMax in ["1.2", "1.3"] {
                    let refused = try await listener.curl(
                        ["--tls-max", tlsMax, "--cert", pki.path("\(name).pem"), "--key", pki.path("\(name)-key.pem")])
                    #expect(refused.status != 0, "\(name) accepted under TLS \(tlsMax)")
                    #expect(!refused.output.contains("ok"), "\(name) under TLS \(tlsMax): \(refused.output)")
                }
                #expect(
                    listener.log.contains {
                        $0.level == .notice && $0.message == "refused client certificate" && $0.reason.contains(reason)
                    }, "\(name): \(listener.log)")
            }
            let refusals = listener.log.filter { $0.message == "refused client certificate" }
            #expect(refusals.count == 6, "\(refusals)")
            #expect(refusals.allSatisfy { $0.level == .notice && $0.peerAddress.contains("127.0.0.1") })
        }
    }

    /// A resumed session skips the certificate check (it passed when the session was made) and
    /// sends no certificate; the handler still sees the subject.
    @Test func aResumedSessionKeepsItsClientSubject() async throws {
        let pki = try PKI.shared.get()
        let settings = pki.settings(clientCA: pki.path("ca.pem"), allowedClientSubjects: [Self.kms])
        try await Listener.run(settings: settings) { listener in
            for version in ["1_2", "1_3"] {
                let session = pki.path("session-\(version)-\(listener.port).pem")
                let first = try await listener.sClient(
                    ["-tls\(version)", "-cert", pki.path("kms.pem"), "-key", pki.path("kms-key.pem"), "-sess_out", session],
                    path: "/whoami")
                #expect(first.output.contains("\r\n\r\n\(Self.kms)"), "\(first.output)")
                let resumed = try await listener.sClient(["-tls\(version)", "-sess_in", session], path: "/whoami")
                #expect(resumed.output.contains("Reused, TLSv1."), "\(resumed.output)")
                #expect(resumed.output.contains("\r\n\r\n\(Self.kms)"), "\(resumed.output)")
            }
            // A reload (same settings, a new context) ends resumption: the client must present
            // its certificate again, and this one has none at hand.
            let session = pki.path("session-reload-\(listener.port).pem")
            let made = try await listener.sClient(
                ["-tls1_3", "-cert", pki.path("kms.pem"), "-key", pki.path("kms-key.pem"), "-sess_out", session], path: "/whoami")
            #expect(made.output.contains("\r\n\r\n\(Self.kms)"), "\(made.output)")
            listener.store.replace(with: try PublicTLS(settings: settings))
            let afterReload = try await listener.sClient(["-tls1_3", "-sess_in", session], path: "/whoami")
            #expect(!afterReload.output.contains("Reused,"), "\(afterReload.output)")
            #expect(!afterReload.output.contains(Self.kms), "\(afterReload.output)")
        }
    }

    // MARK: Connections

    @Test func aConnectionThatSendsNothingIsClosedByTheHandshakeTimeout() async throws {
        let pki = try PKI.shared.get()
        let registry = ConnectionRegistry()
        try await Listener.run(settings: pki.settings(), registry: registry, handshakeTimeout: .seconds(1)) { listener in
            let start = ContinuousClock.now
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: listener.port).get()
            // Polled rather than awaited, to also see when the server accepted the connection.
            var accepted: Duration?
            while channel.isActive && ContinuousClock.now - start < .seconds(10) {
                if accepted == nil && registry.count == 1 { accepted = ContinuousClock.now - start }
                try await Task.sleep(for: .milliseconds(10))
            }
            let elapsed = ContinuousClock.now - start
            print("handshake timeout 1 s: accepted after \(accepted.map { "\($0)" } ?? "?"), closed after \(elapsed)")
            #expect(!channel.isActive, "still open after \(elapsed)")
            #expect(elapsed >= .milliseconds(900))
            if channel.isActive { try await channel.close() }
        }
    }

    @Test func overTheCapAConnectionIsClosedAtOnce() async throws {
        let pki = try PKI.shared.get()
        let registry = ConnectionRegistry(maxConnections: 1)
        try await Listener.run(settings: pki.settings(), registry: registry) { listener in
            let holder = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: listener.port).get()
            let deadline = ContinuousClock.now + .seconds(5)
            while registry.count < 1 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(registry.count == 1)
            let refused = try await listener.curl([])
            #expect(refused.status != 0, "\(refused.output)")
            #expect(listener.log.contains { $0.message == "connection refused: at the connection limit" })
            try await holder.close()
            while registry.count > 0 && ContinuousClock.now < deadline + .seconds(5) { try await Task.sleep(for: .milliseconds(10)) }
            let accepted = try await listener.curl([])
            #expect(accepted.output.hasSuffix("ok\n1.1 200"), "\(accepted.output)")
        }
    }

    // MARK: Setup and verifier

    @Test func inconsistentSettingsAreRefusedWithTheSettingToFix() throws {
        let pki = try PKI.shared.get()
        #expect {
            try PublicTLS(settings: pki.settings(clientCA: pki.path("ca.pem")))
        } throws: { error in
            guard case .clientCAWithoutSubjects = error as? PublicTLSSetupError else { return false }
            return "\(error)".contains("cks.kms.<region>.amazonaws.com")
        }
        #expect {
            try PublicTLS(settings: pki.settings(allowedClientSubjects: [Self.kms]))
        } throws: { error in
            guard case .clientSubjectsWithoutCA = error as? PublicTLSSetupError else { return false }
            return true
        }
        #expect {
            try PublicTLS(settings: pki.settings(clientCA: pki.path("ca.pem"), allowedClientSubjects: [" \(Self.kms)"]))
        } throws: { error in
            guard case .invalidClientSubject = error as? PublicTLSSetupError else { return false }
            return true
        }
        #expect {
            try PublicTLS(settings: pki.settings(clientCA: pki.path("missing.pem"), allowedClientSubjects: [Self.kms]))
        } throws: { error in
            guard case .tls(.unreadable(let path, _, _)) = error as? PublicTLSSetupError else { return false }
            return path.hasSuffix("missing.pem")
        }
        // The server key must not be readable by others.
        let loose = pki.path("loose-key.pem")
        try? FileManager.default.removeItem(atPath: loose)
        try FileManager.default.copyItem(atPath: pki.path("server-key.pem"), toPath: loose)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: loose)
        #expect {
            try PublicTLS(settings: PublicTLSSettings(certificate: pki.path("server.pem"), privateKey: loose))
        } throws: { error in
            guard case .tls(.unreadable(let path, "private key", _)) = error as? PublicTLSSetupError else { return false }
            return path == loose
        }
        // A key that is not the certificate's.
        #expect {
            try PublicTLS(settings: PublicTLSSettings(certificate: pki.path("server.pem"), privateKey: pki.path("kms-key.pem")))
        } throws: { error in
            guard case .tls(.contextCreation) = error as? PublicTLSSetupError else { return false }
            return true
        }
    }

    /// A leaf that states no purpose may authenticate a client; one that states others may not.
    @Test func clientAuthIsRequiredOnlyIfTheLeafStatesItsPurposes() async throws {
        let pki = try PKI.shared.get()
        let tls = try PublicTLS(settings: pki.settings(clientCA: pki.path("ca.pem"), allowedClientSubjects: [Self.kms]))
        let verifier = try #require(tls.verifier)
        func outcome(_ name: String) async throws -> PublicClientCertificateVerifier.Outcome {
            await verifier.verify(presented: try NIOSSLCertificate.fromPEMFile(pki.path("\(name).pem")))
        }
        guard case .verified(_, let subject) = try await outcome("kms-no-eku") else {
            Issue.record("a leaf without extendedKeyUsage was refused")
            return
        }
        #expect(subject == Self.kms)
        guard case .refused(let reason) = try await outcome("kms-server-eku") else {
            Issue.record("a serverAuth-only leaf was accepted")
            return
        }
        #expect(reason.contains("lacks clientAuth"))
        guard case .refused(let none) = await verifier.verify(presented: []) else {
            Issue.record("an empty chain was accepted")
            return
        }
        #expect(none.contains("no certificate"))
    }
}

// MARK: - Test support

extension PublicTLSListenerTests {
    /// The certificates of `scripts/make-test-certs`, made once per test process.
    struct PKI: Sendable {
        let dir: URL

        static let shared = Result<PKI, any Error> {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("splitkey-tests")
                .appendingPathComponent("public-tls-\(UUID().uuidString.prefix(8))")
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scripts/make-test-certs")
            let result = try Tool.runSync(script.path, [dir.path])
            guard result.status == 0 else { throw PublicTLSTestFailure("make-test-certs failed: \(result.output)") }
            return PKI(dir: dir)
        }

        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        func settings(
            minimumVersion: PublicTLSSettings.MinimumVersion = .tlsv12, clientCA: String? = nil, allowedClientSubjects: [String] = []
        ) -> PublicTLSSettings {
            PublicTLSSettings(
                certificate: path("server.pem"), privateKey: path("server-key.pem"), minimumVersion: minimumVersion,
                clientCA: clientCA, allowedClientSubjects: allowedClientSubjects)
        }
    }

    /// A request context of the test's own, not SplitKeyRequestContext: the builder must serve
    /// any. It keeps the connection channel to read the client subject from.
    struct PublicTestContext: RequestContext {
        var coreContext: CoreRequestContextStorage
        let channel: any Channel

        init(source: ApplicationRequestContextSource) {
            self.coreContext = .init(source: source)
            self.channel = source.channel
        }
    }

    /// A public listener on a kernel-chosen loopback port, run in-process for one test.
    struct Listener: Sendable {
        let port: Int
        let pki: PKI
        let store: PublicTLSStore
        let capture: LogCapture

        var log: [LogCapture.Line] { capture.lines }

        static func run(
            settings: PublicTLSSettings,
            registry: ConnectionRegistry = ConnectionRegistry(),
            handshakeTimeout: Duration = .seconds(5),
            _ body: (Listener) async throws -> Void
        ) async throws {
            let pki = try PKI.shared.get()
            let store = PublicTLSStore(try PublicTLS(settings: settings))
            let capture = LogCapture()
            let channelLogger = Logger(label: "public-tls-test") { _ in capture.handler() }
            var quiet = Logger(label: "public-tls-test-app")
            quiet.logLevel = .critical
            let router = Router(context: PublicTestContext.self)
            router.get("/") { _, _ in "ok" }
            router.get("/whoami") { _, context in await PublicTLSHTTPChannel.clientSubject(of: context.channel) ?? "none" }
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let app = Application(
                router: router,
                server: PublicTLSHTTPChannel.builder(
                    store: store, registry: registry, idleTimeout: .seconds(30), handshakeTimeout: handshakeTimeout, logger: channelLogger),
                configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
                onServerRunning: { channel in
                    portContinuation.yield(channel.localAddress?.port ?? 0)
                    portContinuation.finish()
                },
                logger: quiet
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next(), port != 0 else { throw PublicTLSTestFailure("the listener did not start") }
                do {
                    try await body(Listener(port: port, pki: pki, store: store, capture: capture))
                } catch {
                    group.cancelAll()
                    throw error
                }
                group.cancelAll()
            }
        }

        /// `openssl s_client` sending one HTTP/1.1 request that asks the server to close.
        func sClient(_ arguments: [String], path: String = "/") async throws -> Tool.Result {
            try await Tool.run(
                "/usr/bin/env",
                [
                    "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-CAfile", pki.path("ca.pem"),
                    "-ign_eof",
                ]
                    + arguments,
                stdin: "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        }

        /// `curl`, printing the body, then a line with the HTTP version and status.
        func curl(_ arguments: [String], path: String = "/") async throws -> Tool.Result {
            try await Tool.run(
                "/usr/bin/env",
                [
                    "curl", "-sS", "--noproxy", "*", "--max-time", "10", "--cacert", pki.path("ca.pem"),
                    "--resolve", "localhost:\(port):127.0.0.1", "-w", "\n%{http_version} %{http_code}",
                ] + arguments + ["https://localhost:\(port)\(path)"])
        }
    }

    /// Runs a command line tool with its output captured in a file (no pipe to fill up).
    enum Tool {
        struct Result: Sendable {
            var status: Int32
            var output: String
        }

        static func run(_ executable: String, _ arguments: [String], stdin: String = "") async throws -> Result {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Swift.Result { try runSync(executable, arguments, stdin: stdin) })
                }
            }
        }

        static func runSync(_ executable: String, _ arguments: [String], stdin: String = "") throws -> Result {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("splitkey-tests")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let id = UUID().uuidString.prefix(8)
            let outURL = dir.appendingPathComponent("tool-\(id).out")
            let inURL = dir.appendingPathComponent("tool-\(id).in")
            defer {
                try? FileManager.default.removeItem(at: outURL)
                try? FileManager.default.removeItem(at: inURL)
            }
            try Data(stdin.utf8).write(to: inURL)
            _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
            let out = try FileHandle(forWritingTo: outURL)
            let input = try FileHandle(forReadingFrom: inURL)
            defer {
                try? out.close()
                try? input.close()
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardOutput = out
            process.standardError = out
            process.standardInput = input
            try process.run()
            // Every tool is bounded (curl --max-time, the server closes); this is a last resort.
            let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
            DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
            process.waitUntilExit()
            watchdog.cancel()
            return Result(status: process.terminationStatus, output: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "")
        }
    }

    /// The log lines of the listener, to check what the operator would see.
    final class LogCapture: Sendable {
        struct Line: Sendable, CustomStringConvertible {
            var level: Logger.Level
            var message: String
            var metadata: [String: String]
            var reason: String { metadata["reason"] ?? "" }
            var peerAddress: String { metadata["peer.address"] ?? "" }
            var description: String { "\(level) \(message) \(metadata)" }
        }

        private let box = NIOLockedValueBox<[Line]>([])

        var lines: [Line] { box.withLockedValue { $0 } }

        func handler() -> Handler { Handler(capture: self) }

        struct Handler: LogHandler {
            let capture: LogCapture
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(event: LogEvent) {
                let fields = metadata.merging(event.metadata ?? [:]) { _, new in new }.mapValues { "\($0)" }
                capture.box.withLockedValue { $0.append(Line(level: event.level, message: "\(event.message)", metadata: fields)) }
            }
        }
    }

    struct PublicTLSTestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
