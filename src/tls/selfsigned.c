#include "tls/selfsigned.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static bool add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return false;
	bool ok = X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static bool host_is_ip(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Writes via tmp + fsync + rename so a crash never leaves half a key. */
static int write_pem(const char *path, mode_t mode, bool is_key, EVP_PKEY *key, X509 *cert)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	int ok = is_key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
			: PEM_write_X509(f, cert);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

int selfsigned_write(const char *host, unsigned days, const char *cert_file,
		     const char *key_file, char *err, size_t errlen)
{
	int rc = -1;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	if (!key || !cert) {
		snprintf(err, errlen, "cannot generate a key");
		goto out;
	}
	X509_set_version(cert, 2);
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	if (RAND_bytes(serial, sizeof serial) != 1 ||
	    !(bn = BN_bin2bn(serial, sizeof serial, NULL)) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
		BN_free(bn);
		snprintf(err, errlen, "cannot make a serial number");
		goto out;
	}
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400L);
	X509_set_pubkey(cert, key);
	X509_NAME *name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"facteur", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0);
	X509_set_issuer_name(cert, name);

	char san[600];
	if (host_is_ip(host))
		snprintf(san, sizeof san, "IP:%s", host);
	else if (!strcmp(host, "localhost"))
		snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1");
	else
		snprintf(san, sizeof san, "DNS:%s", host);
	if (!add_ext(cert, NID_subject_alt_name, san) ||
	    !add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(cert, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(cert, NID_ext_key_usage, "serverAuth")) {
		snprintf(err, errlen, "cannot build certificate extensions for '%s'", host);
		goto out;
	}
	if (!X509_sign(cert, key, EVP_sha256())) {
		snprintf(err, errlen, "cannot sign the certificate");
		goto out;
	}
	if (write_pem(key_file, 0600, true, key, NULL) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", key_file, strerror(errno));
		goto out;
	}
	if (write_pem(cert_file, 0644, false, NULL, cert) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", cert_file, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}
