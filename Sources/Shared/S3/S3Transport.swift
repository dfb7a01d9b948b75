import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Sends ``S3Request``s: signs each attempt afresh, retries what the ``S3RetryPolicy`` allows,
/// and turns error answers into ``S3Error`` (logging the raw body, which never leaves here).
struct S3Transport: Sendable {
    let http: HTTPClient
    let settings: S3Settings
    let signer: SigV4Signer
    let logger: Logger

    /// The largest success answer read into memory (a listing of 1000 keys of 1 KiB is ~1.3 MB).
    static let maximumAnswerSize = 4 * 1024 * 1024
    /// The largest error body read (S3's are under 1 KiB); a longer one is cut, not refused.
    static let maximumErrorBodySize = 64 * 1024
    /// How much of an error body goes into the log.
    static let loggedErrorBodySize = 4096

    /// A success answer read whole.
    struct Answer: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// Sends `request` and reads the whole 2xx answer (at most ``maximumAnswerSize``); reading
    /// the body is part of the attempt, so a connection lost mid-answer is retried too.
    func answer(_ request: S3Request) async throws(S3Error) -> Answer {
        try await perform(request) { response throws(S3Error) in
            let body = try await Self.collect(response.body, upTo: Self.maximumAnswerSize, what: request.operation)
            return Answer(status: response.status, headers: response.headers, body: body)
        }
    }

    /// Like ``answer(_:)``, then `check` runs inside the attempt: an ``S3Error`` it throws that is
    /// retryable (CompleteMultipartUpload's `200 OK` that carries an `<Error>`) is retried.
    func answer<T: Sendable>(_ request: S3Request, check: @escaping @Sendable (Answer) throws(S3Error) -> T) async throws(S3Error) -> T {
        try await perform(request) { response throws(S3Error) in
            let body = try await Self.collect(response.body, upTo: Self.maximumAnswerSize, what: request.operation)
            return try check(Answer(status: response.status, headers: response.headers, body: body))
        }
    }

    /// Sends `request` and returns the 2xx response with its body unread (for streaming a GET).
    /// Retries end once the head has arrived: the caller reads the body and owns what fails then.
    func open(_ request: S3Request) async throws(S3Error) -> HTTPClientResponse {
        try await perform(request) { response throws(S3Error) in response }
    }

    /// Why one attempt failed, and whether another may do better.
    private struct Failure: Error {
        var error: S3Error
        var retryable: Bool
    }

    private func perform<T: Sendable>(
        _ request: S3Request, _ read: @escaping @Sendable (HTTPClientResponse) async throws(S3Error) -> T
    ) async throws(S3Error) -> T {
        let clock = ContinuousClock()
        let end = clock.now + settings.retry.totalTime
        var generator = SystemRandomNumberGenerator()
        var retry = 0
        while true {
            let failure: Failure
            do {
                return try await attempt(request, end: end, read)
            } catch {
                failure = error
            }
            guard failure.retryable, retry < settings.retry.maximumRetries else { throw failure.error }
            retry += 1
            let delay = settings.retry.delay(beforeRetry: retry, using: &generator)
            // No attempt may start so late that it would end past the budget's end anyway.
            guard clock.now + delay + .milliseconds(10) < end else { throw failure.error }
            logger.notice(
                "S3 request failed, retrying",
                metadata: [
                    "s3.operation": "\(request.operation)", "s3.retry": "\(retry)",
                    "s3.delayMilliseconds": "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)",
                    "s3.reason": "\(failure.error)",
                ])
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .cancelled
            }
        }
    }

    private func attempt<T: Sendable>(
        _ request: S3Request, end: ContinuousClock.Instant, _ read: @Sendable (HTTPClientResponse) async throws(S3Error) -> T
    ) async throws(Failure) -> T {
        guard !Task.isCancelled else { throw Failure(error: .cancelled, retryable: false) }
        let signed: HTTPClientRequest
        do {
            signed = try request.signed(with: signer, settings: settings, date: Date())
        } catch {
            throw Failure(error: error, retryable: false)
        }
        let left = ContinuousClock.now.duration(to: end)
        let deadline = NIODeadline.now() + Self.timeAmount(min(settings.timeouts.response, left))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(signed, deadline: deadline, logger: logger)
        } catch {
            throw Self.failure(error)
        }
        if (200..<300).contains(response.status.code) {
            do {
                return try await read(response)
            } catch {
                throw Failure(error: error, retryable: error.isRetryable)
            }
        }
        let body =
            request.method == .HEAD
            ? ByteBuffer() : ((try? await Self.collect(response.body, upTo: Self.maximumErrorBodySize, what: "error")) ?? ByteBuffer())
        let error = S3ErrorAnswer(status: Int(response.status.code), headers: response.headers, body: body)
        error.log(request: request, settings: settings, logger: logger)
        let mapped = error.error(for: request, settings: settings)
        throw Failure(error: mapped, retryable: mapped.isRetryable)
    }

    /// Reads a body of at most `limit` bytes; a transport failure is ``S3Error/unavailable(_:)``.
    static func collect(_ body: HTTPClientResponse.Body, upTo limit: Int, what: String) async throws(S3Error) -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw .invalidResponse("the \(what) answer is larger than \(limit) bytes")
        } catch {
            throw failure(error).error
        }
    }

    /// An error AsyncHTTPClient or NIO threw, as an S3 failure. Connection failures and timeouts
    /// are retried; TLS failures are not (a wrong certificate stays wrong), nor is cancellation.
    private static func failure(_ error: any Error) -> Failure {
        if error is CancellationError { return Failure(error: .cancelled, retryable: false) }
        if let http = error as? HTTPClientError {
            switch http {
            case .cancelled, .requestStreamCancelled:
                return Failure(error: .cancelled, retryable: false)
            case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .tlsHandshakeTimeout:
                return Failure(error: .unavailable("timed out (\(http))"), retryable: true)
            case .remoteConnectionClosed, .getConnectionFromPoolTimeout, .uncleanShutdown, .bodyLengthMismatch:
                return Failure(error: .unavailable("\(http)"), retryable: true)
            default:
                return Failure(error: .unavailable("\(http)"), retryable: false)
            }
        }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return Failure(error: .unavailable("TLS failed: \(error); check the endpoint's certificate and the CA file"), retryable: false)
        }
        if error is NIOConnectionError || error is IOError || error is ChannelError {
            return Failure(error: .unavailable("\(error)"), retryable: true)
        }
        return Failure(error: .unavailable("\(error)"), retryable: false)
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        // Clamped to a day, so no setting can overflow the nanoseconds.
        return .nanoseconds(min(max(0, seconds), 86_400) * 1_000_000_000 + max(0, attoseconds) / 1_000_000_000)
    }
}
