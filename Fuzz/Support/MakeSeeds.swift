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
}
