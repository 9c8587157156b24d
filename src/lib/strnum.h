/* strnum: the one strict number parser. Decimal digits only: no sign, no
 * spaces, no "0x", no empty string, and overflow past max is an error
 * (so "LIST 4294967297" never wraps to 1). */
#ifndef FACTEUR_LIB_STRNUM_H
#define FACTEUR_LIB_STRNUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses exactly len bytes of s. */
bool strnum_u64(const char *s, size_t len, uint64_t max, uint64_t *out);
/* Parses a whole NUL-terminated string. */
bool strnum_u64_cstr(const char *s, uint64_t max, uint64_t *out);

#endif
