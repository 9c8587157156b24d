/* verify: password hashing and checking with libxcrypt's crypt(3).
 * Thread-safe (crypt_rn); slow on purpose, so the daemon calls it on a
 * worker thread. Secrets are wiped from the stack before returning. */
#ifndef FACTEUR_AUTH_VERIFY_H
#define FACTEUR_AUTH_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

/* Hashes password with yescrypt (or sha512-crypt if prefer_sha512), libxcrypt's
 * default cost and a salt from the OS. Returns a malloc()ed crypt string,
 * or NULL. */
char *verify_hash_password(const char *password, bool prefer_sha512);
/* Checks password against hash in constant time. hash == NULL (unknown
 * user) still spends the same work on a dummy hash and returns false, so
 * the answer time does not reveal whether the account exists. */
bool verify_password(const char *hash, const char *password);
/* APOP (RFC 1939 7): digest_hex is the client's 32 hex digits (upper case
 * accepted too); the expected value is MD5(timestamp || secret), timestamp
 * being the greeting's "<...>" including the angle brackets. Constant-time
 * comparison. secret == NULL returns false after the same work. */
bool verify_apop(const char *timestamp, const char *secret, const char *digest_hex);

#endif
