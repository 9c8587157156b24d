/* smtp_auth: STARTTLS (RFC 3207) and AUTH (RFC 4954) for the SMTP
 * session machine.
 *
 * Pure like the rest of the core: the TLS handshake and the password
 * check are requests to the adapter (SMTP_OUT_STARTTLS, SMTP_OUT_AUTH).
 * The SASL mechanisms themselves are in sasl.c, shared with POP3.
 *
 * What must never happen here: a byte after the STARTTLS line consumed
 * before the handshake (CVE-2011-0411; feed() stops at the pending
 * request), an AUTH payload or password in a LOG item or a reply, a
 * password left in memory after the adapter answered. */
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "proto/smtp_session.h"

/* Room for an escaped authcid (or mechanism) in a log line; longer ones
 * are cut with "...". */
#define AUTH_LOG_ESC 200

static void answer1(struct smtp_answer *a, unsigned code, const char *esc,
	const char *text)
{
	a->code = code;
	a->esc = esc;
	a->lines[0] = text;
	a->nlines = 1;
}

static bool in_transaction(const struct smtp_server *s)
{
	return s->state == SMTP_ST_MAIL || s->state == SMTP_ST_RCPT;
}

bool smtp_auth_advertised(const struct smtp_server *s)
{
	return s->auth_offered && (s->tls || s->auth_plaintext_ok);
}

/* ---- STARTTLS (RFC 3207 4) ---- */

void smtp_auth_do_starttls(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	/* RFC 3207 4.2: no second TLS layer */
	if (s->tls) {
		answer1(a, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (!s->starttls_offered) {
		answer1(a, 502, "5.5.1", "Command not implemented");
		return;
	}
	/* RFC 3207 4: "501 Syntax error (no parameters allowed)" */
	if (c->args_len) {
		answer1(a, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	/* The reset after the handshake would silently drop the
	 * transaction; say so now instead. */
	if (in_transaction(s)) {
		answer1(a, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	struct smtp_answer r = {0};
	answer1(&r, 220, "2.0.0", "Ready to start TLS");
	smtp_session_answer(s, &r);
	/* The 220 goes out first, then the request. feed() stops right
	 * after this line: whatever the client pipelined after STARTTLS
	 * is never looked at (CVE-2011-0411), the adapter discards it. */
	smtp_session_request(s, SMTP_OUT_STARTTLS, SMTP_PEND_TLS);
}

void smtp_auth_tls_started(struct smtp_server *s)
{
	/* RFC 3207 4.2: back to the state after the greeting; everything
	 * learnt from the client in plaintext is forgotten. The error and
	 * AUTH failure counters are kept: they count abuse, not state. */
	s->tls = true;
	s->starttls_offered = false;
	smtp_session_reset_txn(s);
	s->state = SMTP_ST_INIT;
	free(s->helo);
	s->helo = NULL;
	s->ehlo = false;
	s->authenticated = false;
	free(s->auth_user);
	s->auth_user = NULL;
	smtp_auth_end(s);
	smtp_session_log(s, "starttls result=ok");
}

/* ---- AUTH (RFC 4954 4) ---- */

/* The exchange is over (the password may still be held, until the
 * answer): lines are commands again. */
static void exchange_over(struct smtp_server *s)
{
	s->auth_exchange = false;
	buf_release_secure(&s->auth_line);
	buf_init(&s->auth_line, LIMIT_SMTP_AUTH_LINE);
}

void smtp_auth_end(struct smtp_server *s)
{
	exchange_over(s);
	sasl_clear(&s->sasl);
}

/* A failed attempt: counted, and at max_auth_failures the session
 * ends. The 535 itself is not a protocol error (it has its own limit). */
static void auth_failed(struct smtp_server *s, struct smtp_answer *a)
{
	answer1(a, 535, "5.7.8", "Authentication credentials invalid");
	a->not_an_error = true;
	if (++s->auth_failures >= s->max_auth_failures)
		a->close_after = SMTP_CLOSE_AUTH_FAILURES;
}

static const char *sasl_error_name(enum sasl_error e)
{
	switch (e) {
	case SASL_ERR_NONE: return "none";
	case SASL_ERR_UNKNOWN_MECH: return "unknown-mechanism";
	case SASL_ERR_CANCELLED: return "cancelled";
	case SASL_ERR_BAD_BASE64: return "bad-base64";
	case SASL_ERR_MALFORMED: return "malformed";
	case SASL_ERR_TOO_LONG: return "too-long";
	case SASL_ERR_AUTHZID: return "authzid-mismatch";
	}
	return "?";
}

/* Turns a step of the SASL exchange into a reply or a request. mech is
 * the name for the log. */
static void sasl_outcome(struct smtp_server *s, const char *mech,
	const struct sasl_result *r, struct smtp_answer *a)
{
	switch (r->status) {
	case SASL_CHALLENGE:
		/* RFC 4954 4: "334" SP base64, nothing else; no enhanced
		 * code on a 3xx (RFC 2034 4). The whole response buffer is
		 * allocated now, so no realloc() copies a secret around. */
		if (!s->auth_exchange
			&& !buf_reserve(&s->auth_line, LIMIT_SMTP_AUTH_LINE)) {
			smtp_auth_end(s);
			smtp_session_oom(s);
			return;
		}
		s->auth_exchange = true;
		answer1(a, 334, NULL, r->challenge);
		return;
	case SASL_DONE:
		exchange_over(s);
		smtp_session_request(s, SMTP_OUT_AUTH, SMTP_PEND_AUTH);
		return;
	case SASL_FAIL:
		break;
	}
	smtp_auth_end(s);
	smtp_session_log(s, "auth mech=%s result=%s", mech,
		sasl_error_name(r->error));
	switch (r->error) {
	case SASL_ERR_NONE:
		BUG("smtp_auth: SASL failed without a reason");
	case SASL_ERR_UNKNOWN_MECH:
		answer1(a, 504, "5.5.4", "Unrecognized authentication mechanism");
		break;
	case SASL_ERR_CANCELLED:
		answer1(a, 501, "5.0.0", "Authentication cancelled");
		break;
	case SASL_ERR_BAD_BASE64:
		answer1(a, 501, "5.5.2", "Cannot decode response");
		break;
	case SASL_ERR_MALFORMED:
		answer1(a, 501, "5.5.2", "Malformed authentication data");
		break;
	case SASL_ERR_TOO_LONG:
		/* RFC 4954 4/6: longer than the mechanism's buffer */
		answer1(a, 500, "5.5.6", "Authentication Exchange line is too long");
		break;
	case SASL_ERR_AUTHZID:
		/* the same answer as a wrong password: nothing to learn */
		auth_failed(s, a);
		break;
	}
}

/* RFC 4422 3.1: a mechanism name is 1 to 20 of A-Z, 0-9, "-", "_". Only
 * such names reach the log: a client that forgot the mechanism would
 * otherwise have its base64 credentials logged as one. */
static bool mech_name_loggable(const char *m, size_t n)
{
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = m[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
			|| c == '_'))
			return false;
	}
	return true;
}

/* "AUTH" SP mechanism [SP initial-response] (RFC 4954 4). */
void smtp_auth_do_auth(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	if (!s->auth_offered) {
		answer1(a, 502, "5.5.1", "Command not implemented");
		return;
	}
	/* RFC 4954 4: "a server MUST reject any further AUTH commands with
	 * a 503 reply" */
	if (s->authenticated) {
		answer1(a, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	/* After HELO as after EHLO, as Postfix does: AUTH is only ever
	 * advertised to EHLO, but refusing a HELO client that knows what
	 * it wants protects nothing. */
	if (s->state == SMTP_ST_INIT) {
		answer1(a, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	/* RFC 4954 4: "not permitted during a mail transaction" */
	if (in_transaction(s)) {
		answer1(a, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	/* RFC 4954 4, 6: no plaintext passwords without TLS, unless the
	 * configuration explicitly allows it. The initial response, if
	 * any, is not even looked at. */
	if (!s->tls && !s->auth_plaintext_ok) {
		answer1(a, 538, "5.7.11",
			"Encryption required for requested authentication mechanism");
		return;
	}
	const char *mech = c->args;
	size_t mlen = 0;
	while (mlen < c->args_len && mech[mlen] != ' ')
		mlen++;
	size_t i = mlen;
	while (i < c->args_len && c->args[i] == ' ')
		i++;
	const char *ir = i < c->args_len ? c->args + i : NULL;
	size_t irlen = c->args_len - i;
	if (mlen == 0 || (ir && memchr(ir, ' ', irlen))) {
		answer1(a, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return;
	}
	char emech[AUTH_LOG_ESC];
	enum sasl_mech m;
	if (sasl_mech_lookup(mech, mlen, &m))
		memcpy(emech, sasl_mech_name(m), strlen(sasl_mech_name(m)) + 1);
	else if (mech_name_loggable(mech, mlen))
		smtp_session_esc(emech, sizeof emech, mech, mlen);
	else
		memcpy(emech, "?", 2);
	struct sasl_result r;
	sasl_start(&s->sasl, mech, mlen, ir, irlen, &r);
	sasl_outcome(s, emech, &r, a);
}

void smtp_auth_response(struct smtp_server *s, const uint8_t *line,
	size_t len)
{
	const char *mech = sasl_mech_name(s->sasl.mech);
	struct sasl_result r;
	struct smtp_answer a = {0};
	if (s->transcript)
		smtp_session_log(s, "C: <redacted SASL response, %zu bytes>", len);
	sasl_step(&s->sasl, (const char *)line, len, &r);
	sasl_outcome(s, mech, &r, &a);
	smtp_session_answer(s, &a);
}

void smtp_auth_line_too_long(struct smtp_server *s)
{
	smtp_session_log(s, "auth mech=%s result=line-too-long",
		sasl_mech_name(s->sasl.mech));
	smtp_auth_end(s);
	struct smtp_answer a = {0};
	/* RFC 4954 4: "the server fails the AUTH command with the 500
	 * reply" (5.5.6, RFC 4954 6) */
	answer1(&a, 500, "5.5.6", "Authentication Exchange line is too long");
	smtp_session_answer(s, &a);
}

void smtp_auth_result(struct smtp_server *s, int result, const char *user)
{
	struct smtp_answer a = {0};
	char euser[AUTH_LOG_ESC], eacct[AUTH_LOG_ESC];
	const char *mech = sasl_mech_name(s->sasl.mech);
	smtp_session_esc(euser, sizeof euser, s->sasl.authcid,
		s->sasl.authcid_len);
	switch ((enum smtp_auth_result)result) {
	case SMTP_AUTH_OK: {
		const char *acct = user && *user ? user : s->sasl.authcid;
		size_t n = strlen(acct);
		char *u = malloc(n + 1);
		if (!u) {
			smtp_auth_end(s);
			smtp_session_oom(s);
			return;
		}
		memcpy(u, acct, n + 1);
		free(s->auth_user);
		s->auth_user = u;
		s->authenticated = true;
		smtp_session_log(s, "auth mech=%s user=\"%s\" account=\"%s\" result=ok",
			mech, euser, smtp_session_esc(eacct, sizeof eacct, u, n));
		answer1(&a, 235, "2.7.0", "Authentication successful");
		break;
	}
	case SMTP_AUTH_BAD:
		smtp_session_log(s, "auth mech=%s user=\"%s\" result=failed",
			mech, euser);
		auth_failed(s, &a);
		break;
	case SMTP_AUTH_TEMPFAIL:
		smtp_session_log(s, "auth mech=%s user=\"%s\" result=tempfail",
			mech, euser);
		answer1(&a, 454, "4.7.0", "Temporary authentication failure");
		break;
	}
	if (a.code == 0)
		BUG("smtp_auth: unknown AUTH result");
	/* the adapter has answered: the password goes now */
	smtp_auth_end(s);
	smtp_session_answer(s, &a);
}
