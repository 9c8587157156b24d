/* base64 (RFC 4648) for SASL exchanges, strict: no whitespace, padding
 * required, trailing garbage rejected. */
#ifndef FACTEUR_LIB_BASE64_H
#define FACTEUR_LIB_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes needed to decode/encode n input bytes (including a NUL for encode). */
#define BASE64_DECODED_MAX(n) (((n) / 4) * 3 + 3)
#define BASE64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Returns false on malformed input. out must hold BASE64_DECODED_MAX(len). */
bool base64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen);
/* Writes a NUL-terminated string; out must hold BASE64_ENCODED_SIZE(len). */
size_t base64_encode(const uint8_t *in, size_t len, char *out);

#endif
