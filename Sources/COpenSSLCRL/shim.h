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
#include <openssl/x509v3.h>
#include <time.h>

/// The CRL's CRLNumber extension (RFC 5280 section 5.2.3) as upper-case hex, or NULL when it has
/// none; free the result with OPENSSL_free.
static inline char *splitkey_crl_number_hex(X509_CRL *crl) {
    ASN1_INTEGER *number = (ASN1_INTEGER *)X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    if (!number) return NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(number, NULL);
    ASN1_INTEGER_free(number);
    if (!bn) return NULL;
    char *hex = BN_bn2hex(bn);
    BN_free(bn);
    return hex;
}

/// Whether the CRL's nextUpdate lies before `when` (seconds since the epoch).
static inline int splitkey_crl_expired_before(X509_CRL *crl, long long when) {
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    if (!next) return 0;
    time_t t = (time_t)when;
    return X509_cmp_time(next, &t) < 0;
}

static inline int splitkey_revoked_count(X509_CRL *crl) {
    STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(crl);
    return revoked ? sk_X509_REVOKED_num(revoked) : 0;
}

static inline X509_REVOKED *splitkey_revoked_at(X509_CRL *crl, int index) {
    return sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), index);
}
#endif
