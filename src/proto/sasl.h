/* sasl: the server side of the SASL mechanisms PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login), for SMTP AUTH (RFC 4954) and POP3 AUTH
 * (RFC 5034) alike.
 *
 * Protocol-agnostic and pure: no I/O, no allocation, no clock, no random
 * numbers. The caller cuts lines and frames challenges: SMTP sends a
 * challenge as "334 <base64>", POP3 as "+ <base64>"; both take the
 * client's responses as lines of base64 and "*" to cancel, and both
 * spell an empty initial response "=" (RFC 4954 4, RFC 5034 4). The
 * module decodes, checks the mechanism's grammar and hands out the
 * authentication identity and password; verifying them is the caller's
 * (the adapter's) job.
 *
 * Secrets: the decoded password lives in struct sasl only, and
 * sasl_clear() wipes it (and every scratch buffer is wiped before the
 * call returns). The caller wipes its own copy of the base64 lines.
 *
 * Mechanisms:
 * - PLAIN: "[authzid] NUL authcid NUL passwd". authcid and passwd must
 *   be non-empty; the authzid must be empty or byte-for-byte equal to
 *   authcid (nobody may act as someone else here); every field at most
 *   SASL_FIELD_MAX octets; exactly two NULs. authcid/authzid must be
 *   UTF-8 without control characters; the password may be any bytes but
 *   NUL (legacy clients send Latin-1 passwords, and crypt(3) compares
 *   bytes anyway).
 * - LOGIN: challenges "Username:" and "Password:" (base64-encoded); an
 *   initial response, when given, is the user name (as sent by Outlook
 *   and others). Same field rules as PLAIN.
 *
 * SCRAM-SHA-256 (RFC 7677) is deliberately NOT implemented. It cannot be
 * verified against what the account file stores (crypt(3) hashes): it
 * needs per-user salted StoredKey/ServerKey values, hence a new password
 * format, a migration path and a "fetch the user's SCRAM keys" request in
 * the middle of the exchange. It also needs a server nonce (randomness,
 * which a pure core takes as an input) and, to beat PLAIN over TLS in a
 * meaningful way, channel binding to the TLS session (-PLUS). PLAIN over
 * TLS is the mechanism RFC 4954 makes mandatory, and facteur refuses it
 * without TLS by default. The state machine below (named mechanisms,
 * several steps, a challenge per step) leaves room to add it later; the
 * account store would have to change first.
 */
#ifndef FACTEUR_PROTO_SASL_H
#define FACTEUR_PROTO_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 4616 2: authzid, authcid and passwd "MUST accept up to 255
 * octets". Longer fields are refused (SASL_ERR_TOO_LONG). */
#define SASL_FIELD_MAX 255
/* The longest decoded client message: a PLAIN message with three full
 * fields and two NULs. */
#define SASL_MSG_MAX (3 * SASL_FIELD_MAX + 2)
/* Its base64 form: longer responses are refused before decoding. */
#define SASL_RESPONSE_MAX (((SASL_MSG_MAX + 2) / 3) * 4)
/* The mechanisms to advertise (SMTP EHLO "AUTH PLAIN LOGIN", POP3 CAPA
 * "SASL PLAIN LOGIN"). */
#define SASL_MECH_LIST "PLAIN LOGIN"

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
};

enum sasl_status {
	SASL_CHALLENGE, /* send result.challenge, then feed the reply line
	                 * to sasl_step() */
	SASL_DONE,      /* verify result.authcid / result.passwd */
	SASL_FAIL,      /* the exchange is over; see result.error */
};

/* Why an exchange failed, and what SMTP (RFC 4954) answers for it. POP3
 * answers "-ERR" for each. */
enum sasl_error {
	SASL_ERR_NONE,
	SASL_ERR_UNKNOWN_MECH, /* 504 5.5.4 */
	SASL_ERR_CANCELLED,    /* "*": 501 5.0.0 (RFC 4954 4: 501) */
	SASL_ERR_BAD_BASE64,   /* 501 5.5.2 (RFC 4954 4) */
	SASL_ERR_MALFORMED,    /* breaks the mechanism's grammar: 501 5.5.2 */
	SASL_ERR_TOO_LONG,     /* a field over SASL_FIELD_MAX, a response
	                        * over SASL_RESPONSE_MAX: 500 5.5.6 */
	SASL_ERR_AUTHZID,      /* authzid is not the authcid: an
	                        * authentication failure, 535 5.7.8 */
};

enum sasl_phase {
	SASL_PHASE_IDLE,     /* no exchange */
	SASL_PHASE_PLAIN,    /* PLAIN: waiting for the message */
	SASL_PHASE_USERNAME, /* LOGIN: waiting for the user name */
	SASL_PHASE_PASSWORD, /* LOGIN: waiting for the password */
	SASL_PHASE_DONE,     /* credentials held until sasl_clear() */
};

/* One exchange. Embed it (no allocation); sasl_init() or a zeroed struct
 * starts idle. */
struct sasl {
	enum sasl_mech mech;
	enum sasl_phase phase;
	char authcid[SASL_FIELD_MAX + 1];  /* NUL-terminated, no NUL inside */
	size_t authcid_len;
	char passwd[SASL_FIELD_MAX + 1];   /* NUL-terminated, no NUL inside */
	size_t passwd_len;
	char challenge[16];                /* base64 of the current challenge */
};

struct sasl_result {
	enum sasl_status status;
	enum sasl_error error;     /* FAIL only */
	/* CHALLENGE: the base64 text to send after "334 " / "+ "; "" for the
	 * empty challenge ("334 " with nothing after the space). */
	const char *challenge;
	/* DONE: the authentication identity and the password, NUL-terminated
	 * with no NUL inside; they point into the struct sasl and live until
	 * sasl_clear() or the next sasl_start(). */
	const char *authcid;
	const char *passwd;
	size_t passwd_len;
};

void sasl_init(struct sasl *x);
/* Wipes the credentials and returns to idle. Call it when the exchange
 * failed, was answered, or the session ends. */
void sasl_clear(struct sasl *x);

/* Looks up a mechanism name (case-insensitive; name need not be
 * NUL-terminated). */
bool sasl_mech_lookup(const char *name, size_t len, enum sasl_mech *out);
/* "PLAIN", "LOGIN". */
const char *sasl_mech_name(enum sasl_mech m);

/* Starts an exchange (any previous one is wiped). initial is the initial
 * response exactly as the client sent it (base64, or "=" for an empty
 * one), or NULL when the client sent none. Returns result->status. */
enum sasl_status sasl_start(struct sasl *x, const char *mech, size_t mech_len,
	const char *initial, size_t initial_len, struct sasl_result *result);
/* Feeds the client's response line (without CRLF) to a CHALLENGE. "*"
 * cancels. Calling it without a pending challenge is a bug (abort). */
enum sasl_status sasl_step(struct sasl *x, const char *line, size_t len,
	struct sasl_result *result);
/* True between a CHALLENGE and the reply that answers it. */
bool sasl_waiting(const struct sasl *x);

#endif
