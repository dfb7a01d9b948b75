import Crypto
import Foundation
import Shared

/// AWS Signature Version 4 (header form) for the load generator's signed mode (`--sigv4`): each
/// request is signed afresh with its own path and time, as an S3 client does, so a load of PUTs
/// to `{n}` paths is accepted by a store that checks every signature (SeaweedFS's S3 gateway).
///
/// The signing is Shared's ``SigV4Signer`` (the one the StorageNode's S3 client uses, checked
/// against the AWS suite and botocore), so the bench measures the same cost per request a real
/// client pays: the signing key (five HMACs), one SHA-256 of the canonical request and one HMAC
/// of the string to sign. The body is the same for every request, so its SHA-256
/// (`x-amz-content-sha256`, which the server checks) is computed once per run.
struct RequestSigner: Sendable {
    let signer: SigV4Signer
    /// Hex SHA-256 of the body every request sends.
    let payloadHash: String

    /// - Parameter credentialsFile: one line `ACCESS_KEY_ID SECRET`, as the node's
    ///   `blobs.s3.credentialsFile` (``S3Credentials``).
    init(credentialsFile: String, region: String, service: String, body: Data) throws {
        signer = SigV4Signer(
            credentials: try S3Credentials.load(file: credentialsFile), region: region, service: service,
            normalizePath: false)
        payloadHash = Hex.encode(Array(SHA256.hash(data: body)))
    }

    /// The headers to add to a request of `method` to `path` (no query) with `Host: host`:
    /// `x-amz-date`, `x-amz-content-sha256` and `authorization`.
    func headers(method: String, path: String, host: String, now: Date = Date()) throws -> [(String, String)] {
        let signed = try signer.sign(
            SigV4Request(method: method, path: path, headers: [(name: "Host", value: host)]),
            payloadHash: payloadHash, date: now, sendContentSHA256: true)
        return signed.request.headers.filter { $0.name.lowercased() != "host" }.map { ($0.name, $0.value) }
    }
}
