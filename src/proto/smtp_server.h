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
 * feed() stops consuming while a request is pending (RCPT check, commit,
 * AUTH verification, TLS handshake): that is how pipelined commands get
 * answered in order with back-pressure.
 *
 * STARTTLS (RFC 3207) and AUTH (RFC 4954, RFC 4616, LOGIN) are in the
 * core; the adapter does the handshake and verifies passwords. Submission
 * rules (RFC 6409) are a configuration flag.
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
	/* TLS is configured and the session is in plaintext: advertise
	 * STARTTLS in EHLO and accept it. Ignored when tls_active. */
	bool starttls_offered;
	/* The session runs inside TLS from its first byte (implicit TLS,
	 * RFC 8314, port 465): no STARTTLS (503), AUTH allowed. */
	bool tls_active;
	/* Accept AUTH at all (false: AUTH -> 502 as before). */
	bool auth_offered;
	/* Allow AUTH without TLS. false (the safe default, RFC 4954 4): AUTH
	 * is not advertised before TLS and gets "538 5.7.11 Encryption
	 * required for requested authentication mechanism". */
	bool auth_plaintext_ok;
	/* Message submission (RFC 6409 4.3): MAIL needs AUTH first (530
	 * 5.7.0). The sender check applies to every authenticated session,
	 * see MAIL in smtp_verbs.c. */
	bool submission;
	/* Failed AUTH attempts (wrong credentials) in one session; the one
	 * that reaches it gets its 535, then "421 4.7.0 Too many
	 * authentication failures" and CLOSE. 0 = SMTP_AUTH_FAILURES_DEFAULT. */
	unsigned max_auth_failures;
	/* Log every client command line as a LOG item "C: <line>", secrets
	 * redacted (AUTH data), for session transcripts. DATA content is not
	 * logged; its size is. */
	bool transcript;
};
#define SMTP_AUTH_FAILURES_DEFAULT 3

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
	/* STARTTLS was accepted: write every reply emitted before (the last
	 * is "220 2.0.0 Ready to start TLS") in plaintext, DISCARD every byte
	 * received and not consumed by feed() (CVE-2011-0411: feed() stopped
	 * right after the STARTTLS line), then do the TLS handshake and
	 * answer SMTP_IN_TLS_STARTED or SMTP_IN_TLS_FAILED. feed() consumes
	 * nothing until then. */
	SMTP_OUT_STARTTLS,
	/* A SASL exchange completed: verify out.auth (authcid + password)
	 * and answer SMTP_IN_AUTH_RESULT. feed() consumes nothing until
	 * then. */
	SMTP_OUT_AUTH,
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
	bool tls;                  /* the session is inside TLS */
	bool authenticated;        /* the session passed AUTH */
	const char *auth_user;     /* the account (SMTP_IN_AUTH_RESULT's user);
	                            * NULL when not authenticated */
};

/* The credentials of SMTP_OUT_AUTH. authcid and password are
 * NUL-terminated and hold no NUL; authcid is UTF-8 without controls, at
 * most SASL_FIELD_MAX (255) octets, as the client typed it (not
 * canonical: "alice" or "alice@localhost"). Unlike the rest of an
 * smtp_out, these pointers stay valid until SMTP_IN_AUTH_RESULT is input
 * (or the session is freed), so a worker thread may use them; the core
 * wipes the password then. Never log password. */
struct smtp_auth_creds {
	const char *mech;          /* "PLAIN" or "LOGIN" */
	const char *authcid;
	const char *password;
	size_t password_len;
};

struct smtp_out {
	enum smtp_out_kind kind;
	const char *data;          /* REPLY bytes, LOG text, CHECK_RCPT path */
	size_t len;
	struct smtp_commit commit; /* COMMIT only */
	struct smtp_auth_creds auth; /* AUTH only */
	/* CHECK_RCPT: whether the session is authenticated and as which
	 * account, so the adapter can route (an authenticated client's
	 * foreign recipient -> SMTP_RCPT_RELAY_UNAVAILABLE for now). */
	bool authenticated;
	const char *auth_user;     /* NULL when not authenticated */
};
/* Pointers inside an smtp_out live until the next call into the session
 * (except out.auth, see above). */

enum smtp_in_kind {
	SMTP_IN_RCPT_RESULT,
	SMTP_IN_COMMIT_RESULT,
	/* idle too long: 421 4.4.2 and close. Deferred until a pending
	 * COMMIT or AUTH has been answered; during a TLS handshake: CLOSE
	 * without a reply (plaintext would corrupt the handshake). */
	SMTP_IN_TIMEOUT,
	/* server stopping: 421 4.3.2 and close; deferred and silent as
	 * TIMEOUT. */
	SMTP_IN_SHUTDOWN,
	/* The STARTTLS handshake succeeded. The session is reset to its
	 * initial state (RFC 3207 4.2): HELO/EHLO, transaction and AUTH are
	 * forgotten, no new greeting; the client starts with EHLO. */
	SMTP_IN_TLS_STARTED,
	/* The handshake failed: CLOSE, without a reply (the connection is
	 * in no state to carry one). */
	SMTP_IN_TLS_FAILED,
	/* The answer to SMTP_OUT_AUTH: result is an enum smtp_auth_result,
	 * user the canonical account name on SMTP_AUTH_OK. */
	SMTP_IN_AUTH_RESULT,
	/* The server's memory budget for messages in transit is spent: the
	 * message being received stops being stored (its memory is freed
	 * at once), is read to its end and refused with 452 4.3.1. Ignored
	 * outside DATA. */
	SMTP_IN_SHED_DATA,
};

enum smtp_rcpt_result {
	SMTP_RCPT_OK,            /* 250 2.1.5 */
	SMTP_RCPT_UNKNOWN_USER,  /* 550 5.1.1 */
	SMTP_RCPT_RELAY_DENIED,  /* 554 5.7.1 */
	SMTP_RCPT_TEMPFAIL,      /* 451 4.3.0 */
	/* 451 4.4.0 "Relaying to remote domains is not available yet": for
	 * an authenticated client's foreign recipient until an outbound
	 * queue exists. */
	SMTP_RCPT_RELAY_UNAVAILABLE,
	/* 550 5.4.6 "Alias expansion loops": the aliases file sends this
	 * address round in circles with no final target (RFC 3463 5.4.6). */
	SMTP_RCPT_LOOP,
};

enum smtp_commit_result {
	SMTP_COMMIT_OK,          /* 250 2.0.0 */
	SMTP_COMMIT_TEMPFAIL,    /* 451 4.3.0 */
	SMTP_COMMIT_NO_SPACE,    /* 452 4.3.1 */
	/* 554 5.4.6 "Too many hops": the message carries more Received:
	 * fields than max_hops, a mail loop (RFC 5321 6.3). */
	SMTP_COMMIT_LOOP,
};

enum smtp_auth_result {
	SMTP_AUTH_OK,            /* 235 2.7.0 Authentication successful */
	SMTP_AUTH_BAD,           /* 535 5.7.8 Authentication credentials
	                          * invalid (also for an unknown user);
	                          * counts towards max_auth_failures */
	SMTP_AUTH_TEMPFAIL,      /* 454 4.7.0 Temporary authentication
	                          * failure */
};

struct smtp_in {
	enum smtp_in_kind kind;
	int result;              /* enum smtp_rcpt_result / smtp_commit_result
	                          * / smtp_auth_result */
	const char *id;          /* COMMIT_RESULT ok: queue/message id for the
	                          * 250 reply text; may be NULL */
	const char *user;        /* AUTH_RESULT ok: the canonical account name
	                          * ("alice@localhost"), copied by the core; it
	                          * is what MAIL FROM must match and what
	                          * auth_user reports. NULL = the authcid. */
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
/* Bytes of memory the message being received holds now (0 outside
 * DATA), for the adapter's server-wide budget. */
size_t smtp_server_data_held(const struct smtp_server *s);

#endif
