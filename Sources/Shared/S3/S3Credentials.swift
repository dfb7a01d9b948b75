import Foundation

/// The S3 access key, read from a file of its own: one line `ACCESS_KEY_ID SECRET` (a trailing
/// newline is fine), mode 0600 or stricter.
///
/// A file rather than a configuration value so the secret never sits in a config file, a
/// command line or the environment, and so systemd's `LoadCredential=s3-credentials:PATH` can
/// hand it over in `$CREDENTIALS_DIRECTORY`.
public enum S3Credentials {
    /// The name looked for in `$CREDENTIALS_DIRECTORY`.
    public static let fileName = "s3-credentials"
    public static let maximumAccessKeyIDLength = 128
    public static let maximumSecretLength = 256

    /// Reads `file`, or `$CREDENTIALS_DIRECTORY/s3-credentials` when `file` is nil.
    public static func load(
        file: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(S3SettingsError) -> SigV4Credentials {
        let path: String
        if let file {
            path = file
        } else if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            path = directory + "/" + fileName
        } else {
            throw .noCredentials
        }
        let bytes: [UInt8]
        do {
            bytes = try SecretFile.read(path)
        } catch {
            throw .credentialsFile(error)
        }
        return try parse(bytes, path: path)
    }

    /// Parses the file's bytes; `path` only names the file in errors.
    public static func parse(_ bytes: [UInt8], path: String) throws(S3SettingsError) -> SigV4Credentials {
        var line = bytes[...]
        if line.last == UInt8(ascii: "\n") { line.removeLast() }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        guard !line.contains(UInt8(ascii: "\n")) else { throw .malformedCredentials(path, "it has more than one line") }
        let fields = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
        guard fields.count == 2 else {
            throw .malformedCredentials(path, "it has \(fields.count) whitespace-separated fields instead of 2")
        }
        let printable = { (b: UInt8) in (0x21...0x7E).contains(b) }
        guard fields[0].count <= maximumAccessKeyIDLength,
            fields[0].allSatisfy({ SigV4Authorization.isAlphanumeric($0) || Array("-_.".utf8).contains($0) })
        else {
            throw .malformedCredentials(
                path, "the access key id must be 1 to \(maximumAccessKeyIDLength) letters, digits, '-', '_' or '.'")
        }
        guard fields[1].count <= maximumSecretLength, fields[1].allSatisfy(printable) else {
            throw .malformedCredentials(path, "the secret must be 1 to \(maximumSecretLength) printable ASCII characters")
        }
        return SigV4Credentials(accessKeyID: String(decoding: fields[0], as: UTF8.self), secret: Array(fields[1]))
    }
}
