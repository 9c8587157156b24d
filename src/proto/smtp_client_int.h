/* smtp_client_int: what the parts of the outbound SMTP client core
 * share: smtp_client.c (the session: queue, dispatch, feed/next/input),
 * smtp_client_hello.c (greeting, EHLO/HELO, STARTTLS, AUTH),
 * smtp_client_txn.c (MAIL/RCPT/DATA, results), smtp_client_reply.c (reply
 * assembly and parsing) and smtp_client_body.c (the DATA encoder).
 * Private to those files; nothing else includes it. */
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
/* A reply made here (code 0 for a session failure without one). */
struct smtp_client_reply smtpc_reply_local(unsigned code, const char *status,
	const char *text);

static inline unsigned smtpc_class(const struct smtp_client_reply *r)
{
	return r->code / 100;
}

/* 4xx or 5xx: a refusal, as opposed to a reply out of place */
static inline bool smtpc_failure(const struct smtp_client_reply *r)
{
	return smtpc_class(r) == 4 || smtpc_class(r) == 5;
}

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

/* ---- the session (smtp_client.c) ---- */

enum smtpc_state {
	SMTPC_ST_GREETING,
	SMTPC_ST_EHLO,
	SMTPC_ST_HELO,
	SMTPC_ST_STARTTLS,    /* STARTTLS sent, waiting for 220 */
	SMTPC_ST_TLS,         /* STARTTLS given out: for TLS_OK/FAILED */
	SMTPC_ST_AUTH_PLAIN,  /* "AUTH PLAIN" without initial response */
	SMTPC_ST_AUTH_USER,   /* "AUTH LOGIN" sent: for 334 asking the user */
	SMTPC_ST_AUTH_PASS,   /* user sent: for the 334 asking the password */
	SMTPC_ST_AUTH_RESULT, /* credentials sent: for 235 */
	SMTPC_ST_READY,
	SMTPC_ST_RSET,
	SMTPC_ST_MAIL,
	SMTPC_ST_RCPT,        /* for the reply to rcpts[cursor] */
	SMTPC_ST_DATA,
	SMTPC_ST_BODY,        /* 354 received: body blocks being given out */
	SMTPC_ST_DOT,         /* the final "." sent */
	SMTPC_ST_DOT_IGNORE,  /* "." sent after a 354 nobody should have had */
	SMTPC_ST_QUIT,
	SMTPC_ST_CLOSED,
};

/* A recipient's way through a transaction. */
enum smtpc_rcpt_state {
	SMTPC_RS_LOCAL,    /* refused here, no RCPT sent: result final */
	SMTPC_RS_PENDING,  /* RCPT sent or to send, no reply yet */
	SMTPC_RS_ACCEPTED, /* RCPT got 2xx: the result is the end of data's */
	SMTPC_RS_DONE,     /* result final */
};

struct smtpc_item {
	enum smtp_client_out_kind kind;
	struct buf data;
	bool secret; /* holds AUTH data: wiped when released */
};

struct smtpc_txn {
	bool active;
	bool pipelined;
	bool mail_failed;
	struct buf mail_line;        /* "MAIL FROM:<..> SIZE=.." without CRLF */
	char **rcpts;
	size_t nrcpts;
	unsigned char *rs;           /* enum smtpc_rcpt_state per recipient */
	struct smtp_client_rcpt_result *res;
	size_t cursor;               /* the recipient whose reply is next */
	size_t naccepted;
	const uint8_t *body;         /* borrowed until DONE */
	size_t body_len;
	uint64_t size;
	struct smtpc_body enc;
};

struct smtp_client {
	enum smtpc_state state;
	char *helo_name;
	char *user, *pass;           /* copies, wiped on free */
	/* the AUTH data, base64: PLAIN's message, LOGIN's user and
	 * password; wiped on free */
	char *b64[3];
	bool want_tls, tls_required, auth_plaintext_ok;
	bool tls;
	bool size_offered;           /* EHLO had SIZE, limit or not */
	bool need_rset;              /* the last transaction left state */
	struct smtp_client_ext ext;
	struct smtpc_reader rd;

	struct smtpc_item *q;
	size_t qhead, qlen, qcap;
	size_t open_send;            /* SEND item further commands join */
	struct smtpc_item cur;       /* the item given out last */
	bool has_cur;
	struct buf chunk;            /* the body block given out last */
	bool pend_done, pend_ready, pend_close;
	bool no_memory;
	struct smtp_client_reply close_reply;
	bool close_permanent;

	struct smtpc_txn t;
};

/* A new queue item, or NULL (out of memory, or closed). */
struct smtpc_item *smtpc_push(struct smtp_client *c,
	enum smtp_client_out_kind kind);
/* Frees the item given out last: every entry point starts with this. */
void smtpc_release_cur(struct smtp_client *c);
/* Queues a LOG item: prefix and the escaped s[0..n). */
void smtpc_log(struct smtp_client *c, const char *prefix, const char *s,
	size_t n);
/* Queues the command line a+b (b may be NULL) with CRLF and logs it, as
 * log_as when given. secret: AUTH data, sent alone and wiped. */
void smtpc_send_line(struct smtp_client *c, const char *a, const char *b,
	const char *log_as, bool secret);
void smtpc_cmd(struct smtp_client *c, const char *line);
/* No transaction: READY goes out next. */
void smtpc_to_ready(struct smtp_client *c);
/* Ends the session with rep (DONE first for a transaction in progress);
 * quit: send QUIT first. */
void smtpc_fail(struct smtp_client *c, const struct smtp_client_reply *rep,
	bool permanent, bool quit);
void smtpc_fail_local(struct smtp_client *c, const char *text, bool quit);
void smtpc_oom(struct smtp_client *c);
/* A reply the state does not allow: protocol error, the session ends. */
void smtpc_unexpected(struct smtp_client *c,
	const struct smtp_client_reply *rep);

/* ---- greeting, EHLO/HELO, STARTTLS, AUTH (smtp_client_hello.c) ---- */

/* Encodes the AUTH data once, at creation. False when out of memory. */
bool smtpc_hello_auth_encode(struct smtp_client *c);
void smtpc_hello_send_ehlo(struct smtp_client *c);
void smtpc_hello_greeting(struct smtp_client *c,
	const struct smtp_client_reply *r);
void smtpc_hello_ehlo(struct smtp_client *c, const struct smtp_client_reply *r);
void smtpc_hello_helo(struct smtp_client *c, const struct smtp_client_reply *r);
void smtpc_hello_starttls(struct smtp_client *c,
	const struct smtp_client_reply *r);
/* Any of the AUTH states. */
void smtpc_hello_auth(struct smtp_client *c, const struct smtp_client_reply *r);

/* ---- transactions (smtp_client_txn.c) ---- */

void smtpc_txn_free(struct smtpc_txn *t);
/* rep becomes the result of every recipient still without one. */
void smtpc_txn_settle(struct smtp_client *c,
	const struct smtp_client_reply *rep);
/* DONE, then READY. */
void smtpc_txn_end(struct smtp_client *c);
void smtpc_txn_rset(struct smtp_client *c, const struct smtp_client_reply *r);
void smtpc_txn_mail(struct smtp_client *c, const struct smtp_client_reply *r);
void smtpc_txn_rcpt(struct smtp_client *c, const struct smtp_client_reply *r);
void smtpc_txn_data(struct smtp_client *c, const struct smtp_client_reply *r);
void smtpc_txn_dot(struct smtp_client *c, const struct smtp_client_reply *r);
/* Fills out with the next block of the body (state BODY). */
void smtpc_txn_body_block(struct smtp_client *c, struct smtp_client_out *out);

#endif
