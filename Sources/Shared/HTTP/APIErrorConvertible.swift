/// An error type of a daemon that knows its client-facing ``APIError``.
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}
