/* pop3_server: the pure POP3 session state machine (RFC 1939, CAPA and
 * response codes of RFC 2449).
 *
 * Same shape as smtp_server: feed() bytes, drain next(), answer requests
 * with input(). No sockets, clocks or files: the adapter verifies
 * passwords, locks and lists the maildrop, streams message content and
 * performs the UPDATE state's deletions.
 */
#ifndef FACTEUR_PROTO_POP3_SERVER_H
#define FACTEUR_PROTO_POP3_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pop3_server_cfg {
	const char *hostname;      /* in the greeting and APOP timestamp */
	/* The APOP timestamp's unique part, e.g. "<4711.1700000000.3f2a@host>"
	 * is built as "<" + apop_unique + "@" + hostname + ">". The adapter
	 * supplies something unique per connection (pid, time, counter). */
	const char *apop_unique;
	bool apop_enabled;         /* advertise the timestamp, accept APOP */
	size_t max_cmd_line;       /* LIMIT_POP3_CMD_LINE */
	unsigned max_errors;       /* LIMIT_POP3_ERRORS */
	const char *implementation; /* CAPA IMPLEMENTATION text, e.g. "facteur 0.1" */
};

enum pop3_out_kind {
	POP3_OUT_REPLY,     /* send data/len as is */
	/* Verify credentials, then lock and list the maildrop. Fields:
	 * user, and either pass (USER/PASS) or apop_digest (32 hex chars,
	 * APOP, checked against MD5(timestamp + secret)). Answer with
	 * POP3_IN_AUTH_RESULT (and the listing on success). */
	POP3_OUT_AUTH,
	/* Send message msg (0-based index into the listing) to the client:
	 * "+OK" line already emitted by the core. The adapter sends the
	 * content converted to CRLF, dot-stuffed, limited to top_lines body
	 * lines when top_lines >= 0 (all headers always), then ".\r\n", then
	 * answers POP3_IN_SENT. */
	POP3_OUT_SEND_MSG,
	/* QUIT in TRANSACTION: delete every message whose deleted[] flag is
	 * set (indices in del_idx, count ndel), then answer POP3_IN_UPDATE_RESULT.
	 * The core then emits the final reply and CLOSE. */
	POP3_OUT_UPDATE,
	POP3_OUT_LOG,
	POP3_OUT_CLOSE,     /* close after writing what was emitted before;
	                     * release the maildrop lock without deleting */
};

struct pop3_out {
	enum pop3_out_kind kind;
	const char *data;          /* REPLY bytes / LOG text */
	size_t len;
	const char *user;          /* AUTH */
	const char *pass;          /* AUTH (USER/PASS); wiped by the core after */
	const char *apop_digest;   /* AUTH (APOP) */
	const char *apop_timestamp;/* AUTH (APOP): the greeting's "<...>" */
	size_t msg;                /* SEND_MSG */
	long top_lines;            /* SEND_MSG: -1 = whole message (RETR) */
	const size_t *del_idx;     /* UPDATE */
	size_t ndel;               /* UPDATE */
};
/* Pointers inside a pop3_out live until the next call into the session. */

/* One message of the locked maildrop, as listed at login. */
struct pop3_msg_info {
	uint64_t octets;           /* exact size in the CRLF form (RFC 1939 LIST) */
	const char *uidl;          /* 1..70 chars 0x21-0x7e (RFC 1939 7); copied */
};

enum pop3_in_kind {
	POP3_IN_AUTH_RESULT,
	POP3_IN_SENT,
	POP3_IN_UPDATE_RESULT,
	POP3_IN_TIMEOUT,           /* autologout: close without UPDATE */
	POP3_IN_SHUTDOWN,          /* server stopping: -ERR and close */
};

enum pop3_auth_result {
	POP3_AUTH_OK,              /* listing in msgs/nmsgs */
	POP3_AUTH_BAD,             /* -ERR [AUTH] (same for unknown user) */
	POP3_AUTH_IN_USE,          /* -ERR [IN-USE] */
	POP3_AUTH_TEMPFAIL,        /* -ERR [SYS/TEMP] */
};

struct pop3_in {
	enum pop3_in_kind kind;
	int result;                /* pop3_auth_result; UPDATE: 0 ok, -1 failed */
	const struct pop3_msg_info *msgs; /* AUTH_RESULT ok; copied by the core */
	size_t nmsgs;
};

struct pop3_server;

struct pop3_server *pop3_server_new(const struct pop3_server_cfg *cfg);
void pop3_server_free(struct pop3_server **sp);
size_t pop3_server_feed(struct pop3_server *s, const uint8_t *in, size_t len);
bool pop3_server_next(struct pop3_server *s, struct pop3_out *out);
void pop3_server_input(struct pop3_server *s, const struct pop3_in *in);
bool pop3_server_closed(const struct pop3_server *s);

#endif
