/* smtp_server: the pure SMTP session state machine (RFC 5321 and the
 * extensions SIZE, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES).
 *
 * No sockets, clocks or files: bytes go in with smtp_server_feed(); replies
 * and requests come out of smtp_server_next(); answers to requests (and
 * timeouts) go in with smtp_server_input().
 *
 * Typical adapter loop:
 *
 *	n = smtp_server_feed(s, data, len);   // consume what it takes
 *	while (smtp_server_next(s, &out))      // drain every output item
 *		handle(out);                   // write reply / answer request
 *	// if n < len, keep the rest and feed again after input() answered
 *
 * feed() stops consuming while a request is pending (RCPT check, commit):
 * that is how pipelined commands get answered in order with back-pressure.
 */
#ifndef FACTEUR_PROTO_SMTP_SERVER_H
#define FACTEUR_PROTO_SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smtp_server_cfg {
	const char *hostname;      /* in the greeting, EHLO reply; not owned */
	size_t max_cmd_line;       /* LIMIT_SMTP_CMD_LINE */
	size_t max_text_line;      /* LIMIT_SMTP_TEXT_LINE */
	size_t max_msg_size;       /* advertised as SIZE; LIMIT_SMTP_MSG_SIZE */
	unsigned max_rcpts;        /* LIMIT_SMTP_RCPTS; extra -> 452 4.5.3 */
	unsigned max_errors;       /* LIMIT_SMTP_ERRORS; then 421 and close */
	bool vrfy_enabled;         /* false: VRFY -> 252 */
};

enum smtp_out_kind {
	/* Send data/len to the client as is (one or more CRLF lines). */
	SMTP_OUT_REPLY,
	/* Is rcpt (the RFC 5321 path, without <>, e.g. "bob@example.org" or
	 * "postmaster") acceptable? Answer with SMTP_IN_RCPT_RESULT. */
	SMTP_OUT_CHECK_RCPT,
	/* The message is complete: store it for every accepted recipient.
	 * out.commit holds the transaction; answer with SMTP_IN_COMMIT_RESULT.
	 * The adapter takes ownership of commit.body (free() it). */
	SMTP_OUT_COMMIT,
	/* A one-line event for the log (no secrets, values already escaped). */
	SMTP_OUT_LOG,
	/* Close the connection after writing every reply emitted before. */
	SMTP_OUT_CLOSE,
};

/* The envelope and content of one accepted transaction. */
struct smtp_commit {
	const char *helo;          /* as the client gave it */
	bool esmtp;                /* the session began with EHLO (RFC 5321
	                            * 4.4: "with ESMTP" in Received) */
	const char *mail_from;     /* reverse-path without <>, "" for <> */
	const char *const *rcpts;  /* accepted forward-paths, without <> */
	size_t nrcpts;
	/* Message content as received after dot-unstuffing, lines ending in
	 * LF (CRLF converted), no trace headers added. Owned by the adapter
	 * once handed out (free()). */
	uint8_t *body;
	size_t body_len;
	bool body_8bit;            /* BODY=8BITMIME was given */
};

struct smtp_out {
	enum smtp_out_kind kind;
	const char *data;          /* REPLY bytes, LOG text, CHECK_RCPT path */
	size_t len;
	struct smtp_commit commit; /* COMMIT only */
};
/* Pointers inside an smtp_out live until the next call into the session. */

enum smtp_in_kind {
	SMTP_IN_RCPT_RESULT,
	SMTP_IN_COMMIT_RESULT,
	SMTP_IN_TIMEOUT, /* idle too long: 421 4.4.2 and close */
	SMTP_IN_SHUTDOWN, /* server stopping: 421 4.3.2 and close (deferred
	                   * until a pending commit has been answered) */
};

enum smtp_rcpt_result {
	SMTP_RCPT_OK,            /* 250 2.1.5 */
	SMTP_RCPT_UNKNOWN_USER,  /* 550 5.1.1 */
	SMTP_RCPT_RELAY_DENIED,  /* 554 5.7.1 */
	SMTP_RCPT_TEMPFAIL,      /* 451 4.3.0 */
};

enum smtp_commit_result {
	SMTP_COMMIT_OK,          /* 250 2.0.0 */
	SMTP_COMMIT_TEMPFAIL,    /* 451 4.3.0 */
	SMTP_COMMIT_NO_SPACE,    /* 452 4.3.1 */
};

struct smtp_in {
	enum smtp_in_kind kind;
	int result;              /* enum smtp_rcpt_result / smtp_commit_result */
	const char *id;          /* COMMIT_RESULT ok: queue/message id for the
	                          * 250 reply text; may be NULL */
};

struct smtp_server;

/* Returns NULL on allocation failure. The greeting is queued at once. */
struct smtp_server *smtp_server_new(const struct smtp_server_cfg *cfg);
void smtp_server_free(struct smtp_server **sp);
/* Returns the number of bytes consumed (<= len). Consumes nothing while a
 * request is unanswered or after close. */
size_t smtp_server_feed(struct smtp_server *s, const uint8_t *in, size_t len);
bool smtp_server_next(struct smtp_server *s, struct smtp_out *out);
void smtp_server_input(struct smtp_server *s, const struct smtp_in *in);
/* True once CLOSE was emitted: feed nothing more. */
bool smtp_server_closed(const struct smtp_server *s);
/* True while inside DATA (for choosing the idle timeout). */
bool smtp_server_in_data(const struct smtp_server *s);

#endif
