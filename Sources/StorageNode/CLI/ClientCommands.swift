import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// Options every client command shares: where the node is and which certificate to present.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "StorageNode base URL.")
    var url = "https://localhost:9443"
    @Option(name: .long, help: "Client certificate (PEM) naming the user.")
    var cert: String
    @Option(name: .long, help: "Private key of the client certificate (PEM, mode 0600).")
    var key: String
    @Option(name: .long, help: "CA bundle that issued the node's certificate.")
    var ca: String
    @Option(
        name: .long,
        help: ArgumentHelp(
            "SPIFFE ID the node's certificate must carry (ID, or ID/* for any below it).",
            discussion: "Default: spiffe://TD/node/* in the trust domain TD of --cert."))
    var nodeIdentity: String?

    func withClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        let files = try TLSFiles(certificate: cert, privateKey: key, ca: ca).load()
        var configuration = HTTPClient.Configuration(tlsConfiguration: .splitKeyClient(files))
        // Only a StorageNode may get the request (and the object): not the KeyService or any
        // other server certificate of the same CA. A refused server is not retried.
        ServerIdentityCheck(expected: try expectedNodeIdentity(files), roots: files.roots).install(on: &configuration)
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// `--node-identity`, or every node of the trust domain of the user's own certificate.
    func expectedNodeIdentity(_ files: LoadedTLSFiles) throws -> SPIFFEIDPattern {
        if let nodeIdentity {
            guard let pattern = SPIFFEIDPattern(nodeIdentity) else {
                throw ValidationError("--node-identity '\(nodeIdentity)' is not a SPIFFE ID (or one ending in /*)")
            }
            return pattern
        }
        guard let domain = files.ownTrustDomain, let pattern = SPIFFEIDPattern("spiffe://\(domain)/node/*")
        else {
            throw ValidationError("\(cert) has no SPIFFE ID to take the trust domain from; pass --node-identity")
        }
        return pattern
    }

    func objectURL(_ key: String) -> String {
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "%?#"))
        return url + StorageNodeAPI.Path.objects + "/" + (key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key)
    }
}

/// A refusal from the node, printed as its error code and message.
struct ClientError: Error, CustomStringConvertible {
    var description: String

    static func from(status: HTTPResponseStatus, body: ByteBuffer) -> ClientError {
        if let error = try? JSONDecoder().decode(ErrorBody.self, from: Data(buffer: body)) {
            return ClientError(description: "\(status.code) \(error.error.code): \(error.error.message) (request \(error.error.requestId))")
        }
        return ClientError(description: "\(status.code) \(status.reasonPhrase)")
    }
}

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Store a file (or stdin with '-') as an object.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Object key.") var objectKey: String
    @Argument(help: "File to upload, or '-' for standard input.") var file: String

    func run() async throws {
        let handle = file == "-" ? FileHandle.standardInput : try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        let size = file == "-" ? nil : (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value
        // Read lazily, 1 MiB at a time, so memory stays flat for any file size.
        let chunks = AsyncThrowingStream<ByteBuffer, any Error> {
            guard let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else { return nil }
            return ByteBuffer(bytes: data)
        }
        try await options.withClient { client in
            var request = HTTPClientRequest(url: options.objectURL(objectKey))
            request.method = .PUT
            request.body = .stream(chunks, length: size.map { .known($0) } ?? .unknown)
            let response = try await client.execute(request, timeout: .hours(1))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .created || response.status == .ok else { throw ClientError.from(status: response.status, body: body) }
            print(String(buffer: body))
        }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fetch an object (or a byte range of it) to a file or stdout.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Object key.") var objectKey: String
    @Option(name: .shortAndLong, help: "Output file; standard output if absent.") var output: String?
    @Option(name: .long, help: "Byte range, as in HTTP: START-END, START- or -SUFFIX.") var range: String?

    func run() async throws {
        try await options.withClient { client in
            var request = HTTPClientRequest(url: options.objectURL(objectKey))
            if let range { request.headers.add(name: "Range", value: "bytes=\(range)") }
            let response = try await client.execute(request, timeout: .hours(1))
            guard response.status == .ok || response.status == .partialContent else {
                throw ClientError.from(status: response.status, body: try await response.body.collect(upTo: 1 << 20))
            }
            let out: FileHandle
            if let output {
                FileManager.default.createFile(atPath: output, contents: nil)
                out = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            } else {
                out = FileHandle.standardOutput
            }
            var received: Int64 = 0
            for try await buffer in response.body {
                received += Int64(buffer.readableBytes)
                try out.write(contentsOf: Data(buffer: buffer))
            }
            if let expected = response.headers.first(name: "Content-Length").flatMap({ Int64($0) }), expected != received {
                throw ClientError(
                    description: "the node stopped after \(received) of \(expected) bytes (integrity failure or connection loss)")
            }
            try out.synchronize()
        }
    }
}

struct Head: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an object's size, ETag and date.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Object key.") var objectKey: String

    func run() async throws {
        try await options.withClient { client in
            var request = HTTPClientRequest(url: options.objectURL(objectKey))
            request.method = .HEAD
            let response = try await client.execute(request, timeout: .seconds(60))
            guard response.status == .ok else { throw ClientError(description: "\(response.status.code) \(response.status.reasonPhrase)") }
            for name in ["Content-Length", "ETag", "Last-Modified"] {
                print("\(name): \(response.headers.first(name: name) ?? "-")")
            }
        }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List objects, optionally under a prefix.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Key prefix.") var prefix: String = ""

    func run() async throws {
        try await options.withClient { client in
            var startAfter: String? = ""
            while let after = startAfter {
                var components = URLComponents(string: options.url + StorageNodeAPI.Path.objects)!
                components.queryItems = [URLQueryItem(name: "prefix", value: prefix), URLQueryItem(name: "start-after", value: after)]
                let response = try await client.execute(HTTPClientRequest(url: components.string!), timeout: .seconds(60))
                let body = try await response.body.collect(upTo: 16 << 20)
                guard response.status == .ok else { throw ClientError.from(status: response.status, body: body) }
                let page = try JSONDecoder().decode(StorageNodeAPI.ObjectList.self, from: Data(buffer: body))
                for object in page.objects {
                    print("\(object.lastModified)\t\(object.size)\t\(object.key)")
                }
                startAfter = page.nextStartAfter
            }
        }
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an object.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Object key.") var objectKey: String

    func run() async throws {
        try await options.withClient { client in
            var request = HTTPClientRequest(url: options.objectURL(objectKey))
            request.method = .DELETE
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .noContent else { throw ClientError.from(status: response.status, body: body) }
        }
    }
}
