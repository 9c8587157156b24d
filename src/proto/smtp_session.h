/* smtp_session: the inside of struct smtp_server, shared by the session
 * machine (smtp_server.c) and the command handlers (smtp_verbs.c).
 * Private to src/proto and its unit tests; adapters use smtp_server.h. */
#ifndef FACTEUR_PROTO_SMTP_SESSION_H
#define FACTEUR_PROTO_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "proto/sasl.h"
#include "proto/smtp_addr.h"
#include "proto/smtp_cmd.h"
#include "proto/smtp_data.h"
#include "proto/smtp_server.h"

/* Where the session stands between commands (RFC 5321 4.1.4, 3.3). The
 * first four index the command table; DATA is the body phase. */
enum smtp_state {
	SMTP_ST_INIT,  /* greeted, no HELO/EHLO yet */
	SMTP_ST_READY, /* HELO/EHLO done, no transaction */
	SMTP_ST_MAIL,  /* MAIL accepted, no recipient accepted yet */
	SMTP_ST_RCPT,  /* at least one recipient accepted */
	SMTP_ST_DATA,  /* after 354: bytes are message content */
};
#define SMTP_ST_CMD_COUNT ((size_t)SMTP_ST_RCPT + 1)

/* The request the session waits on; feed() consumes nothing meanwhile. */
enum smtp_pending {
	SMTP_PEND_NONE,
	SMTP_PEND_RCPT,
	SMTP_PEND_COMMIT,
	SMTP_PEND_TLS,   /* STARTTLS accepted, handshake under way */
	SMTP_PEND_AUTH,  /* SASL done, credentials being verified */
};

/* Why the session closes (also the log text). */
enum smtp_close_reason {
	SMTP_CLOSE_NONE,
	SMTP_CLOSE_QUIT,
	SMTP_CLOSE_ERRORS,
	SMTP_CLOSE_TIMEOUT,
	SMTP_CLOSE_SHUTDOWN,
	SMTP_CLOSE_NO_MEMORY,
	SMTP_CLOSE_AUTH_FAILURES,
	SMTP_CLOSE_TLS_FAILED,
};

/* What a handler answers: one reply (or none while a request is out). */
#define SMTP_REPLY_MAX_LINES 12
struct smtp_answer {
	unsigned code;              /* 0: no reply now */
	const char *esc;            /* enhanced status code or NULL */
	const char *lines[SMTP_REPLY_MAX_LINES];
	size_t nlines;
	bool not_an_error;          /* a 5xx that does not count as an error */
	enum smtp_close_reason close_after; /* close once the reply is out */
	char scratch[48];           /* room for one built line (EHLO SIZE) */
};

struct smtp_qitem {
	enum smtp_out_kind kind;
	struct buf data;            /* REPLY bytes, LOG text, CHECK_RCPT path */
	struct smtp_commit commit;  /* COMMIT: body owned until yielded */
};

struct smtp_server {
	/* configuration, defaults filled in */
	char *hostname;
	size_t max_cmd_line;
	size_t max_text_line;
	size_t max_msg_size;
	unsigned max_rcpts;
	unsigned max_errors;
	bool vrfy_enabled;
	bool starttls_offered;
	bool auth_offered;
	bool auth_plaintext_ok;
	bool submission;
	unsigned max_auth_failures;
	bool transcript;

	enum smtp_state state;
	enum smtp_pending pending;
	enum smtp_close_reason deferred; /* close once the commit is answered */
	bool closed;                /* CLOSE queued: nothing more in or out */
	bool no_memory;             /* allocation failed: closing */
	unsigned errors;

	bool ehlo;                  /* the greeting was EHLO, not HELO */
	char *helo;                 /* the HELO/EHLO argument; NULL before */

	bool tls;                   /* inside TLS (implicit or STARTTLS) */
	/* AUTH (RFC 4954). The SASL state holds the password from the end
	 * of the exchange until the adapter answered; sasl_clear() wipes. */
	struct sasl sasl;
	bool auth_exchange;         /* a 334 is out: lines are responses */
	bool authenticated;
	char *auth_user;            /* the account; NULL unless authenticated */
	unsigned auth_failures;

	/* command line assembly, at most max_cmd_line bytes; SASL
	 * responses, at most LIMIT_SMTP_AUTH_LINE bytes, go to auth_line.
	 * Both are allocated in full up front and wiped after every line, so
	 * no realloc() leaves an AUTH secret behind in freed memory. */
	struct buf line;
	struct buf auth_line;
	bool discarding;            /* skipping the rest of an over-long line */

	/* the mail transaction (RFC 5321 3.3) */
	char *mail_from;            /* NULL outside a transaction */
	bool body_8bit;
	char **rcpts;
	size_t nrcpts;
	size_t rcpts_cap;
	bool rcpt_tried;            /* any RCPT seen in this transaction */
	struct smtp_path rcpt_asked;/* the path of the pending check */
	struct smtp_data data;

	/* output queue: items [qhead, qlen) not yet yielded */
	struct smtp_qitem *q;
	size_t qhead;
	size_t qlen;
	size_t qcap;
	struct smtp_qitem cur;      /* the item last yielded by next() */
	bool has_cur;
	bool oom_reply_sent;
	bool close_emitted;         /* next() has yielded CLOSE */
};

/* smtp_server.c */
void smtp_session_answer(struct smtp_server *s, const struct smtp_answer *a);
void smtp_session_log(struct smtp_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void smtp_session_request_rcpt(struct smtp_server *s);
/* Queues a request item of kind (STARTTLS, AUTH) and marks it pending. */
void smtp_session_request(struct smtp_server *s, enum smtp_out_kind kind,
	enum smtp_pending pending);
void smtp_session_close(struct smtp_server *s, enum smtp_close_reason why);
void smtp_session_reset_txn(struct smtp_server *s);
void smtp_session_oom(struct smtp_server *s);
/* Writes v in decimal, NUL-terminated (at most 21 bytes). */
void smtp_session_u64(char out[24], uint64_t v);
/* Escapes client bytes for a log line into out (outsz >= 8). */
const char *smtp_session_esc(char *out, size_t outsz, const char *in,
	size_t len);

/* smtp_verbs.c */
void smtp_verbs_dispatch(struct smtp_server *s, const uint8_t *line,
	size_t len);
void smtp_verbs_rcpt_result(struct smtp_server *s, int result);

/* smtp_auth.c: STARTTLS and AUTH */
void smtp_auth_do_starttls(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a);
void smtp_auth_do_auth(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a);
/* A line while auth_exchange: the client's SASL response. */
void smtp_auth_response(struct smtp_server *s, const uint8_t *line,
	size_t len);
/* The response line passed LIMIT_SMTP_AUTH_LINE: 500 5.5.6, exchange
 * over. */
void smtp_auth_line_too_long(struct smtp_server *s);
void smtp_auth_result(struct smtp_server *s, int result, const char *user);
void smtp_auth_tls_started(struct smtp_server *s);
/* Ends a SASL exchange: wipes the credentials and the response buffer. */
void smtp_auth_end(struct smtp_server *s);
/* AUTH is advertised in EHLO (and MAIL accepts AUTH=): offered, and in
 * TLS unless plaintext is allowed. */
bool smtp_auth_advertised(const struct smtp_server *s);

#endif
