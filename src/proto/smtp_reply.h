/* smtp_reply: the one place that builds SMTP reply lines (RFC 5321 4.2).
 *
 * A reply is a three-digit code, an optional enhanced status code
 * (RFC 2034, RFC 3463) and one or more text lines. Every line but the last
 * uses "-" after the code (RFC 5321 4.2.1). No I/O. */
#ifndef FACTEUR_PROTO_SMTP_REPLY_H
#define FACTEUR_PROTO_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets incl. CRLF.
 * Longer texts are cut to fit. */
#define SMTP_REPLY_LINE_MAX 512

/* Appends the reply to out. code is 200..599; esc is an enhanced status
 * code such as "2.1.0", or NULL for none (greeting, EHLO/HELO answers, 3xx
 * replies: RFC 2034 3 (4)). Bytes outside printable ASCII in a text are
 * written as '?', so a reply can never carry CR, LF or NUL from a caller.
 * Returns false on allocation failure (out may then hold a partial reply). */
bool smtp_reply_format(struct buf *out, unsigned code, const char *esc,
	const char *const *lines, size_t nlines);
/* The common single-line case. */
bool smtp_reply_format1(struct buf *out, unsigned code, const char *esc,
	const char *text);

#endif
