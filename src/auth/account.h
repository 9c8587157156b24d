/* account: account names ("alice@localhost"), validated and normalised.
 * Pure. Names are case-insensitive and stored in lower case. */
#ifndef FACTEUR_AUTH_ACCOUNT_H
#define FACTEUR_AUTH_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

/* Checks "local@domain": local part 1..64 of [A-Za-z0-9!#$%&'*+=?^_`{|}~.-]
 * with no leading/trailing/double dot, domain 1..255 of letters, digits,
 * '-' and '.', with no empty label. Never '/', "..", controls or spaces.
 * Writes the lower-cased form into out. */
bool account_normalise(const char *in, char *out, size_t outsz);
/* Same for a bare local part (no '@'). */
bool account_local_valid(const char *local);
/* Same for a bare domain. */
bool account_domain_valid(const char *domain);
/* Longest normalised name plus NUL: 64 + 1 + 255 + 1. */
#define ACCOUNT_NAME_MAX 321

#endif
