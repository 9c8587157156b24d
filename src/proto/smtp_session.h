/* smtp_session: the inside of struct smtp_server, shared by the session
 * machine (smtp_server.c) and the command handlers (smtp_verbs.c).
 * Private to src/proto and its unit tests; adapters use smtp_server.h. */
#ifndef FACTEUR_PROTO_SMTP_SESSION_H
#define FACTEUR_PROTO_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
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
};

/* Why the session closes (also the log text). */
enum smtp_close_reason {
	SMTP_CLOSE_NONE,
	SMTP_CLOSE_QUIT,
	SMTP_CLOSE_ERRORS,
	SMTP_CLOSE_TIMEOUT,
	SMTP_CLOSE_SHUTDOWN,
	SMTP_CLOSE_NO_MEMORY,
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

	enum smtp_state state;
	enum smtp_pending pending;
	enum smtp_close_reason deferred; /* close once the commit is answered */
	bool closed;                /* CLOSE queued: nothing more in or out */
	bool no_memory;             /* allocation failed: closing */
	unsigned errors;

	bool ehlo;                  /* the greeting was EHLO, not HELO */
	char *helo;                 /* the HELO/EHLO argument; NULL before */

	/* command line assembly, at most max_cmd_line bytes */
	struct buf line;
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

#endif
