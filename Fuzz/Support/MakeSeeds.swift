// Writes the seed corpora under Fuzz/Corpus/<target>/: small valid inputs (sealed under the keys of
// FuzzFixtures.swift, so the targets reach their success paths) and near-valid ones, each one
// mutation away from valid. Run with `scripts/fuzz seeds`; the output is deterministic except for
// the random nonces, salts and write ids, so re-running changes the valid seeds' bytes only.
import Crypto
import Foundation
import Shared

@main
enum MakeSeeds {
    static func main() throws {
        let root = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Fuzz/Corpus")
        try wrappedKeys(root.appendingPathComponent("WrappedKeyFuzz"))
        try objects(root.appendingPathComponent("ObjectFormatFuzz"))
        try requests(root.appendingPathComponent("RequestDecodersFuzz"))
        try auditTrail(root.appendingPathComponent("AuditTrailFuzz"))
        try xksRequests(root.appendingPathComponent("XKSRequestFuzz"))
        try s3Responses(root.appendingPathComponent("S3ResponseFuzz"))
    }

    static func write(_ dir: URL, _ name: String, _ bytes: [UInt8]) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: dir.appendingPathComponent(name))
    }

    static func wrap(user: String, kekVersion: UInt32 = 1) throws -> WrappedKey {
        try WrappedKey.wrap(
            dataKey: FuzzFixtures.dataKey, kek: FuzzFixtures.kek, userID: user, kekVersion: kekVersion,
            region: FuzzFixtures.region, context: FuzzFixtures.context)
    }

    static func wrappedKeys(_ dir: URL) throws {
        let valid = try wrap(user: FuzzFixtures.userID).encoded()
        try write(dir, "valid-alice", valid)
        try write(dir, "valid-longest-user", try wrap(user: String(repeating: "u", count: 128), kekVersion: 7).encoded())
        try write(dir, "valid-utf8-user", try wrap(user: "zoë@example", kekVersion: .max).encoded())
        try write(dir, "truncated-tag", Array(valid.dropLast()))
        try write(dir, "trailing-byte", valid + [0])
        var badVersion = valid; badVersion[4] = 2
        try write(dir, "version-2", badVersion)
        var kek0 = valid; for i in 12..<16 { kek0[i] = 0 }  // "SKWK" 01 0005 alice -> KEK version at 12
        try write(dir, "kek-version-0", kek0)
        var badUTF8 = valid; badUTF8[7] = 0xC3; badUTF8[8] = 0x28
        try write(dir, "user-not-utf8", badUTF8)
        var longLength = valid; longLength[5] = 0xFF
        try write(dir, "user-length-overruns", longLength)
        try write(dir, "empty-user", Array("SKWK".utf8) + [1, 0, 0] + Array(valid[12...]))
        try write(dir, "magic-only", Array("SKWK".utf8))
    }

    static func seal(_ plaintext: [UInt8], segmentSize: Int = 1024) throws -> [UInt8] {
        let header = ObjectHeader.fresh(segmentSize: segmentSize, dataKeyID: 1)
        var sealer = try ObjectSealer(
            dataKey: FuzzFixtures.dataKey, header: header, userID: FuzzFixtures.userID,
            objectKey: FuzzFixtures.objectKey)
        var out = try sealer.append(plaintext)
        out += try sealer.finish()
        return out
    }

    static func objects(_ dir: URL) throws {
        let text = Array("SplitKey fuzz seed. ".utf8)
        func plain(_ n: Int) -> [UInt8] { (0..<n).map { text[$0 % text.count] } }
        try write(dir, "valid-empty", try seal([]))
        try write(dir, "valid-1-byte", try seal(plain(1)))
        try write(dir, "valid-1-segment-full", try seal(plain(1024)))
        let three = try seal(plain(2100))
        try write(dir, "valid-3-segments", three)
        try write(dir, "valid-segment-2048", try seal(plain(3000), segmentSize: 2048))
        try write(dir, "header-only", Array(three.prefix(ObjectHeader.encodedSize)))
        try write(dir, "truncated-last-segment", Array(three.dropLast()))
        try write(dir, "extended", three + [0])
        var flipped = three; flipped[ObjectHeader.encodedSize + 5] ^= 0x80
        try write(dir, "flipped-ciphertext", flipped)
        var version = three; version[4] = 2
        try write(dir, "version-2", version)
        var small = three; small[5...8] = [0, 0, 3, 0xFF]  // 1023: below the minimum
        try write(dir, "segment-size-1023", small)
        var huge = three; huge[5...8] = [0xFF, 0xFF, 0xFF, 0xFF]
        try write(dir, "segment-size-max", huge)
        // The segments of one blob reordered: each authenticates only at its own index.
        let seg = 1024 + AES256GCM.tagSize, h = ObjectHeader.encodedSize
        try write(
            dir, "segments-swapped",
            Array(three[..<h]) + Array(three[(h + seg)..<(h + 2 * seg)])
                + Array(three[h..<(h + seg)]) + Array(three[(h + 2 * seg)...]))
    }

    static func requests(_ dir: URL) throws {
        let wrapped = Data(try wrap(user: FuzzFixtures.userID).encoded()).base64EncodedString()
        func json(_ name: String, _ s: String) throws { try write(dir, "json-" + name, Array(("0" + s).utf8)) }
        try json("unwrap", #"{"user":"alice","wrapped":"\#(wrapped)","context":"fuzz-context","reason":"user-request"}"#)
        try json("unwrap-bad-reason", #"{"user":"alice","wrapped":"\#(wrapped)","context":"c","reason":"curiosity"}"#)
        try json("unwrap-not-base64", #"{"user":"alice","wrapped":"!!notbase64==","context":"c","reason":"scrub"}"#)
        try json(
            "batch",
            #"{"items":[{"user":"alice","wrapped":"\#(wrapped)","context":"a","reason":"migration"},{"user":"bob","wrapped":"","context":"","reason":"legal-process"}]}"#
        )
        try json("batch-empty", #"{"items":[]}"#)
        try json("generate", #"{"user":"alice","context":"photos/cat.jpg"}"#)
        try json("generate-escapes", #"{"user":"al\u0069ce\ud83d\ude00","context":"\"\\\/\b\f\n\r\t"}"#)
        try json("create-user", #"{"id":"alice","homeRegion":"eu-west"}"#)
        try json("create-user-numbers", #"{"id":1e400,"homeRegion":-0.0}"#)
        try json("truncated", #"{"user":"alice","context":"#)
        try json("deep", String(repeating: "[", count: 64))
        func range(_ name: String, _ s: String) throws { try write(dir, "range-" + name, Array(("1" + s).utf8)) }
        try range("closed", "bytes=0-99")
        try range("open", "bytes=100-")
        try range("suffix", "bytes=-500")
        try range("suffix-zero", "bytes=-0")
        try range("reversed", "bytes=9-3")
        try range("list", "bytes=0-1,5-6")
        try range("huge", " bytes=99999999999999999999999-99999999999999999999999 ")
        try range("signed", "bytes=+1--2")
        try range("units", "items=0-1")
        func key(_ name: String, _ s: String) throws { try write(dir, "key-" + name, Array(("2" + s).utf8)) }
        try key("plain", "photos/cat.jpg")
        try key("encoded-slash", "a%2Fb%20c")
        try key("dotdot", "a/../b")
        try key("nul", "a%00b")
        try key("bad-utf8", "%C3%28")
        try key("bad-escape", "%zz%")
        try key("unicode", "%E2%9C%93/caf%C3%A9")
        // `/` or `.` followed by a combining mark: one grapheme cluster, but still a `/` or `.`.
        try key("dotdot-combining", "a/../%CC%81b")
        try key("slash-combining", "/\u{0301}x")
        try key("double-slash-combining", "a//\u{0301}b")
    }

    /// Records chained from the genesis MAC under the fixture audit key, as the KeyService writes them.
    static func chain(_ count: Int) throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        var prev = AuditRecord.genesis
        for seq in 1...UInt64(count) {
            let odd = seq % 2 == 1
            var record = AuditRecord(
                seq: seq, time: "2026-01-0\(min(seq, 9))T10:11:00Z", op: odd ? "unwrap" : "create-user",
                user: odd ? FuzzFixtures.userID : "zoë@example", peer: "spiffe://splitkey.local/node/\(FuzzFixtures.region)",
                region: odd ? FuzzFixtures.region : nil, reason: odd ? "user-request" : nil,
                outcome: seq == 3 ? "refused" : "granted", requestId: "req-\(seq)",
                detail: seq == 3 ? "rate limited \"quoted\" / slash" : nil, prev: prev, mac: nil)
            record.mac = try record.computeMAC(key: FuzzFixtures.auditKey)
            prev = record.mac!
            records.append(record)
        }
        return records
    }

    static func auditTrail(_ dir: URL) throws {
        let records = try chain(4)
        let lines = try records.map { Array(try $0.line()) }
        let trail = lines.joined().map { $0 }
        try write(dir, "valid-1-record", lines[0])
        try write(dir, "valid-4-records", trail)
        let head = AuditHead(seq: 4, mac: records[3].mac!, segmentStart: 1, offset: UInt64(trail.count))
        let headBytes = try head.sealed(key: FuzzFixtures.auditKey).fileBytes()
        try write(dir, "head-valid", headBytes)
        try write(
            dir, "head-empty-segment",
            try AuditHead(seq: 0, mac: AuditRecord.genesis, segmentStart: 1, offset: 0)
                .sealed(key: FuzzFixtures.auditKey).fileBytes())
        var staleHead = try head.sealed(key: FuzzFixtures.auditKey)
        staleHead.seq = 3
        try write(dir, "head-edited-seq", try staleHead.fileBytes())
        try write(dir, "head-unsealed", try head.fileBytes())
        // Near-valid trails, each one edit away from valid.
        try write(dir, "torn-last-line", Array(trail.dropLast(9)))
        try write(dir, "no-final-newline", Array(trail.dropLast()))
        var added = lines[0].dropLast().map { $0 }  // `{"mac":...` -> `{"added":1,"mac":...`: not canonical, and not under the MAC
        added.insert(contentsOf: Array(#""added":1,"#.utf8), at: 1)
        try write(dir, "added-field", added + [UInt8(ascii: "\n")] + Array(lines[1...].joined()))
        var duplicated = lines[1].dropLast().map { $0 }
        duplicated.insert(contentsOf: Array(#""op":"destroy","#.utf8), at: 1)
        try write(dir, "duplicated-field", lines[0] + duplicated + [UInt8(ascii: "\n")])
        let escaped = String(decoding: lines[0], as: UTF8.self).replacingOccurrences(of: "/", with: "\\/")
        try write(dir, "escaped-slashes", Array(escaped.utf8))
        try write(dir, "record-deleted", lines[0] + lines[2] + lines[3])
        try write(dir, "records-swapped", lines[1] + lines[0])
        var flipped = trail
        flipped[lines[0].count + 20] ^= 0x01
        try write(dir, "flipped-byte", flipped)
        try write(dir, "crlf", Array(String(decoding: trail, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n").utf8))
        try write(dir, "blank-lines", [UInt8(ascii: "\n")] + lines[0] + [UInt8(ascii: "\n")] + lines[1])
    }

    /// XKS proxy inputs: '0' + a path after the URI path, '1' + a JSON body (the spec's examples,
    /// a decrypt that authenticates under the fixture XKS key, near-valid ones), '2' + a round trip.
    static func xksRequests(_ dir: URL) throws {
        func path(_ name: String, _ s: String) throws { try write(dir, "path-" + name, Array(("0" + s).utf8)) }
        try path("health", "/health")
        try path("metadata", "/keys/1234abcd-12ab_34cd.56ef/metadata")
        try path("encrypt", "/keys/fuzz-key/encrypt")
        try path("decrypt", "/keys/" + String(repeating: "k", count: 128) + "/decrypt")
        try path("key-id-129", "/keys/" + String(repeating: "k", count: 129) + "/decrypt")
        try path("health-key", "/keys/fuzz-key/health")
        try path("trailing-slash", "/keys/fuzz-key/encrypt/")
        try path("empty-key", "/keys//metadata")
        try path("encoded-slash", "/keys/a%2Fb/decrypt")
        try path("combining-slash", "/keys/abc/\u{0301}encrypt")
        try path("health-nul", "/health\u{0000}")

        // The spec's examples (v1.0.3), as KMS sends them; the spec's own text misses a comma in
        // the metadata, decrypt and health examples, kept below as near-valid seeds.
        let metadata = #""requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Alice","#
        let keyArn = #""kmsKeyArn":"arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab","#
        let aad = #""additionalAuthenticatedData":"cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n""#
        func body(_ name: String, _ s: String) throws { try write(dir, "body-" + name, Array(("1" + s).utf8)) }
        try body(
            "health", #"{"requestMetadata":{"kmsRequestId":"4112f4d6-db54-4af4-ae30-c55a22a8dfae","kmsOperation":"CreateCustomKeyStore"}}"#)
        try body(
            "metadata",
            "{" + metadata + keyArn
                + #""kmsOperation":"DescribeKey","kmsRequestId":"4112f4d6-db54-4af4-ae30-c55a22a8dfae","kmsViaService":"ebs"}}"#)
        try body(
            "encrypt",
            "{" + metadata + keyArn
                + #""kmsOperation":"Encrypt","kmsRequestId":"4112f4d6-db54-4af4-ae30-c55a22a8dfae","kmsViaService":"ebs"},"#
                + aad
                + #","plaintext":"SGVsbG8gV29ybGQh","encryptionAlgorithm":"AES_GCM","ciphertextDataIntegrityValueAlgorithm":"SHA_256"}"#)
        let decryptMetadata =
            "{" + metadata + keyArn
            + #""kmsOperation":"Decrypt","kmsRequestId":"5112f4d6-db54-4af4-ae30-c55a22a8dfae","kmsViaService":"ebs"},"#
        try body(
            "decrypt-spec",
            decryptMetadata + aad
                + #","encryptionAlgorithm":"AES_GCM","ciphertext":"ghxkK1txeDNn3q8Y","ciphertextMetadata":"a2V5X3ZlcnNpb249MQ==","initializationVector":"HMrlRw85cAJUd5Ax","authenticationTag":"vBxN2ncH1oEkR8WVXpmyYQ=="}"#
        )
        try body(
            "health-spec-verbatim",
            "{\n    \"requestMetadata\": {\n        \"kmsRequestId\": \"4112f4d6-db54-4af4-ae30-c55a22a8dfae\"\n        \"kmsOperation\": \"CreateCustomKeyStore\"\n    }\n}\n"
        )

        // A decrypt that authenticates under the fixture key, and its near-valid neighbours.
        let plaintext = Array("SplitKey XKS fuzz seed: a 32-byte data key.".utf8)
        let aadBytes = Array("project=nile,department=marketing".utf8)
        let sealed = try XKSCipher.encrypt(plaintext, aad: aadBytes, key: FuzzFixtures.xksKey)
        func b64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
        func decrypt(
            _ name: String, iv: String? = nil, ciphertext: String? = nil, tag: String? = nil, metadata: String? = nil,
            aad: String? = nil, algorithm: String = "AES_GCM"
        ) throws {
            let fields = [
                ("additionalAuthenticatedData", aad ?? b64(aadBytes)), ("encryptionAlgorithm", algorithm),
                ("ciphertext", ciphertext ?? b64(sealed.ciphertext)), ("ciphertextMetadata", metadata ?? b64(sealed.metadata)),
                ("initializationVector", iv ?? b64(sealed.iv)), ("authenticationTag", tag ?? b64(sealed.tag)),
            ]
            try body(name, decryptMetadata + fields.map { #""\#($0.0)":"\#($0.1)""# }.joined(separator: ",") + "}")
        }
        try decrypt("decrypt-valid")
        var flipped = sealed.tag
        flipped[0] ^= 1
        try decrypt("decrypt-flipped-tag", tag: b64(flipped))
        try decrypt("decrypt-iv-16", iv: b64(sealed.iv + [0, 0, 0, 0]))
        try decrypt("decrypt-iv-11", iv: b64(Array(sealed.iv.dropLast())))
        try decrypt("decrypt-tag-15", tag: b64(Array(sealed.tag.dropLast())))
        try decrypt("decrypt-metadata-21", metadata: b64([UInt8](repeating: 1, count: 21)))
        try decrypt("decrypt-metadata-empty", metadata: "")
        try decrypt("decrypt-no-aad", aad: "")
        try decrypt("decrypt-not-base64", ciphertext: "!!not base64")
        try decrypt("decrypt-tag-unpadded", tag: String(b64(sealed.tag).dropLast(2)))
        try decrypt("decrypt-algorithm", algorithm: "AES_CBC")
        try body(
            "encrypt-aad-8193",
            "{" + metadata + keyArn + #""kmsOperation":"Encrypt","kmsRequestId":"r"},"additionalAuthenticatedData":""#
                + b64([UInt8](repeating: 0x61, count: XKSAPI.maximumAADBytes + 1)) + #"","plaintext":"","encryptionAlgorithm":"AES_GCM"}"#)
        try body("encrypt-no-plaintext", #"{"encryptionAlgorithm":"AES_GCM","ciphertextDataIntegrityValueAlgorithm":"SHA_512"}"#)
        try body("null-fields", #"{"requestMetadata":null,"ciphertext":null,"plaintext":null}"#)

        // Round trips: position, mask, AAD split, then AAD and plaintext.
        func roundTrip(_ name: String, _ header: [UInt8], _ payload: String) throws {
            try write(dir, "roundtrip-" + name, Array("2".utf8) + header + Array(payload.utf8))
        }
        try roundTrip("empty", [], "")
        try roundTrip("aad-and-plaintext", [0, 0, 0x80, 33], "project=nile,department=marketingHello World!")
        try roundTrip("flip-tag", [30, 0x00, 0x01, 0], "Hello World!")
        try roundTrip("flip-metadata", [0x05, 0x00, 0x01, 5], "aaaaa")
    }

    /// S3 answer bodies as AWS S3 (and MinIO, SeaweedFS) send them: ListObjectsV2 pages, the
    /// multipart results, `<Error>` bodies, and near-valid ones the client must refuse; plus the
    /// two timestamp forms alone.
    static func s3Responses(_ dir: URL) throws {
        func seed(_ name: String, _ s: String) throws { try write(dir, name, Array(s.utf8)) }
        let declaration = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        let ns = #"xmlns="http://s3.amazonaws.com/doc/2006-03-01/""#
        func contents(_ key: String, _ modified: String, _ etag: String, _ size: String) -> String {
            "<Contents><Key>\(key)</Key><LastModified>\(modified)</LastModified><ETag>\(etag)</ETag>"
                + "<Size>\(size)</Size><StorageClass>STANDARD</StorageClass></Contents>"
        }
        let page =
            declaration + "<ListBucketResult \(ns)><Name>splitkey-blobs</Name><Prefix>u/alice/</Prefix><KeyCount>3</KeyCount>"
            + "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
            + contents("u/alice/0001", "2026-12-02T07:41:43.000Z", "&quot;d41d8cd98f00b204e9800998ecf8427e&quot;", "0")
            + contents(
                "u/alice/cats &amp; dogs &lt;1&gt; &#x41;&#66;&apos;&quot;.jpg", "2026-02-28T23:59:59.999Z",
                "\"9b2cf535f27731c974343645a3985328\"", "1048576")
            + contents(
                "<![CDATA[u/alice/<raw> & ]]>tail", "2024-02-29T00:00:00Z", "&quot;3858f62230ac3c915f300c664312c11f-9&quot;",
                "9223372036854775807")
            + "</ListBucketResult>"
        try seed("list-page", page)
        try seed(
            "list-truncated",
            declaration + "<ListBucketResult \(ns)><Name>splitkey-blobs</Name><Prefix></Prefix>"
                + "<ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>"
                + "<NextContinuationToken>1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==</NextContinuationToken>"
                + "<KeyCount>1</KeyCount><MaxKeys>1</MaxKeys><StartAfter>u/alice/0001</StartAfter><IsTruncated>true</IsTruncated>"
                + contents("u/alice/0002", "2026-12-02T07:41:43Z", "&quot;a&quot;", "42") + "</ListBucketResult>")
        try seed(
            "list-empty",
            declaration + "<ListBucketResult \(ns)><Name>b</Name><Prefix>none/</Prefix><KeyCount>0</KeyCount>"
                + "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>")
        try seed(
            "list-minio-owner",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<ListBucketResult \(ns)>\r\n  <Name>b</Name>\r\n"
                + "  <Contents>\r\n    <Key>k</Key>\r\n    <LastModified>2026-12-31T23:59:60.123456789Z</LastModified>\r\n"
                + "    <ETag>\"abc\"</ETag>\r\n    <Size>7</Size>\r\n"
                + "    <Owner><ID>02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4</ID>"
                + "<DisplayName>minio</DisplayName></Owner>\r\n  </Contents>\r\n"
                + "  <IsTruncated>false</IsTruncated>\r\n</ListBucketResult>\r\n"
        )
        try seed(
            "list-prefixed-names",
            "\u{FEFF}<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><!-- page 1 -->"
                + "<s3:Contents><s3:Key>k</s3:Key><s3:Size>1</s3:Size><s3:LastModified>1970-01-01T00:00:00Z</s3:LastModified>"
                + "</s3:Contents><?keep going?></s3:ListBucketResult >")
        try seed(
            "near-list-truncated-no-token",
            "<ListBucketResult \(ns)><IsTruncated>true</IsTruncated><NextContinuationToken></NextContinuationToken></ListBucketResult>")
        try seed(
            "near-list-negative-size",
            "<ListBucketResult>" + contents("k", "2026-12-02T07:41:43.000Z", "e", "-1") + "</ListBucketResult>")
        try seed(
            "near-list-size-overflow",
            "<ListBucketResult>" + contents("k", "2026-12-02T07:41:43.000Z", "e", "9223372036854775808") + "</ListBucketResult>")
        try seed(
            "near-list-30-february", "<ListBucketResult>" + contents("k", "2026-02-30T07:41:43.000Z", "e", "1") + "</ListBucketResult>")
        try seed("near-list-no-key", "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>")
        try seed(
            "initiate",
            declaration + "<InitiateMultipartUploadResult \(ns)><Bucket>splitkey-blobs</Bucket><Key>u/alice/0003</Key>"
                + "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId></InitiateMultipartUploadResult>")
        try seed(
            "near-initiate-empty-id",
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId/></InitiateMultipartUploadResult>")
        try seed(
            "complete",
            declaration
                + "<CompleteMultipartUploadResult \(ns)><Location>https://s3.eu-west-1.amazonaws.com/splitkey-blobs/u/alice/0003</Location>"
                + "<Bucket>splitkey-blobs</Bucket><Key>u/alice/0003</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>"
                + "</CompleteMultipartUploadResult>")
        try seed(
            "complete-error-in-200",
            declaration + "\n\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message>"
                + "<RequestId>656c76696e6727732072657175657374</RequestId>"
                + "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>")
        try seed(
            "error-no-such-key",
            declaration + "<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>"
                + "<Key>u/alice/0009</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>")
        try seed("error-slow-down", "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
        try seed(
            "error-signature",
            "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message>"
                + "<StringToSign>AWS4-HMAC-SHA256\n20261202T074143Z\n20261202/us-east-1/s3/aws4_request\nabc</StringToSign></Error>")
        try seed("error-code-injection", "<Error><Code>NoSuchKey&#10;admin: true &lt;script&gt;</Code></Error>")
        try seed("error-html-proxy", "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>")
        try seed("near-doctype-entity", "<!DOCTYPE Error [<!ENTITY x \"NoSuchKey\">]><Error><Code>&x;</Code></Error>")
        try seed("near-mismatched-close", "<Error><Code>NoSuchKey</Error></Code>")
        try seed("near-unclosed", "<ListBucketResult><Contents><Key>k")
        try seed("attributes-with-gt", "<Error a=\"x>y\" b='&amp;'><Code xml:lang=\"en\">AccessDenied</Code></Error>")
        try seed("deep-32", String(repeating: "<a>", count: 32) + String(repeating: "</a>", count: 32))
        try seed("near-deep-33", String(repeating: "<a>", count: 33) + String(repeating: "</a>", count: 33))
        try seed("references", "<T>&#x1F600;&#65;&#x10FFFF;&lt;&gt;&amp;&quot;&apos;<![CDATA[]]>&#x+41;&#1;</T>")
        try seed("near-reference-nul", "<T>&#x0;</T>")
        try seed("near-reference-surrogate", "<T>&#xD800;</T>")
        try seed("timestamp-iso8601", "2026-12-02T07:41:43.000Z")
        try seed("timestamp-iso8601-leap-second", "2016-12-31T23:59:60.999999999Z")
        try seed("timestamp-http-date", "Wed, 02 Dec 2026 07:41:43 GMT")
        try seed("timestamp-http-date-leap-year", "Thu, 29 Feb 2024 00:00:00 GMT")
    }
}
