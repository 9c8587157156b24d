/* pop3_auth: STLS (RFC 2595 4), AUTH (RFC 5034) and the outcome of every
 * login (USER/PASS, APOP, AUTH) for the POP3 session machine.
 *
 * Pure like the rest of the core: the TLS handshake and the password
 * check are requests to the adapter (POP3_OUT_STLS, POP3_OUT_AUTH); the
 * SASL mechanisms are sasl.c's, shared with SMTP. Runs on attacker bytes
 * in the network process.
 *
 * What must never happen here: a byte after the STLS line consumed
 * before the handshake (CVE-2011-0411; feed() stops at the pending
 * request and the adapter discards the rest), a password or APOP digest
 * taken before TLS unless the configuration allows it, an AUTH payload or
 * password in a LOG item or a reply, a password left in memory once the
 * adapter answered.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/escape.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "proto/limits.h"
#include "proto/pop3_server_int.h"

/* RFC 4422 3.1: a mechanism name is 1 to 20 of A-Z, 0-9, "-", "_". */
#define POP3_MECH_NAME_MAX 20

bool pop3_auth_verb_offered(const struct pop3_server *s, enum pop3_verb v)
{
	/* An extension that is not configured is not implemented, in every
	 * state (RFC 2449 5: a client learns about it from CAPA only).
	 * STLS under TLS is known, and refused as such (RFC 2595 4). */
	if (v == POP3_VERB_STLS)
		return s->tls || s->stls_offered;
	if (v == POP3_VERB_AUTH)
		return s->sasl_offered;
	return true;
}

bool pop3_auth_allowed(const struct pop3_server *s)
{
	return s->tls || s->plaintext_auth_ok;
}

bool pop3_auth_refused(struct pop3_server *s, struct pop3_reply *r,
		       const char *method)
{
	if (pop3_auth_allowed(s))
		return false;
	/* RFC 2595 2.3, RFC 5034 4, RFC 8314: no password in the clear, nor
	 * an APOP digest (open to an offline dictionary attack). The
	 * command's arguments are not even looked at. [AUTH]: "an attempt
	 * to authenticate in violation of policy" (RFC 3206). */
	pop3_reply_err(r, "AUTH", "Cleartext authentication not allowed%s",
		       s->stls_offered ? ", use STLS" : "");
	pop3_server_log(s, "login method=%s result=cleartext-refused", method);
	return true;
}

/* ---- STLS (RFC 2595 4) -------------------------------------------- */

void pop3_auth_cmd_stls(struct pop3_server *s, const struct pop3_cmd *c,
			struct pop3_reply *r)
{
	/* RFC 2595 4: "A -ERR response MAY result if a security layer is
	 * already active"; no second TLS layer. */
	if (s->tls) {
		pop3_reply_err(r, NULL, "TLS already active");
		return;
	}
	/* The reply goes out first, then the request; feed() stops right
	 * after this line, so whatever the client pipelined behind STLS is
	 * never looked at (CVE-2011-0411). */
	pop3_reply_ok(r, "Begin TLS negotiation");
	r->after = POP3_AFTER_STLS;
}

void pop3_auth_tls_started(struct pop3_server *s)
{
	/* RFC 2595 4: the session stays in AUTHORIZATION, and what the
	 * client said in plaintext is forgotten (a USER name could have
	 * been injected by a man in the middle). The error and failed-login
	 * counts stay: they count abuse, not state. */
	s->tls = true;
	s->stls_offered = false;
	s->have_user = false;
	memset(s->user, 0, sizeof(s->user));
	pop3_server_wipe_secrets(s);
	pop3_server_log(s, "stls result=ok");
}

/* ---- AUTH (RFC 5034 4) -------------------------------------------- */

void pop3_auth_line_release(struct pop3_server *s)
{
	if (!s->auth_line || sasl_waiting(&s->sasl))
		return;
	secure_wipe(s->auth_line, LIMIT_POP3_AUTH_LINE);
	free(s->auth_line);
	s->auth_line = NULL;
}

/* A failed login: "-ERR [AUTH] Invalid credentials", counted; the one
 * that reaches max_auth_failures closes the session, which slows
 * password guessing down to a reconnection every few tries. */
static void login_failed(struct pop3_server *s, struct pop3_reply *r)
{
	/* RFC 2449 8, RFC 3206 4: the same answer for an unknown user and a
	 * wrong password, so names cannot be probed. */
	pop3_reply_err(r, "AUTH", "Invalid credentials");
	if (++s->auth_failures >= s->max_auth_failures) {
		r->after = POP3_AFTER_CLOSE;
		pop3_server_log(s, "close reason=auth-failures");
	}
}

static const char *sasl_error_name(enum sasl_error e)
{
	switch (e) {
	case SASL_ERR_NONE:
		return "none";
	case SASL_ERR_UNKNOWN_MECH:
		return "unknown-mechanism";
	case SASL_ERR_CANCELLED:
		return "cancelled";
	case SASL_ERR_BAD_BASE64:
		return "bad-base64";
	case SASL_ERR_MALFORMED:
		return "malformed";
	case SASL_ERR_TOO_LONG:
		return "too-long";
	case SASL_ERR_AUTHZID:
		return "authzid-mismatch";
	}
	return "?";
}

/* Turns a step of the SASL exchange into a reply or a request. mech is
 * the name for the log. */
static void sasl_outcome(struct pop3_server *s, const char *mech,
			 const struct sasl_result *res, struct pop3_reply *r)
{
	switch (res->status) {
	case SASL_CHALLENGE:
		/* The whole response buffer now: growing it later would leave
		 * copies of a secret behind. */
		if (!s->auth_line) {
			s->auth_line = malloc(LIMIT_POP3_AUTH_LINE);
			if (!s->auth_line) {
				sasl_clear(&s->sasl);
				pop3_reply_err(r, "SYS/TEMP", "out of memory");
				r->not_counted = true;
				r->after = POP3_AFTER_CLOSE;
				return;
			}
		}
		/* RFC 5034 4: "+" SP base64 and nothing else; "+ " alone is
		 * the empty challenge. */
		r->status = POP3_RP_CONT;
		r->code = NULL;
		size_t n = strlen(res->challenge);
		if (n >= sizeof(r->text))
			BUG("pop3 SASL challenge too long");
		memcpy(r->text, res->challenge, n + 1);
		return;
	case SASL_DONE:
		s->method = POP3_METHOD_SASL;
		r->status = POP3_RP_NONE;
		r->after = POP3_AFTER_AUTH;
		return;
	case SASL_FAIL:
		break;
	}
	/* sasl.c has wiped the exchange. RFC 5034 4: every failure is an
	 * -ERR, and the session goes on as if AUTH had not been given. */
	pop3_server_log(s, "auth mech=%s result=%s", mech,
			sasl_error_name(res->error));
	switch (res->error) {
	case SASL_ERR_NONE:
		BUG("pop3 SASL failed without a reason");
	case SASL_ERR_UNKNOWN_MECH:
		pop3_reply_err(r, NULL, "Unrecognized authentication type");
		break;
	case SASL_ERR_CANCELLED:
		/* The client's right (RFC 5034 4), not a mistake. */
		pop3_reply_err(r, NULL, "AUTH cancelled");
		r->not_counted = true;
		break;
	case SASL_ERR_BAD_BASE64:
		pop3_reply_err(r, NULL, "malformed base64");
		break;
	case SASL_ERR_MALFORMED:
		pop3_reply_err(r, NULL, "malformed authentication data");
		break;
	case SASL_ERR_TOO_LONG:
		pop3_reply_err(r, NULL, "AUTH response too long");
		break;
	case SASL_ERR_AUTHZID:
		/* Acting as someone else is a wrong credential: the same
		 * answer, and it counts. */
		login_failed(s, r);
		break;
	}
}

/* RFC 4422 3.1 names only reach the log: a client that forgot the
 * mechanism would otherwise have its base64 credentials logged as one. */
static const char *mech_for_log(const struct pop3_arg *m, char *out,
				size_t outsz)
{
	enum sasl_mech known;
	if (sasl_mech_lookup(m->p, m->len, &known))
		return sasl_mech_name(known);
	if (m->len == 0 || m->len > POP3_MECH_NAME_MAX)
		return "?";
	for (size_t i = 0; i < m->len; i++) {
		char ch = m->p[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_'))
			return "?";
	}
	return escape_log(out, outsz, (const uint8_t *)m->p, m->len);
}

/* "AUTH" SP mechanism [SP initial-response], or a bare "AUTH". */
void pop3_auth_cmd_auth(struct pop3_server *s, const struct pop3_cmd *c,
			struct pop3_reply *r)
{
	if (pop3_auth_refused(s, r, "auth"))
		return;
	if (c->nargs == 0) {
		/* Not in RFC 5034: RFC 1734's draft had a bare AUTH list the
		 * mechanisms, and Outlook and others still send it; answered
		 * as most servers do, one mechanism a line. */
		const char *p = SASL_MECH_LIST;
		while (*p) {
			size_t n = strcspn(p, " ");
			if (!pop3_server_multi(s, "%.*s", (int)n, p))
				return;
			p += n;
			p += strspn(p, " ");
		}
		pop3_reply_ok(r, "SASL mechanisms follow");
		r->multi = true;
		return;
	}
	char emech[4 * POP3_MECH_NAME_MAX + 8];
	const char *mech = mech_for_log(&c->args[0], emech, sizeof(emech));
	const struct pop3_arg *ir = c->nargs == 2 ? &c->args[1] : NULL;
	struct sasl_result res;
	/* RFC 5034 4: "=" is an empty initial response; sasl.c knows. */
	sasl_start(&s->sasl, c->args[0].p, c->args[0].len, ir ? ir->p : NULL,
		   ir ? ir->len : 0, &res);
	sasl_outcome(s, mech, &res, r);
}

void pop3_auth_response(struct pop3_server *s, const uint8_t *line,
			size_t len)
{
	const char *mech = sasl_mech_name(s->sasl.mech);
	struct pop3_reply r = { .status = POP3_RP_NONE };
	struct sasl_result res;
	if (s->transcript)
		pop3_server_log(s, "C: <redacted SASL response, %zu bytes>", len);
	/* "*" cancels (RFC 5034 4); sasl.c decodes and checks the rest. */
	sasl_step(&s->sasl, (const char *)line, len, &res);
	sasl_outcome(s, mech, &res, &r);
	pop3_server_emit(s, &r);
}

void pop3_auth_line_too_long(struct pop3_server *s)
{
	pop3_server_log(s, "auth mech=%s result=line-too-long",
			sasl_mech_name(s->sasl.mech));
	sasl_clear(&s->sasl);
	struct pop3_reply r = { .status = POP3_RP_NONE };
	pop3_reply_err(&r, NULL, "AUTH response too long");
	pop3_server_emit(s, &r);
}

/* ---- the answer to POP3_OUT_AUTH ---------------------------------- */

static const char *method_name(const struct pop3_server *s)
{
	switch (s->method) {
	case POP3_METHOD_USER:
		return "user";
	case POP3_METHOD_APOP:
		return "apop";
	case POP3_METHOD_SASL:
		switch (s->sasl.mech) {
		case SASL_MECH_PLAIN:
			return "auth-plain";
		case SASL_MECH_LOGIN:
			return "auth-login";
		}
		break;
	}
	return "?";
}

void pop3_auth_result(struct pop3_server *s, const struct pop3_in *in)
{
	if (in->result < POP3_AUTH_OK || in->result > POP3_AUTH_TEMPFAIL)
		BUG("pop3 unknown auth result");
	s->pending = POP3_PEND_NONE;
	/* Name and method first: the wipe takes the SASL exchange along. */
	const char *name =
		s->method == POP3_METHOD_SASL ? s->sasl.authcid : s->user;
	char u[POP3_ESC_USER];
	escape_log(u, sizeof(u), (const uint8_t *)name, strlen(name));
	const char *method = method_name(s);
	pop3_server_wipe_secrets(s);

	struct pop3_reply r = { .status = POP3_RP_NONE };
	switch ((enum pop3_auth_result)in->result) {
	case POP3_AUTH_OK:
		if (s->shutdown_wait)
			break;
		if (!pop3_listing_copy(s, in->msgs, in->nmsgs)) {
			pop3_reply_err(&r, "SYS/TEMP", "out of memory");
			r.not_counted = true;
			r.after = POP3_AFTER_CLOSE;
			break;
		}
		s->state = POP3_ST_TRANSACTION;
		size_t n;
		uint64_t octets;
		pop3_listing_stat(s, &n, &octets);
		pop3_reply_ok(&r, "maildrop has %zu messages (%llu octets)", n,
			      (unsigned long long)octets);
		pop3_server_log(s,
				"login user=\"%s\" method=%s result=ok "
				"messages=%zu octets=%llu",
				u, method, n, (unsigned long long)octets);
		break;
	case POP3_AUTH_BAD:
		pop3_server_log(s, "login user=\"%s\" method=%s result=failed",
				u, method);
		login_failed(s, &r);
		break;
	case POP3_AUTH_IN_USE:
		/* RFC 2449 8.1.2: credentials were good, the lock was not. */
		pop3_reply_err(&r, "IN-USE", "Maildrop already locked");
		r.not_counted = true;
		pop3_server_log(s, "login user=\"%s\" method=%s result=in-use",
				u, method);
		break;
	case POP3_AUTH_TEMPFAIL:
		pop3_reply_err(&r, "SYS/TEMP",
			       "Unable to open maildrop, try again later");
		r.not_counted = true;
		pop3_server_log(s,
				"login user=\"%s\" method=%s result=tempfail",
				u, method);
		break;
	}
	if (s->state != POP3_ST_TRANSACTION) {
		/* RFC 1939 7: after a failed PASS, start again with USER. */
		s->have_user = false;
		s->user[0] = '\0';
	}
	if (s->shutdown_wait) {
		/* Replaces the reply; the adapter releases a lock on CLOSE. */
		pop3_server_shutdown(s);
		return;
	}
	pop3_server_emit(s, &r);
}
