/// Why ``S3Settings`` or its credentials file were refused; each message names the setting or
/// file to fix. No message contains the secret (nor any part of the credentials file but the
/// access key id's length).
public enum S3SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The endpoint URL (as given) and what is wrong with it.
    case endpoint(String, String)
    case bucket(String, String)
    case region(String)
    case caFile(String, String)
    /// Neither a credentials file nor `$CREDENTIALS_DIRECTORY` was given.
    case noCredentials
    /// The credentials file could not be read, or is readable by others.
    case credentialsFile(SecretFileError)
    /// The file (path) is not one line `ACCESS_KEY_ID SECRET`; the reason says which rule broke.
    case malformedCredentials(String, String)

    public var description: String {
        switch self {
        case .endpoint(let url, let why): "S3 endpoint '\(url)' is not usable: \(why)"
        case .bucket(let name, let why): "S3 bucket name '\(name)' is not valid: \(why)"
        case .region(let region):
            "S3 region '\(region)' is not valid: use 1 to 64 letters, digits, '-' or '_' (us-east-1 for most S3-compatible stores)"
        case .caFile(let path, let why): "S3 CA file \(path): \(why)"
        case .noCredentials:
            "no S3 credentials: give the credentials file's path, or run with $CREDENTIALS_DIRECTORY holding \(S3Credentials.fileName) (systemd LoadCredential=)"
        case .credentialsFile(let error): "S3 credentials: \(error)"
        case .malformedCredentials(let path, let why):
            "S3 credentials file \(path) must hold one line 'ACCESS_KEY_ID SECRET': \(why)"
        }
    }
}
