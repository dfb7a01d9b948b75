import Shared

/// Maps a client's certificate identity to the user it acts for.
///
/// The user id comes only from the validated certificate: an identity
/// `PREFIX/USER` (one segment below the configured SPIFFE prefix, same trust domain) acts as
/// USER. Nothing a client sends in headers or paths can change it.
struct UserResolver: Sendable {
    let prefix: SPIFFEID

    func user(for identity: PeerIdentity) throws(APIError) -> String {
        guard let id = identity.spiffeID, id.trustDomain == prefix.trustDomain,
            id.segments.count == prefix.segments.count + 1,
            Array(id.segments.prefix(prefix.segments.count)) == prefix.segments,
            let user = id.segments.last, Identifiers.isValidUserID(user)
        else {
            throw APIError.forbidden("\(identity) is not a user identity (\(prefix)/USER)", code: .notAUser)
        }
        return user
    }
}
