/* secure: wiping secrets and comparing them in constant time. */
#ifndef FACTEUR_LIB_SECURE_H
#define FACTEUR_LIB_SECURE_H

#include <stdbool.h>
#include <stddef.h>

void secure_wipe(void *p, size_t n);
/* Compares a and b without an early exit; the time depends only on the
 * lengths, which are not secret here (digests and fixed-size tokens). */
bool secure_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
