/* submit: what "facteur sendmail" does to a message before handing it to
 * the SMTP server, like sendmail(8) and Postfix's sendmail: CRLF line
 * ends, the missing From, Date and Message-ID fields added, Bcc removed,
 * and with -t the recipients taken from To, Cc and Bcc. Pure: the caller
 * supplies the date, the Message-ID and the addresses. */
#ifndef FACTEUR_PROBE_SUBMIT_H
#define FACTEUR_PROBE_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct submit_in {
	const char *from_addr;   /* the From address to add when absent */
	const char *from_name;   /* its display name, or NULL */
	const char *date;        /* "Thu, 28 Nov 2024 09:00:00 +0000" */
	const char *message_id;  /* "<...@...>" */
	const char *domain;      /* qualifies addresses without '@' */
	bool extract;            /* -t: recipients from To, Cc, Bcc */
};

struct submit_out {
	struct buf message;      /* CRLF, not dot-stuffed */
	struct buf rcpts;        /* -t: NUL-terminated addresses, qualified, deduplicated */
	size_t nrcpts;
	bool eight_bit;          /* a byte >= 0x80 anywhere (BODY=8BITMIME) */
	char err[200];           /* on failure */
};

/* Where input typed at a terminal ends without -i: the offset of a line
 * that is a single "." (LF or CRLF), searching from `from` (a line
 * start); len when there is none yet. */
size_t submit_dot_line(const uint8_t *in, size_t len, size_t from);

/* Prepares in (any line ends) into out, which the caller has buf_init'ed.
 * Returns false with out->err on a malformed address list (-t) or when
 * memory runs out. */
bool submit_prepare(const uint8_t *in, size_t len, const struct submit_in *si,
		    struct submit_out *out);

/* The next string of a list of NUL-terminated strings (as addrlist_parse
 * and submit_add_rcpt build): *off starts at 0; NULL at the end. */
const char *nul_list_next(const struct buf *list, size_t *off);

/* Appends addr to a NUL-separated list unless it is already there
 * (case-insensitive); addresses without '@' get "@domain". Returns false
 * when memory runs out or the address is longer than 254. */
bool submit_add_rcpt(struct buf *list, size_t *n, const char *addr, size_t len,
		     const char *domain);

#endif
