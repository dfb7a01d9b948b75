import NIOSSL

extension TLSConfiguration {
    /// Client side of the project's mutual TLS: TLS 1.3 only, our certificate, and trust in the
    /// operator's CA alone (not the system store), with the server's name checked.
    public static func splitKeyClient(_ loaded: LoadedTLSFiles) -> TLSConfiguration {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv13
        config.maximumTLSVersion = .tlsv13
        config.certificateChain = loaded.chain.map { .certificate($0) }
        config.privateKey = .privateKey(loaded.privateKey)
        config.trustRoots = .file(loaded.caPath)
        config.certificateVerification = .fullVerification
        return config
    }
}
