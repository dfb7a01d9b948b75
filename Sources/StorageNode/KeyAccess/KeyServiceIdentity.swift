import Logging
import Shared

/// Which KeyService the node trusts: the SPIFFE ID its certificate must carry.
///
/// Any certificate of the CA is not enough: every StorageNode's certificate is a server
/// certificate of the same CA for the same loopback names, and a server the node took for its
/// KeyService could hand it data keys of its choosing. So the node checks the KeyService's
/// SPIFFE ID on every connection, before it sends a request.
enum KeyServiceIdentity {
    /// `keyService.identity` if set; otherwise `spiffe://TD/keyservice` in the trust domain of the
    /// node's own certificate (what `keyservice pki init` issues). Never "anything of the CA".
    static func resolve(configured: SPIFFEIDPattern?, node: LoadedTLSFiles, configPath: String)
        throws(ConfigurationError) -> SPIFFEIDPattern
    {
        if let configured { return configured }
        guard let trustDomain = node.ownTrustDomain, let pattern = SPIFFEIDPattern("spiffe://\(trustDomain)/keyservice") else {
            throw .invalid(
                "keyService.identity", configPath,
                "not set, and the node's certificate has no SPIFFE ID to take the trust domain from; "
                    + "set it to the KeyService's SPIFFE ID, e.g. spiffe://example.org/keyservice")
        }
        return pattern
    }
}

extension KeyServiceClient {
    /// The client of `config`'s KeyService replicas, checking the identity on every connection to each.
    init(config: StorageNodeConfig, configPath: String, logger: Logger) throws {
        let tls = try config.tls.load()
        let expected = try KeyServiceIdentity.resolve(configured: config.keyServiceIdentity, node: tls, configPath: configPath)
        let revocations = try RevocationList(crlFiles: config.tls.crls, caFile: config.tls.ca)
        self.init(
            urls: config.keyServiceURLs,
            tls: tls,
            identity: ServerIdentityCheck(expected: expected, roots: tls.roots, revocations: revocations),
            timeout: .seconds(config.keyServiceTimeout),
            logger: logger
        )
    }
}
