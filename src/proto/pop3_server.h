/* pop3_server: the pure POP3 session state machine (RFC 1939, CAPA and
 * response codes of RFC 2449, STLS of RFC 2595, AUTH of RFC 5034 with the
 * SASL mechanisms of sasl.h).
 *
 * Same shape as smtp_server: feed() bytes, drain next(), answer requests
 * with input(). No sockets, clocks or files: the adapter verifies
 * passwords, locks and lists the maildrop, streams message content,
 * performs the UPDATE state's deletions and does the TLS handshake.
 *
 * Passwords are never taken in the clear unless the configuration says
 * so (plaintext_auth_ok): before TLS, USER/PASS, APOP and AUTH get
 * "-ERR [AUTH] Cleartext authentication not allowed" and CAPA does not
 * list USER or SASL (RFC 2595 2.3, RFC 5034 4, RFC 8314).
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
	size_t max_cmd_line;       /* LIMIT_POP3_CMD_LINE, CRLF included;
	                            * 0 = default, at least 64 */
	unsigned max_errors;       /* LIMIT_POP3_ERRORS: that many client
	                            * mistakes get their -ERR, the next one
	                            * "-ERR too many errors" and CLOSE;
	                            * 0 = default */
	/* CAPA IMPLEMENTATION text, e.g. "facteur 0.1"; NULL or "" = no
	 * IMPLEMENTATION line */
	const char *implementation;
	/* TLS is configured and the session is in plaintext: list STLS in
	 * CAPA (AUTHORIZATION state only) and accept it (RFC 2595 4).
	 * Ignored when tls_active. */
	bool stls_offered;
	/* The session runs inside TLS from its first byte (implicit TLS,
	 * POP3S port 995, RFC 8314): STLS gets "-ERR TLS already active",
	 * logins are allowed whatever plaintext_auth_ok says. */
	bool tls_active;
	/* Allow USER/PASS, APOP and AUTH without TLS. false (the safe
	 * default): before TLS they get "-ERR [AUTH] Cleartext
	 * authentication not allowed" (", use STLS" added when STLS is
	 * offered) and CAPA lists neither USER nor SASL. The adapter sets it
	 * per client address (e.g. true on loopback). */
	bool plaintext_auth_ok;
	/* Accept AUTH (RFC 5034) with the mechanisms of SASL_MECH_LIST
	 * (PLAIN, LOGIN) and list "SASL PLAIN LOGIN" in CAPA when logins are
	 * allowed (TLS, or plaintext_auth_ok). false: AUTH is an unknown
	 * command, as STLS is without stls_offered and TLS. */
	bool sasl_offered;
	/* Failed logins (wrong credentials through PASS, APOP or AUTH) in one
	 * session: the one that reaches it gets its "-ERR [AUTH] Invalid
	 * credentials", then CLOSE. They count as client errors (max_errors)
	 * too. 0 = POP3_AUTH_FAILURES_DEFAULT. */
	unsigned max_auth_failures;
	/* Log every client command line as a LOG item "C: <line>", secrets
	 * redacted (PASS, AUTH data), for session transcripts. */
	bool transcript;
};
#define POP3_AUTH_FAILURES_DEFAULT 3
/* pop3_server_new() copies the strings, dropping controls and "<>" (and
 * spaces, except in implementation) and cutting hostname, apop_unique and
 * implementation to 255, 128 and 128 octets; the cfg need not outlive
 * the call. A NULL or empty hostname becomes "localhost". */

enum pop3_out_kind {
	POP3_OUT_REPLY,     /* send data/len as is */
	/* Verify credentials, then lock and list the maildrop. Fields:
	 * user, and either pass (USER/PASS, or AUTH: then mech is set too)
	 * or apop_digest (32 hex chars, APOP, checked against
	 * MD5(timestamp + secret)). Answer with POP3_IN_AUTH_RESULT (and the
	 * listing on success); AUTH gets the same replies as PASS. */
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
	/* One event line, "<event> key=value ..." (e.g. "login user=\"alice\"
	 * method=user result=ok messages=2 octets=320", "retr msg=1
	 * octets=120", "dele msg=1", "quit deleted=1 left=1 result=ok",
	 * "close reason=timeout"): no component or session id (the adapter
	 * prefixes them), client values escaped, never a password. */
	POP3_OUT_LOG,
	POP3_OUT_CLOSE,     /* close after writing what was emitted before;
	                     * release the maildrop lock without deleting */
	/* STLS was accepted: write every reply emitted before (the last is
	 * "+OK Begin TLS negotiation") in plaintext, DISCARD every byte
	 * received and not consumed by feed() (CVE-2011-0411: feed()
	 * stopped right after the STLS line), then do the TLS handshake and
	 * answer POP3_IN_TLS_STARTED or POP3_IN_TLS_FAILED. feed() consumes
	 * nothing until then. */
	POP3_OUT_STLS,
};

struct pop3_out {
	enum pop3_out_kind kind;
	const char *data;          /* REPLY bytes / LOG text */
	size_t len;
	const char *user;          /* AUTH */
	const char *pass;          /* AUTH (USER/PASS, AUTH); wiped later */
	const char *apop_digest;   /* AUTH (APOP): 32 lower-case hex digits */
	const char *apop_timestamp;/* AUTH (APOP): the greeting's "<...>" */
	size_t msg;                /* SEND_MSG */
	long top_lines;            /* SEND_MSG: -1 = whole message (RETR) */
	const size_t *del_idx;     /* UPDATE */
	size_t ndel;               /* UPDATE */
	/* AUTH: "PLAIN" or "LOGIN" when the credentials come from a SASL
	 * exchange (user = the authentication identity, at most 255 octets
	 * of UTF-8 without controls; pass = the password, no NUL); NULL for
	 * USER/PASS and APOP. */
	const char *mech;
};
/* Pointers inside a pop3_out live until the next call into the session.
 * (The core keeps user/pass itself until AUTH is answered, then wipes;
 * a TIMEOUT or SHUTDOWN that closes the session wipes them too, so copy
 * them before calling in again.) */

/* One message of the locked maildrop, as listed at login. */
struct pop3_msg_info {
	uint64_t octets;           /* exact size in the CRLF form (RFC 1939 LIST) */
	const char *uidl;          /* 1..70 chars 0x21-0x7e (RFC 1939 7); copied */
};

enum pop3_in_kind {
	POP3_IN_AUTH_RESULT,
	POP3_IN_SENT,
	POP3_IN_UPDATE_RESULT,
	/* Autologout: "-ERR autologout timer expired" and CLOSE, without
	 * UPDATE. While SEND_MSG is pending: CLOSE only (no line inside the
	 * message; stop sending). While UPDATE is pending: ignored, its
	 * answer closes. While AUTH is pending: closes at once; the late
	 * answer is ignored, so release a lock taken for it on CLOSE. While
	 * STLS is pending (handshake): CLOSE only, no reply (plaintext would
	 * corrupt the handshake); a late TLS answer is ignored. */
	POP3_IN_TIMEOUT,
	/* Server stopping: "-ERR [SYS/TEMP] server shutting down" and CLOSE,
	 * without UPDATE. Deferred until a pending AUTH, SEND_MSG or UPDATE
	 * is answered (an answered AUTH then gets this reply instead).
	 * During the STLS handshake: CLOSE at once, no reply. */
	POP3_IN_SHUTDOWN,
	/* The STLS handshake succeeded: the session is now in TLS and still
	 * in AUTHORIZATION (RFC 2595 4); a USER name given before is
	 * forgotten; no new greeting. The error and failed-login counts are
	 * kept. */
	POP3_IN_TLS_STARTED,
	/* The handshake failed: CLOSE, without a reply. */
	POP3_IN_TLS_FAILED,
};

enum pop3_auth_result {
	POP3_AUTH_OK,              /* listing in msgs/nmsgs */
	POP3_AUTH_BAD,             /* -ERR [AUTH] (same for unknown user);
	                            * counts towards max_auth_failures */
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

/* Returns NULL on allocation failure. The greeting is queued at once. */
struct pop3_server *pop3_server_new(const struct pop3_server_cfg *cfg);
/* Wipes any password still held; *sp becomes NULL. */
void pop3_server_free(struct pop3_server **sp);
/* Returns the bytes consumed (<= len). Stops after a command that made a
 * request (AUTH, SEND_MSG, UPDATE, STLS) until it is answered, after
 * CLOSE, and once about 64 KiB of replies wait undrained (so pipelined
 * LIST floods cannot grow memory). So loop: feed, drain next(), feed the
 * rest, until all is taken or feed returns 0; after input() answered a
 * request, drain and feed the kept rest again (but after STLS, discard
 * it). Lines end in CRLF or a bare LF. During an AUTH exchange, the
 * client's response lines may be LIMIT_POP3_AUTH_LINE octets long. */
size_t pop3_server_feed(struct pop3_server *s, const uint8_t *in, size_t len);
bool pop3_server_next(struct pop3_server *s, struct pop3_out *out);
/* Answers the pending request, or delivers TIMEOUT/SHUTDOWN. Ignored
 * after CLOSE; an answer to a request that is not pending is a bug
 * (abort). */
void pop3_server_input(struct pop3_server *s, const struct pop3_in *in);
/* True once CLOSE was queued: feed nothing more. */
bool pop3_server_closed(const struct pop3_server *s);

#endif
