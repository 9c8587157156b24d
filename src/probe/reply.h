/* reply: what a client reads from an SMTP or POP3 server, parsed without
 * touching a socket: SMTP replies (RFC 5321 4.2) with enhanced status codes
 * (RFC 3463), EHLO keywords (RFC 5321 4.1.1.1), POP3 status lines and
 * multi-line responses (RFC 1939 3), CAPA (RFC 2449), APOP timestamps,
 * LIST/STAT/UIDL lines. Each function takes one line without its CRLF. */
#ifndef FACTEUR_PROBE_REPLY_H
#define FACTEUR_PROBE_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum reply_result { REPLY_MORE, REPLY_DONE, REPLY_BAD };

/* ---- SMTP ------------------------------------------------------------ */

/* Most lines kept for one reply (an EHLO reply has one per extension). */
#define SMTP_REPLY_MAX_LINES 256

struct smtp_reply {
	int code;           /* 0 until the first line */
	char enhanced[16];  /* "2.1.0" from the first line, or "" */
	struct buf text;    /* every line's text (after "ddd-"/"ddd "), '\n'-joined */
	size_t nlines;
	const char *why;    /* after REPLY_BAD: a static explanation */
};

void smtp_reply_init(struct smtp_reply *r);
/* Frees the text; the struct may be reused after smtp_reply_init. */
void smtp_reply_clear(struct smtp_reply *r);
/* Feeds one line. REPLY_MORE after a "ddd-" line, REPLY_DONE after the
 * last ("ddd " or "ddd"), REPLY_BAD on a malformed line, a code that
 * changes inside the reply, or more than SMTP_REPLY_MAX_LINES lines. */
enum reply_result smtp_reply_line(struct smtp_reply *r, const char *line, size_t len);
/* Iterates over the lines' texts: *pos starts at 0. */
bool smtp_reply_next_text(const struct smtp_reply *r, size_t *pos, const char **text,
			  size_t *len);

#define EHLO_MAX_EXT 64

struct ehlo_ext {
	char keyword[32];   /* as sent, e.g. "SIZE" */
	char params[480];   /* the rest of the line, e.g. "26214400" */
	bool valid;         /* keyword syntax per RFC 5321 4.1.1.1 */
};

struct ehlo_info {
	char domain[256];   /* first line's first word: the server's name */
	struct ehlo_ext ext[EHLO_MAX_EXT];
	size_t n;
	size_t dropped;     /* lines past EHLO_MAX_EXT or too long */
};

/* Splits a 250 reply to EHLO into the server's name and extensions. */
void ehlo_parse(const struct smtp_reply *r, struct ehlo_info *e);
/* The extension with this keyword (case-insensitive), or NULL. */
const struct ehlo_ext *ehlo_find(const struct ehlo_info *e, const char *keyword);
/* Is word one of the space-separated words of params (case-insensitive)? */
bool words_has(const char *params, const char *word);
/* One line on what an extension means, written into out (NUL-terminated). */
void ehlo_describe(const struct ehlo_ext *x, char *out, size_t outsz);

/* ---- POP3 ------------------------------------------------------------ */

enum pop3_status { POP3_ST_OK, POP3_ST_ERR, POP3_ST_BAD };

/* Classifies a status line: "+OK[ text]" or "-ERR[ text]". *text and
 * *textlen get the text (may be empty). */
enum pop3_status pop3_status_parse(const char *line, size_t len, const char **text,
				   size_t *textlen);
/* The response code at the start of a status text ("[IN-USE] ..." ->
 * "IN-USE", RFC 2449 8), or false. */
bool pop3_resp_code(const char *text, size_t len, char *out, size_t outsz);
/* The APOP timestamp of a greeting text: the first "<...@...>" (RFC 1939
 * 7: a msg-id), brackets included; false when there is none. */
bool pop3_apop_timestamp(const char *text, size_t len, char *out, size_t outsz);

struct pop3_multi {
	struct buf body;    /* the lines, dot-unstuffed, each ending in CRLF */
	size_t nlines;
	bool done;
};

void pop3_multi_init(struct pop3_multi *m, size_t max);
void pop3_multi_clear(struct pop3_multi *m);
/* Feeds one line of a multi-line response: REPLY_DONE at the lone ".",
 * REPLY_BAD when the body would pass its maximum. A line "..x" becomes
 * ".x" (RFC 1939 3). */
enum reply_result pop3_multi_line(struct pop3_multi *m, const char *line, size_t len);
/* Iterates over the body's lines (without CRLF): *pos starts at 0. */
bool pop3_multi_next(const struct pop3_multi *m, size_t *pos, const char **line, size_t *len);

/* "a b" (then optionally SP and anything): LIST lines "msg size", the
 * STAT text "count size". Numbers are strict (no sign, no overflow). */
bool pop3_scan_pair(const char *s, size_t len, uint64_t *a, uint64_t *b);
/* A UIDL line "msg uid" (RFC 1939 7: uid is 1..70 chars 0x21..0x7E). */
bool pop3_uidl_line(const char *s, size_t len, uint64_t *msg, const char **uid,
		    size_t *uidlen);
/* The CAPA line whose first word is name (case-insensitive); *args gets
 * what follows it (may be empty). */
bool pop3_capa_find(const struct pop3_multi *capa, const char *name, const char **args,
		    size_t *argslen);
/* One line on what a CAPA capability means, or NULL when unknown. */
const char *pop3_capa_describe(const char *name, size_t len);

#endif
