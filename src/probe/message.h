/* message: RFC 5322 messages as a client handles them: header fields,
 * line-end normalisation, SMTP dot-stuffing, and comparing a message read
 * back over POP3 with the one that was sent. Pure: no I/O. */
#ifndef FACTEUR_PROBE_MESSAGE_H
#define FACTEUR_PROBE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* One header field of a CRLF message. name/value point into the message;
 * value is raw (may hold folding CRLF + WSP) and excludes the final CRLF. */
struct header_field {
	const char *name;
	size_t namelen;
	const char *value;
	size_t valuelen;
	size_t start;   /* offset of the field's first byte */
	size_t end;     /* offset just past its final CRLF */
};

/* Iterates over the header fields of msg (CRLF line ends). *pos starts at
 * 0. Returns false at the blank line that ends the header section, at the
 * end of the data, or at a line that is not a field ("name:" with name of
 * printable ASCII but ':'), leaving *pos there. */
bool header_next(const uint8_t *msg, size_t len, size_t *pos, struct header_field *f);
/* The first field called name (case-insensitive). */
bool header_find(const uint8_t *msg, size_t len, const char *name, struct header_field *f);
/* Unfolds a value (removes CRLF before WSP) and trims blanks at both ends;
 * writes a NUL-terminated string (truncated to outsz - 1). */
void header_unfold(const char *v, size_t len, char *out, size_t outsz);

/* Appends in to out with every line ending as CRLF: CRLF stays, a bare LF
 * or bare CR becomes CRLF (RFC 5322 2.3 allows CR and LF only together).
 * When add_final, a last line without a line end gets one. */
bool crlf_normalize(const uint8_t *in, size_t len, bool add_final, struct buf *out);

/* Appends the DATA payload for a CRLF message: lines that start with '.'
 * get another '.', then the final ".\r\n" (RFC 5321 4.5.2). A message
 * that does not end in CRLF gets one first. */
bool smtp_dot_stuff(const uint8_t *msg, size_t len, struct buf *out);

/* The result of comparing the sent message with the one read back. */
struct msg_cmp {
	bool same;            /* got = added header fields + sent, exactly */
	size_t added;         /* number of header fields the server prepended */
	char added_names[160];/* their names, ", "-separated (truncated) */
	size_t line;          /* when !same: first differing line of sent (1-based) */
	char want[80];        /* that line as sent / as read (escaped, truncated) */
	char got[80];
};

/* Compares got (dot-unstuffed, CRLF) with sent (CRLF): servers prepend
 * trace fields (Return-Path, Received, Delivered-To ...), so sent must be
 * a suffix of got, and what comes before it whole header fields. */
void message_compare(const uint8_t *sent, size_t slen, const uint8_t *got, size_t glen,
		     struct msg_cmp *res);

/* Writes bytes for display: printable ASCII passes, '\\' doubles, a tab is
 * \t, anything else \xNN; truncated with "..." to fit outsz. */
void display_escape(const char *in, size_t len, char *out, size_t outsz);

#endif
