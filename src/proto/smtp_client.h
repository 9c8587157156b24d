/* smtp_client: the pure core of facteur's outbound SMTP (RFC 5321 client,
 * RFC 1869/5321 EHLO with HELO fallback, RFC 2920 PIPELINING, RFC 1870
 * SIZE, RFC 6152 8BITMIME, RFC 3207 STARTTLS, RFC 4954 AUTH PLAIN/LOGIN).
 *
 * Like smtp_server it does no I/O and reads no clock: the adapter feeds
 * the bytes the server sent, and takes out what to write and what
 * happened. One session carries any number of messages (connection
 * reuse): each time the core reports READY, the adapter either starts a
 * message or asks it to quit.
 *
 *   c = smtp_client_new(&cfg);
 *   loop:
 *     smtp_client_feed(c, bytes, n)       -- what the server sent
 *     while (smtp_client_next(c, &out))   -- SEND bytes, STARTTLS, READY,
 *                                            DONE, CLOSE
 *     smtp_client_input(c, &in)           -- TLS result, EOF, timeout, QUIT
 *
 * Message content is given as stored in the queue: lines ending in LF
 * (a CRLF is taken as one line end too). The core sends it with CRLF line
 * ends, dot-stuffed (RFC 5321 4.5.2), lines longer than 998 octets broken
 * (RFC 5321 4.5.3.1.6), and the final ".". */
#ifndef FACTEUR_PROTO_SMTP_CLIENT_H
#define FACTEUR_PROTO_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smtp_client;

struct smtp_client_cfg {
	const char *helo_name;   /* our name for EHLO/HELO */
	bool tls_active;         /* implicit TLS: the session is already inside TLS */
	bool starttls;           /* use STARTTLS when the server offers it */
	bool tls_required;       /* no TLS -> temporary failure, nothing sent */
	/* AUTH after EHLO (and after TLS when starttls): PLAIN when offered,
	 * else LOGIN. NULL user = no AUTH. AUTH is never attempted outside
	 * TLS unless auth_plaintext_ok. The core keeps copies and wipes them. */
	const char *auth_user;
	const char *auth_password;
	bool auth_plaintext_ok;
	size_t max_reply_line;   /* longest reply line accepted; 0 = 4096 */
};

/* What the server said, for results and logs. */
struct smtp_client_reply {
	unsigned code;            /* 3-digit reply code; 0 when the session failed
	                           * without a reply (connection lost, timeout,
	                           * protocol error): a temporary failure */
	char status[16];          /* enhanced status "5.1.1" (RFC 3463) when the
	                           * reply carried one, else "" */
	char text[512];           /* reply text, lines joined with " / ", controls
	                           * replaced; or what went wrong when code is 0 */
};

/* Per-recipient outcome of a transaction (DONE). */
struct smtp_client_rcpt_result {
	struct smtp_client_reply reply; /* RCPT's reply when it was refused,
	                                 * else the final reply to the message
	                                 * (after the "."), or the MAIL FROM /
	                                 * session failure that stopped it */
	bool accepted;                  /* 2xx to the whole transaction */
};

enum smtp_client_out_kind {
	SMTPC_OUT_SEND,     /* write data[0..len) to the server */
	SMTPC_OUT_STARTTLS, /* 220 to STARTTLS received: do the TLS handshake,
	                     * then SMTPC_IN_TLS_OK / SMTPC_IN_TLS_FAILED */
	SMTPC_OUT_READY,    /* greeted, EHLO/TLS/AUTH done, no transaction:
	                     * smtp_client_start_message or SMTPC_IN_QUIT */
	SMTPC_OUT_DONE,     /* the transaction ended: results[0..nresults) in
	                     * the order of smtp_client_start_message's rcpts */
	SMTPC_OUT_LOG,      /* a line for the log (data/len): transcript of
	                     * commands and replies, AUTH data redacted */
	SMTPC_OUT_CLOSE,    /* the session is over: close the connection */
};

struct smtp_client_out {
	enum smtp_client_out_kind kind;
	const uint8_t *data;      /* SEND, LOG */
	size_t len;
	const struct smtp_client_rcpt_result *results; /* DONE */
	size_t nresults;
	/* CLOSE: why, when the session failed before or between transactions
	 * (greeting refused, EHLO and HELO refused, TLS required or failed,
	 * AUTH refused, connection lost, timeout); code 0 when it ended
	 * normally after QUIT. fatal_permanent: a 5xx at greeting/EHLO/AUTH
	 * (trying another host of the same destination is still fine). */
	struct smtp_client_reply close_reply;
	bool close_permanent;
};
/* Pointers in an smtp_client_out live until the next call into the core. */

enum smtp_client_in_kind {
	SMTPC_IN_TLS_OK,
	SMTPC_IN_TLS_FAILED,
	SMTPC_IN_EOF,       /* the server closed the connection */
	SMTPC_IN_TIMEOUT,   /* smtp_client_timeout() passed with no reply */
	SMTPC_IN_QUIT,      /* at READY: send QUIT, wait for 221 (or EOF), CLOSE */
};
struct smtp_client_in {
	enum smtp_client_in_kind kind;
};

/* NULL when out of memory. */
struct smtp_client *smtp_client_new(const struct smtp_client_cfg *cfg);
void smtp_client_free(struct smtp_client **cp);

/* Consumes server bytes; returns how many were taken (less than len only
 * while an output is waiting to be taken, or after CLOSE). */
size_t smtp_client_feed(struct smtp_client *c, const uint8_t *data, size_t len);
/* Takes the next output; false when there is none now. */
bool smtp_client_next(struct smtp_client *c, struct smtp_client_out *out);
void smtp_client_input(struct smtp_client *c, const struct smtp_client_in *in);

/* At READY: sends MAIL FROM (SIZE= when the server has SIZE, BODY=8BITMIME
 * when body_8bit and offered), the RCPTs and DATA (pipelined when the
 * server offers PIPELINING), then the body. from "" = null path. body
 * must stay valid until DONE. A message larger than the server's SIZE
 * limit fails at once with 552 5.3.4 for every recipient (permanent),
 * nothing sent. Returns false (nothing started) when not at READY or out
 * of memory. */
bool smtp_client_start_message(struct smtp_client *c, const char *from,
			       const char *const *rcpts, size_t nrcpts,
			       const uint8_t *body, size_t body_len, bool body_8bit);

/* Seconds the adapter should wait for the reply the core waits for now
 * (RFC 5321 4.5.3.2: greeting 300, MAIL 300, RCPT 300, DATA 120, the
 * body's blocks 180, after "." 600, others 300); 0 when it waits for
 * nothing. */
unsigned smtp_client_timeout(const struct smtp_client *c);

/* What the server offered in its EHLO reply (after TLS, the second one). */
struct smtp_client_ext {
	bool esmtp, pipelining, starttls, eightbitmime, auth_plain, auth_login;
	uint64_t size;            /* SIZE limit, 0 = none given */
};
const struct smtp_client_ext *smtp_client_extensions(const struct smtp_client *c);
bool smtp_client_tls_active(const struct smtp_client *c);

#endif
