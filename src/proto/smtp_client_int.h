/* smtp_client_int: what smtp_client.c (the session machine) shares with
 * its helpers: smtp_client_reply.c (reply assembly and parsing, EHLO
 * keywords) and smtp_client_body.c (the DATA encoder). Private to those
 * files; nothing else includes it. */
#ifndef FACTEUR_PROTO_SMTP_CLIENT_INT_H
#define FACTEUR_PROTO_SMTP_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "proto/smtp_client.h"

/* A hostile server must not make us hold an unbounded reply: a line is
 * capped by cfg.max_reply_line (this when 0), a reply by its line count.
 * RFC 5321 4.5.3.1.5 allows 512 octets a line; real servers send longer
 * EHLO and 5xx texts, hence the default. */
#define SMTPC_REPLY_LINE_DEFAULT 4096
#define SMTPC_REPLY_LINES_MAX 100

/* ---- reply reader (smtp_client_reply.c) ---- */

enum smtpc_read {
	SMTPC_READ_MORE,  /* all given bytes up to *taken held no whole reply */
	SMTPC_READ_REPLY, /* r->reply (and r->ext) hold a whole reply */
	SMTPC_READ_ERROR, /* malformed: r->error says how; the stream is lost */
	SMTPC_READ_NOMEM,
};

struct smtpc_reader {
	struct buf line;       /* the line being received */
	size_t max;            /* longest line accepted, LF included */
	bool ehlo;             /* read continuation lines as EHLO keywords */
	bool done;             /* reply holds a finished reply */
	size_t nlines;         /* lines of the reply being read */
	size_t text_len;       /* used part of reply.text */
	struct smtp_client_reply reply;
	struct smtp_client_ext ext; /* keywords of this reply, when ehlo */
	bool size_offered;     /* SIZE was among them (ext.size may be 0) */
	const char *error;     /* after SMTPC_READ_ERROR: a constant string */
};

void smtpc_reader_init(struct smtpc_reader *r, size_t max);
void smtpc_reader_clear(struct smtpc_reader *r);
/* Forgets the partial line and reply (RFC 3207 4.2: nothing received
 * before the TLS handshake may be used after it). */
void smtpc_reader_discard(struct smtpc_reader *r);
/* Takes bytes up to and including one LF (or all of them without one);
 * *taken says how many. */
enum smtpc_read smtpc_reader_feed(struct smtpc_reader *r, const uint8_t *in,
	size_t len, size_t *taken);
/* Copies text into a reply's text field with controls and 8-bit bytes
 * replaced, NUL-terminated, truncated to fit. */
void smtpc_reply_set_text(struct smtp_client_reply *rep, const char *text);

/* ---- DATA encoder (smtp_client_body.c) ---- */

/* RFC 5321 4.5.3.1.6: 1000 octets a line with CRLF, so 998 of text. */
#define SMTPC_BODY_LINE_MAX 998
/* Bytes of encoded body per SEND; a 25 MiB message is never copied
 * whole, and the adapter's write timeout (4.5.3.2.5) covers one block. */
#define SMTPC_BODY_CHUNK (64u * 1024u)

struct smtpc_body {
	const uint8_t *p;      /* borrowed: the queue file's content */
	size_t len;
	size_t pos;            /* next input byte */
	size_t col;            /* octets on the current wire line */
	uint64_t dots;         /* stuffing dots added so far */
	bool ended;            /* the final "." line is out */
};

void smtpc_body_init(struct smtpc_body *b, const uint8_t *p, size_t len);
/* RFC 1870 3: the size as sent, CRLF line ends counted, the stuffing
 * dots and the final ".\r\n" not. */
uint64_t smtpc_body_size(const uint8_t *p, size_t len);
/* Appends the next block (at most SMTPC_BODY_CHUNK bytes) of the encoded
 * body to out; the last ends with ".\r\n". False when out of memory. */
bool smtpc_body_fill(struct smtpc_body *b, struct buf *out);

#endif
