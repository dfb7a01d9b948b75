// OpenSSL 3 libcrypto, only for X.509 CRLs: neither swift-nio-ssl nor swift-certificates reads
// them. The stack accessors are macros in OpenSSL's headers, so small inline wrappers give Swift
// functions it can call.
#ifndef SPLITKEY_COPENSSL_CRL_H
#define SPLITKEY_COPENSSL_CRL_H
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static inline int splitkey_revoked_count(X509_CRL *crl) {
    STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(crl);
    return revoked ? sk_X509_REVOKED_num(revoked) : 0;
}

static inline X509_REVOKED *splitkey_revoked_at(X509_CRL *crl, int index) {
    return sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), index);
}
#endif
