/* tls: the server's OpenSSL context. TLS 1.2 and 1.3 only, OpenSSL's
 * modern cipher defaults, certificate chain and key from PEM files.
 *
 * reload() builds a complete new context and swaps it in only if every
 * step succeeded: sessions already running keep the SSL objects (and so
 * the context reference) they were created with, new sessions get the new
 * certificate. A bad file on reload leaves the old context serving. */
#ifndef FACTEUR_TLS_TLS_H
#define FACTEUR_TLS_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct tls_ctx;

struct tls_ctx *tls_ctx_new(const char *cert_file, const char *key_file,
			    char *err, size_t errlen);
int tls_ctx_reload(struct tls_ctx *t, char *err, size_t errlen);
/* A new server-side SSL for one connection, or NULL. */
SSL *tls_ctx_new_ssl(struct tls_ctx *t);
void tls_ctx_free(struct tls_ctx **tp);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for log lines; out is NUL-terminated. */
void tls_describe(SSL *ssl, char *out, size_t outsz);

#endif
