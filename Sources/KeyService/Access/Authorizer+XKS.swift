import Shared

/// The rules for AWS KMS calls through the XKS listener, in the order they apply (after the
/// SigV4 signature verified and its credential belongs to the URI path called):
///
/// 1. the URI path's request rate (`ThrottlingException`);
/// 2. `xks.policy` on the request metadata, deny first (`AccessDeniedException`; health exempt);
/// then, once the key is read:
/// 3. the key exists and is not destroyed (`KeyNotFoundException`);
/// 4. it is enabled (`InvalidStateException`; metadata is answered for a disabled key);
/// 5. it allows the operation, and decrypt too when an integrity value is asked for
///    (`InvalidKeyUsageException`).
extension Authorizer {
    /// Rules 1-2.
    func admitXKS(_ request: XKSPolicy.Request, policy: XKSPolicy) throws(Refusal) {
        if let wait = xksRequests.take(request.uriPath) {
            throw Refusal(.tooManyRequests, .rateLimited, "too many requests for this external key store", retryAfter: wait)
        }
        guard request.api != .health else { return }
        if case .denied(let why) = policy.decide(request) {
            throw Refusal(.forbidden, .xksPolicyDenied, "the KeyService's XKS policy does not allow this request", detail: why)
        }
    }

    /// Rules 3-5.
    func authorizeXKSKey(_ key: XKSKeyRecord?, for op: XKSAPI.Operation, wantsIntegrityValue: Bool) throws(Refusal) {
        if let refusal = XKSKeyLifecycle.refusal(for: op, key: key, wantsIntegrityValue: wantsIntegrityValue) { throw refusal }
    }
}
