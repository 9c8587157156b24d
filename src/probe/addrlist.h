/* addrlist: the mailbox addresses in an RFC 5322 address list, as in To,
 * Cc and Bcc (3.4): "Name <a@b>", "a@b (comment)", "\"x, y\" <c@d>",
 * groups "team: a@b, c@d;" and "undisclosed-recipients:;". Pure. */
#ifndef FACTEUR_PROBE_ADDRLIST_H
#define FACTEUR_PROBE_ADDRLIST_H

#include <stddef.h>

#include "lib/buf.h"

/* Longest address accepted (RFC 5321 4.5.3.1.3: a path is 256 octets
 * with its brackets). */
#define ADDRLIST_ADDR_MAX 254

/* Appends each address of the (possibly folded) header value v to out as
 * a NUL-terminated string: the addr-spec only, without display name,
 * comments, angle brackets or source route. Returns how many were
 * appended, or -1 on a syntax error (unbalanced quote, comment or angle
 * bracket, an address with blanks, control bytes or over
 * ADDRLIST_ADDR_MAX) or when out is full; out may then hold some. */
int addrlist_parse(const char *v, size_t len, struct buf *out);

#endif
