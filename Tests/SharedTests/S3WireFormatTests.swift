import Foundation
import NIOCore
import Testing

@testable import Shared

/// The S3 client's pure parts, without a server: its XML parser, the answers it reads, the
/// requests it addresses and signs, its settings and credentials file, and the retry waits.
/// (S3ClientTests in StorageNodeTests runs it against a real SeaweedFS.)
struct S3WireFormatTests {
    static let credentials = SigV4Credentials(accessKeyID: "AKIDEXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")

    static func settings(_ endpoint: String = "http://127.0.0.1:9000", bucket: String = "blobs", addressing: S3Addressing = .path) throws
        -> S3Settings
    {
        try S3Settings(endpoint: URL(string: endpoint)!, bucket: bucket, credentials: credentials, addressing: addressing)
    }

    // MARK: XML

    @Test func listingParsesWithNamespaceEntitiesAndCDATA() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment -->
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Name>blobs</Name><IsTruncated>true</IsTruncated>
              <NextContinuationToken>a/b+c=</NextContinuationToken>
              <Contents><Key> a&amp;b &lt;c&gt; &#x263A;&#65;</Key><LastModified>2026-12-02T07:41:43.250Z</LastModified>
                <ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size><StorageClass/></Contents>
              <Contents><Key><![CDATA[x<y>]]></Key><LastModified>2026-12-02T07:41:44Z</LastModified><Size>12</Size></Contents>
            </ListBucketResult>
            """
        let page = try S3ListPage.parse(try S3XML.parse(Array(xml.utf8)))
        #expect(page.objects.map(\.key) == [" a&b <c> \u{263A}A", "x<y>"])
        #expect(page.objects.map(\.size) == [0, 12])
        #expect(page.objects[0].etag == "\"d41d8cd98f00b204e9800998ecf8427e\"")
        #expect(page.objects[0].lastModified == Date(timeIntervalSince1970: 1_796_197_303.25))
        #expect(page.nextContinuationToken == "a/b+c=")

        let untruncated =
            "<ListBucketResult><IsTruncated>false</IsTruncated><NextContinuationToken>t</NextContinuationToken></ListBucketResult>"
        #expect(try S3ListPage.parse(try S3XML.parse(Array(untruncated.utf8))).nextContinuationToken == nil)
        let endless = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"
        #expect(throws: S3Error.self) { try S3ListPage.parse(try S3XML.parse(Array(endless.utf8))) }
    }

    @Test func malformedOrDangerousXMLIsRefused() {
        let refused = [
            "", "<a>", "<a></b>", "<a><b></a></b>", "<a>x</a>trailing", "<a>&unknown;</a>", "<a>&#0;</a>", "<a b=\"<\"/>",
            "<!DOCTYPE a [<!ENTITY x \"boom\">]><a>&x;</a>", "<a><!DOCTYPE b></a>", "<a>" + String(repeating: "<b>", count: 40),
        ]
        for text in refused {
            #expect(throws: S3XML.ParseError.self, "\(text.prefix(40))") { try S3XML.parse(Array(text.utf8)) }
        }
        let deep = String(repeating: "<b>", count: 33) + String(repeating: "</b>", count: 33)
        #expect(throws: S3XML.ParseError.self) { try S3XML.parse(Array(deep.utf8)) }
        #expect(throws: Never.self) { try S3XML.parse(Array("\u{FEFF}<a x='1' y=\"2\"><b/>t</a>".utf8)) }
    }

    @Test func errorAnswersBecomeTypedErrors() throws {
        let settings = try Self.settings()
        let get = S3Request(operation: "GetObject", method: .GET, key: "k")
        func error(_ status: Int, _ code: String?, _ request: S3Request? = nil) -> S3Error {
            let body = code.map { "<Error><Code>\($0)</Code><Message>secret detail</Message></Error>" } ?? ""
            return S3ErrorAnswer(status: status, headers: [:], body: ByteBuffer(string: body)).error(
                for: request ?? get, settings: settings)
        }
        #expect(error(404, "NoSuchKey") == .noSuchKey("k"))
        #expect(error(404, "NoSuchBucket") == .noSuchBucket("blobs"))
        #expect(error(404, nil) == .noSuchKey("k"))  // a HEAD's 404
        #expect(error(403, "SignatureDoesNotMatch") == .signatureDoesNotMatch("SignatureDoesNotMatch"))
        #expect(error(403, "InvalidAccessKeyId") == .accessDenied("InvalidAccessKeyId"))
        #expect(error(403, nil) == .accessDenied("HTTP 403"))
        #expect(error(503, "SlowDown") == .slowDown)
        #expect(error(416, "InvalidRange") == .invalidRange)
        #expect(error(500, "InternalError") == .server(status: 500, code: "InternalError"))
        #expect(error(502, "<script>") == .server(status: 502, code: "no error code"))
        #expect(error(500, "InternalError").isRetryable && error(503, "SlowDown").isRetryable)
        #expect(!error(403, "SignatureDoesNotMatch").isRetryable && !error(400, "InvalidArgument").isRetryable)
        #expect(!error(409, "BucketAlreadyExists").description.contains("secret detail"))
        // CompleteMultipartUpload's failure inside a 200.
        let ok = S3ErrorAnswer(okBody: ByteBuffer(string: "<Error><Code>InternalError</Code></Error>"), headers: [:])
        #expect(ok?.error(for: get, settings: settings) == .server(status: 500, code: "InternalError"))
        #expect(S3ErrorAnswer(okBody: ByteBuffer(string: "<CompleteMultipartUploadResult/>"), headers: [:]) == nil)
    }

    @Test func contentRangeAndTimestamps() {
        #expect(S3ObjectStream.parseContentRange("bytes 0-0/10")! == (0..<1, 10))
        #expect(S3ObjectStream.parseContentRange("bytes 5-9/10")! == (5..<10, 10))
        for bad in ["bytes 5-4/10", "bytes 0-10/10", "bytes */10", "bytes 0-1/*", "items 0-1/2", "bytes -1-2/5"] {
            #expect(S3ObjectStream.parseContentRange(bad) == nil, "\(bad)")
        }
        #expect(S3Timestamp.iso8601("2026-12-02T07:41:43Z") == Date(timeIntervalSince1970: 1_796_197_303))
        #expect(S3Timestamp.iso8601("2026-12-02T07:41:43.5Z") == Date(timeIntervalSince1970: 1_796_197_303.5))
        #expect(S3Timestamp.httpDate("Wed, 02 Dec 2026 07:41:43 GMT") == Date(timeIntervalSince1970: 1_796_197_303))
        for bad in ["2026-02-30T00:00:00Z", "2026-12-02T07:41:43+01:00", "2026-12-02 07:41:43Z", "2026-12-02T07:41:43.Z"] {
            #expect(S3Timestamp.iso8601(bad) == nil, "\(bad)")
        }
        #expect(S3Timestamp.httpDate("Wed, 02 Foo 2026 07:41:43 GMT") == nil)
    }

    // MARK: Requests

    @Test func requestsAreAddressedAndSignedAsSent() throws {
        let request = S3Request(
            operation: "ListObjectsV2", method: .GET, key: nil, query: [("list-type", "2"), ("prefix", "a b/ü"), ("uploads", nil)])
        let path = request.target(try Self.settings())
        #expect(path.url == "http://127.0.0.1:9000/blobs?list-type=2&prefix=a%20b%2F%C3%BC&uploads")
        #expect(path.host == "127.0.0.1:9000")
        let put = S3Request(operation: "PutObject", method: .PUT, key: "dir/a+b c", body: ByteBuffer(string: "hello"))
        let virtual = put.target(try Self.settings("https://s3.example.com", addressing: .virtualHost))
        #expect(virtual.url == "https://blobs.s3.example.com/dir/a%2Bb%20c")
        #expect(virtual.host == "blobs.s3.example.com")
        #expect(put.payloadHash == SigV4Payload.hash(Array("hello".utf8)))

        // The verifier of this module accepts what the client signs, body hash included.
        let settings = try Self.settings()
        let signer = SigV4Signer(credentials: Self.credentials, region: "us-east-1", service: "s3", normalizePath: false)
        let now = Date()
        let signed = try put.signed(with: signer, settings: settings, date: now)
        let target = put.target(settings)
        let received = SigV4Request(
            method: "PUT", path: target.path, query: target.query, headers: signed.headers.map { (name: $0.name, value: $0.value) })
        let verifier = SigV4Verifier(service: "s3", normalizePath: false) { $0 == "AKIDEXAMPLE" ? Self.credentials.secret : nil }
        let verified = try verifier.verify(received, payloadHash: SigV4Payload.hash(Array("hello".utf8)), now: now)
        #expect(verified.signedHeaders == ["host", "x-amz-content-sha256", "x-amz-date"])
    }

    // MARK: Settings

    @Test func settingsRefuseWhatCannotWork() throws {
        #expect(throws: S3SettingsError.self) { try Self.settings("ftp://host") }
        #expect(throws: S3SettingsError.self) { try Self.settings("http://host/blobs") }
        #expect(throws: S3SettingsError.self) { try Self.settings("http://user:pw@host") }
        for bucket in ["ab", "Blobs", "-blobs", "blobs-", "a..b", "192.168.1.1", String(repeating: "a", count: 64), "blob_s"] {
            #expect(throws: S3SettingsError.self, "\(bucket)") { try Self.settings(bucket: bucket) }
        }
        #expect(throws: S3SettingsError.self) { try Self.settings("https://s3.example.com", bucket: "a.b", addressing: .virtualHost) }
        _ = try Self.settings("https://s3.example.com", bucket: "a.b", addressing: .path)
        #expect(throws: S3SettingsError.self) {
            try S3Settings(endpoint: URL(string: "http://h")!, bucket: "blobs", credentials: Self.credentials, caFile: "/etc/hostname")
        }
    }

    @Test func credentialsFile() throws {
        let parsed = try S3Credentials.parse(Array("AKID123 s3cr/et+x\n".utf8), path: "f")
        #expect(parsed.accessKeyID == "AKID123" && parsed.secret == Array("s3cr/et+x".utf8))
        for bad in ["", "AKID", "AKID secret extra", "AKID secret\nsecond line", "AK/ID secret", "AKID sécret"] {
            #expect(throws: S3SettingsError.self, "\(bad)") { try S3Credentials.parse(Array(bad.utf8), path: "f") }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s3-credentials-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent(S3Credentials.fileName)
        try SecretFile.write(Array("AKID123 secret\n".utf8), to: file.path)
        #expect(try S3Credentials.load(file: nil, environment: ["CREDENTIALS_DIRECTORY": dir.path]).accessKeyID == "AKID123")
        #expect(throws: S3SettingsError.noCredentials) { try S3Credentials.load(file: nil, environment: [:]) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let error = #expect(throws: S3SettingsError.self) { try S3Credentials.load(file: file.path) }
        #expect(error?.description.contains("chmod 600") == true)
        #expect(error?.description.contains("AKID123 secret") == false, "the file's content stays out of the message")
    }

    @Test func retryWaitsGrowWithFullJitterAndACap() {
        let policy = S3RetryPolicy()
        #expect(policy.maximumRetries == 4 && policy.totalTime == .seconds(10))
        #expect(
            (1...7).map(policy.delayBound(beforeRetry:)) == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .seconds(2),
                .seconds(2),
            ])
        var generator = SystemRandomNumberGenerator()
        let waits = (0..<1000).map { _ in policy.delay(beforeRetry: 3, using: &generator) }
        #expect(waits.allSatisfy { $0 >= .zero && $0 <= .milliseconds(400) })
        #expect(waits.min()! < .milliseconds(40) && waits.max()! > .milliseconds(360), "spread over the whole interval")
        #expect(S3RetryPolicy(maximumRetries: -3).maximumRetries == 0)
    }
}
