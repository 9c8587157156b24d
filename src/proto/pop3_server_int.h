/* pop3_server_int: what pop3_server.c (queue, formatter, requests),
 * pop3_server_cmd.c (the command table and its handlers) and pop3_auth.c
 * (STLS, AUTH, login outcomes) share. Private to those files; nothing
 * else includes it. */
#ifndef FACTEUR_PROTO_POP3_SERVER_INT_H
#define FACTEUR_PROTO_POP3_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "proto/limits.h"
#include "proto/pop3_cmd.h"
#include "proto/pop3_server.h"
#include "proto/sasl.h"

/* Reply bytes queued and not yet taken by next(): past this, feed()
 * stops taking commands until the adapter drains, so a pipelined flood
 * of LIST or CAPA cannot grow memory without bound. */
#define POP3_BACKLOG_MAX (64u * 1024u)
/* RFC 2449 4: the first line of a response, CRLF included. */
#define POP3_STATUS_LINE_MAX 512
/* Below this a line could not even hold "APOP name digest". */
#define POP3_MIN_CMD_LINE 64
#define POP3_HOST_MAX 255
#define POP3_UNIQUE_MAX 128
#define POP3_IMPL_MAX 128
/* RFC 1939 7 (UIDL): 1 to 70 characters in the range 0x21 to 0x7E. */
#define POP3_UIDL_MAX 70
#define POP3_DIGEST_LEN 32
/* Room for an escaped user name in a log line. */
#define POP3_ESC_USER (4 * LIMIT_POP3_ARG + 8)

enum pop3_state { POP3_ST_AUTHORIZATION, POP3_ST_TRANSACTION, POP3_ST_UPDATE };
#define POP3_STATES_AUTH (1u << POP3_ST_AUTHORIZATION)
#define POP3_STATES_TRANS (1u << POP3_ST_TRANSACTION)
#define POP3_STATES_ANY (POP3_STATES_AUTH | POP3_STATES_TRANS)

enum pop3_pending {
	POP3_PEND_NONE,
	POP3_PEND_AUTH,
	POP3_PEND_SEND,
	POP3_PEND_UPDATE,
	POP3_PEND_TLS,      /* STLS accepted, handshake under way */
};

/* How the pending (or last) login was made. */
enum pop3_method {
	POP3_METHOD_USER,   /* USER/PASS: user, pass */
	POP3_METHOD_APOP,   /* APOP: user, digest */
	POP3_METHOD_SASL,   /* AUTH: sasl.authcid, sasl.passwd */
};

struct pop3_item {
	enum pop3_out_kind kind;
	uint8_t *data;  /* REPLY, LOG: owned, NUL after len */
	size_t len;
	size_t msg;     /* SEND_MSG */
	long top_lines; /* SEND_MSG */
};

struct pop3_msg {
	uint64_t octets;
	const char *uidl; /* points into uidl_block */
	bool deleted;
};

struct pop3_server {
	char hostname[POP3_HOST_MAX + 1];
	char timestamp[POP3_UNIQUE_MAX + POP3_HOST_MAX + 4]; /* "<u@h>" */
	char implementation[POP3_IMPL_MAX + 1];
	bool apop_enabled;
	size_t max_line;
	unsigned max_errors;
	bool tls;               /* inside TLS: implicit, or after STLS */
	bool stls_offered;      /* cleared once TLS is active */
	bool plaintext_auth_ok;
	bool sasl_offered;
	unsigned max_auth_failures;
	bool transcript;
	unsigned auth_failures;

	enum pop3_state state;
	enum pop3_pending pending;
	bool closed;        /* CLOSE queued: consume and answer nothing */
	bool shutdown_wait; /* SHUTDOWN came while a request was pending */
	bool oom;           /* an allocation failed: close */
	bool oom_closed;    /* ... and CLOSE was handed out */
	unsigned errors;

	uint8_t *line;      /* max_line bytes; wiped after every line */
	size_t line_len;
	bool discarding;    /* inside an over-long line: skip to LF */

	char user[LIMIT_POP3_ARG + 1];
	bool have_user;
	char *pass;         /* max_line bytes; wiped once AUTH is answered */
	enum pop3_method method;
	char digest[POP3_DIGEST_LEN + 1];
	/* The AUTH exchange; sasl_waiting() while a client response is
	 * due, SASL_PHASE_DONE while its credentials are being verified. */
	struct sasl sasl;
	/* LIMIT_POP3_AUTH_LINE bytes, allocated while sasl_waiting() (RFC
	 * 5034 4: responses longer than a command line); wiped after every
	 * line, freed once the exchange is over. */
	uint8_t *auth_line;

	struct pop3_msg *msgs;
	size_t nmsgs;
	char *uidl_block;
	size_t *del_idx;

	struct buf multi;   /* body of the multi-line reply being built */

	struct pop3_item *q;
	size_t qhead, qlen, qcap;
	size_t backlog;
	struct pop3_item cur;    /* last item handed out by next() */
	bool have_cur;
};

/* POP3_RP_CONT: a SASL challenge, "+ text" (RFC 5034 4; text may be
 * empty, the space is always sent). */
enum pop3_status { POP3_RP_NONE, POP3_RP_OK, POP3_RP_ERR, POP3_RP_CONT };
enum pop3_after {
	POP3_AFTER_NOTHING,
	POP3_AFTER_AUTH,
	POP3_AFTER_SEND,
	POP3_AFTER_UPDATE,
	POP3_AFTER_CLOSE,
	POP3_AFTER_STLS,
};

/* What a handler decides; pop3_server_emit() turns it into bytes and
 * requests. */
struct pop3_reply {
	enum pop3_status status;
	const char *code;   /* RFC 2449 8 response code, without brackets */
	char text[POP3_STATUS_LINE_MAX];
	bool multi;         /* s->multi holds the body lines */
	bool not_counted;   /* -ERR that is not the client's mistake */
	enum pop3_after after;
	size_t msg;         /* POP3_AFTER_SEND */
	long top_lines;     /* POP3_AFTER_SEND */
};


/* Fill r with "+OK text" / "-ERR [code] text" (code may be NULL). */
void pop3_reply_ok(struct pop3_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pop3_reply_err(struct pop3_reply *r, const char *code, const char *fmt,
		    ...)
	__attribute__((format(printf, 3, 4)));
/* The one formatter: queues r's status line, multi-line body, and the
 * request or close it asks for. */
void pop3_server_emit(struct pop3_server *s, struct pop3_reply *r);
/* Appends one line (CRLF added) to the multi-line body being built.
 * Returns false on allocation failure (the session then closes). */
bool pop3_server_multi(struct pop3_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Queues a LOG event "<event> key=value ...". */
void pop3_server_log(struct pop3_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Wipes every secret the session holds: the PASS copy, the APOP digest,
 * the SASL exchange and its response buffer. */
void pop3_server_wipe_secrets(struct pop3_server *s);
/* "-ERR [SYS/TEMP] server shutting down" and CLOSE. */
void pop3_server_shutdown(struct pop3_server *s);

/* pop3_server_cmd.c: handles one complete command line (no CRLF). */
void pop3_server_command(struct pop3_server *s, const uint8_t *line,
			 size_t len);
/* Copies the adapter's listing (uidl strings included). */
bool pop3_listing_copy(struct pop3_server *s, const struct pop3_msg_info *m,
		       size_t n);
void pop3_listing_free(struct pop3_server *s);
/* Messages not marked deleted, and their total size (saturating). */
void pop3_listing_stat(const struct pop3_server *s, size_t *count,
		       uint64_t *octets);

/* pop3_auth.c: STLS, AUTH and what all logins share. */
/* False for STLS and AUTH when the configuration does not offer them:
 * the dispatcher then answers "-ERR unknown command". */
bool pop3_auth_verb_offered(const struct pop3_server *s, enum pop3_verb v);
/* Logins are allowed: in TLS, or plaintext_auth_ok. */
bool pop3_auth_allowed(const struct pop3_server *s);
/* When logins are not allowed, fills r with the cleartext refusal (and
 * logs it) and returns true. method names the command for the log. */
bool pop3_auth_refused(struct pop3_server *s, struct pop3_reply *r,
		       const char *method);
void pop3_auth_cmd_stls(struct pop3_server *s, const struct pop3_cmd *c,
			struct pop3_reply *r);
void pop3_auth_cmd_auth(struct pop3_server *s, const struct pop3_cmd *c,
			struct pop3_reply *r);
/* A client response line (no CRLF) while sasl_waiting(). */
void pop3_auth_response(struct pop3_server *s, const uint8_t *line,
			size_t len);
/* A response line past LIMIT_POP3_AUTH_LINE: -ERR, exchange aborted. */
void pop3_auth_line_too_long(struct pop3_server *s);
/* Frees the response buffer once no exchange waits for a line. */
void pop3_auth_line_release(struct pop3_server *s);
/* The answers to POP3_OUT_AUTH and POP3_OUT_STLS. */
void pop3_auth_result(struct pop3_server *s, const struct pop3_in *in);
void pop3_auth_tls_started(struct pop3_server *s);

#endif
