/* verify: hashing and checking passwords and APOP digests.
 *
 * Runs on worker threads: crypt_rn keeps its state in a caller-supplied
 * struct crypt_data (~32 KiB, so it lives on the heap, never on a worker's
 * stack), and is wiped before it is freed since it held the password.
 * An unknown user costs the same crypt work as a known one so the answer
 * time does not say whether the account exists. */
#include "auth/verify.h"

#include <crypt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/secure.h"

/* yescrypt with libxcrypt's default cost, the same as new hashes get, of a
 * password nobody knows. Only its cost matters. */
static const char dummy_hash[] =
	"$y$j9T$P7vYTiNMDhIspcfCrHz2N/$J9YCfD/hPu98LWjl0puD0ZKw1HBTmSGHKEEwP/nPGt1";

/* MD5 digest in hex. */
#define APOP_DIGEST_HEX 32

/* Runs crypt_rn into a heap crypt_data; returns it (caller wipes and
 * frees with crypt_data_free) or NULL when out of memory. */
static struct crypt_data *crypt_heap(const char *password, const char *setting,
				     const char **out)
{
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (!cd)
		return NULL;
	*out = crypt_rn(password, setting, cd, (int)sizeof *cd);
	return cd;
}

static void crypt_data_free(struct crypt_data *cd)
{
	if (cd) {
		secure_wipe(cd, sizeof *cd);
		free(cd);
	}
}

char *verify_hash_password(const char *password, bool prefer_sha512)
{
	if (!password)
		return NULL;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	/* rbytes == NULL: libxcrypt draws the salt from the OS (getrandom). */
	if (!crypt_gensalt_rn(prefer_sha512 ? "$6$" : "$y$", 0, NULL, 0, salt,
			      (int)sizeof salt))
		return NULL;
	const char *h = NULL;
	struct crypt_data *cd = crypt_heap(password, salt, &h);
	char *res = NULL;
	/* On failure crypt_rn returns NULL or a string starting with '*'. */
	if (h && h[0] == '$')
		res = strdup(h);
	crypt_data_free(cd);
	return res;
}

bool verify_password(const char *hash, const char *password)
{
	const char *setting = hash ? hash : dummy_hash;
	const char *h = NULL;
	struct crypt_data *cd = crypt_heap(password ? password : "", setting, &h);
	if (!cd)
		return false;
	bool ok = false;
	if (h && h[0] == '$') {
		size_t hl = strlen(h), sl = strlen(setting);
		ok = secure_equal(h, hl, setting, sl);
	}
	crypt_data_free(cd);
	return ok && hash != NULL && password != NULL;
}

static bool md5_hex(const char *a, const char *b, char out[APOP_DIGEST_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) &&
		  EVP_DigestUpdate(ctx, a, strlen(a)) &&
		  EVP_DigestUpdate(ctx, b, strlen(b)) &&
		  EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen * 2 == APOP_DIGEST_HEX;
	EVP_MD_CTX_free(ctx);
	if (ok) {
		for (size_t i = 0; i < APOP_DIGEST_HEX / 2; i++) {
			out[2 * i] = hex[md[i] >> 4];
			out[2 * i + 1] = hex[md[i] & 15];
		}
	}
	out[ok ? APOP_DIGEST_HEX : 0] = '\0';
	secure_wipe(md, sizeof md);
	return ok;
}

bool verify_apop(const char *timestamp, const char *secret, const char *digest_hex)
{
	if (!timestamp || !digest_hex)
		return false;
	char expect[APOP_DIGEST_HEX + 1] = { 0 };
	bool ok = md5_hex(timestamp, secret ? secret : "", expect);
	/* RFC 1939 7 asks for lower-case hex; accept upper case as well. */
	char given[APOP_DIGEST_HEX];
	size_t glen = strlen(digest_hex);
	bool well_formed = glen == APOP_DIGEST_HEX;
	for (size_t i = 0; i < APOP_DIGEST_HEX; i++) {
		char c = well_formed ? digest_hex[i] : '0';
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			well_formed = false;
		given[i] = c;
	}
	bool eq = secure_equal(expect, APOP_DIGEST_HEX, given, APOP_DIGEST_HEX);
	secure_wipe(expect, sizeof expect);
	secure_wipe(given, sizeof given);
	return ok && eq && well_formed && secret != NULL;
}
