#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

struct tls_ctx {
	SSL_CTX *ctx;
	char *cert_file;
	char *key_file;
};

static void openssl_error(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char reason[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	snprintf(err, errlen, "%s %s: %s", what, file, reason);
	ERR_clear_error();
}

static SSL_CTX *build_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		openssl_error(err, errlen, "cannot create TLS context", "");
		return NULL;
	}
	/* RFC 8314 4.1: TLS 1.2 or later. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	/* TLS 1.2: forward-secret AEAD suites only. */
	if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20") != 1) {
		openssl_error(err, errlen, "cannot set ciphers", "");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		openssl_error(err, errlen, "cannot load certificate", cert_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		openssl_error(err, errlen, "cannot load key", key_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		openssl_error(err, errlen, "key does not match certificate", cert_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct tls_ctx *tls_ctx_new(const char *cert_file, const char *key_file,
			    char *err, size_t errlen)
{
	struct tls_ctx *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->cert_file = strdup(cert_file);
	t->key_file = strdup(key_file);
	if (!t->cert_file || !t->key_file ||
	    !(t->ctx = build_ctx(cert_file, key_file, err, errlen))) {
		tls_ctx_free(&t);
		return NULL;
	}
	return t;
}

int tls_ctx_reload(struct tls_ctx *t, char *err, size_t errlen)
{
	SSL_CTX *fresh = build_ctx(t->cert_file, t->key_file, err, errlen);
	if (!fresh)
		return -1;
	SSL_CTX_free(t->ctx); /* live SSLs hold their own reference */
	t->ctx = fresh;
	return 0;
}

SSL *tls_ctx_new_ssl(struct tls_ctx *t)
{
	return SSL_new(t->ctx);
}

void tls_ctx_free(struct tls_ctx **tp)
{
	struct tls_ctx *t = *tp;
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t->cert_file);
	free(t->key_file);
	free(t);
	*tp = NULL;
}

void tls_describe(SSL *ssl, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
