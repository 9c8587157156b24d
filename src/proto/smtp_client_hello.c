/* smtp_client_hello: what the outbound client does before it can send
 * mail: the greeting, EHLO with HELO fallback (RFC 5321 3.2, 4.1.1.1),
 * STARTTLS (RFC 3207) and AUTH PLAIN or LOGIN (RFC 4954, RFC 4616).
 * Handlers of smtp_client.c's reply dispatch; pure, no I/O.
 *
 * The password never goes out in the clear unless the configuration
 * says so, and AUTH data goes out in SEND items marked secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "proto/limits.h"
#include "proto/smtp_client_int.h"

void smtpc_hello_send_ehlo(struct smtp_client *c)
{
	smtpc_send_line(c, "EHLO ", c->helo_name, NULL, false);
	memset(&c->ext, 0, sizeof c->ext);
	c->size_offered = false;
	c->rd.ehlo = true;
	c->state = SMTPC_ST_EHLO;
}

static char *b64_of(const uint8_t *p, size_t n)
{
	char *out = malloc(BASE64_ENCODED_SIZE(n));
	if (out)
		base64_encode(p, n, out);
	return out;
}

/* Encodes the AUTH data once: it is what gets sent, and what a reply
 * must not carry into a log. */
bool smtpc_hello_auth_encode(struct smtp_client *c)
{
	/* RFC 4616 2: [authzid] NUL authcid NUL passwd, no authzid */
	size_t ul = strlen(c->user), pl = strlen(c->pass);
	struct buf m;
	buf_init(&m, 0);
	if (buf_reserve(&m, ul + pl + 2)) {
		buf_append_byte(&m, 0);
		buf_append(&m, c->user, ul);
		buf_append_byte(&m, 0);
		buf_append(&m, c->pass, pl);
		c->b64[0] = b64_of(m.data, m.len);
	}
	buf_release_secure(&m);
	c->b64[1] = b64_of((const uint8_t *)c->user, ul);
	c->b64[2] = b64_of((const uint8_t *)c->pass, pl);
	return c->b64[0] && c->b64[1] && c->b64[2];
}

/* RFC 4954 4: a SASL response line may be up to 12288 octets. */
static bool response_fits(const char *b64)
{
	return strlen(b64) + 2 <= LIMIT_SMTP_AUTH_LINE;
}

static void too_long(struct smtp_client *c)
{
	smtpc_fail_local(c, "AUTH not attempted: credentials too long", true);
}

static void auth_plain(struct smtp_client *c)
{
	static const char verb[] = "AUTH PLAIN ";
	if (!response_fits(c->b64[0])) {
		too_long(c);
		return;
	}
	/* RFC 4954 4: the initial response saves a round trip, when the
	 * command still fits in a command line (RFC 5321 4.5.3.1.4) */
	if (sizeof verb - 1 + strlen(c->b64[0]) + 2 <= LIMIT_SMTP_CMD_LINE) {
		smtpc_send_line(c, verb, c->b64[0], "AUTH PLAIN <redacted>",
			true);
		c->state = SMTPC_ST_AUTH_RESULT;
	} else {
		smtpc_cmd(c, "AUTH PLAIN");
		c->state = SMTPC_ST_AUTH_PLAIN;
	}
}

static void auth_login(struct smtp_client *c)
{
	if (!response_fits(c->b64[1]) || !response_fits(c->b64[2])) {
		too_long(c);
		return;
	}
	smtpc_cmd(c, "AUTH LOGIN");
	c->state = SMTPC_ST_AUTH_USER;
}

static void auth_or_ready(struct smtp_client *c)
{
	if (!c->user) {
		smtpc_to_ready(c);
	} else if (!c->tls && !c->auth_plaintext_ok) {
		/* the password never crosses the network in the clear */
		smtpc_fail_local(c,
			"AUTH not attempted: the session is not encrypted", true);
	} else if (c->ext.auth_plain) {
		auth_plain(c);
	} else if (c->ext.auth_login) {
		auth_login(c);
	} else {
		smtpc_fail_local(c,
			"AUTH required but the server offers neither PLAIN nor LOGIN",
			true);
	}
}

static void after_hello(struct smtp_client *c)
{
	if (!c->tls && c->want_tls && c->ext.starttls) {
		smtpc_cmd(c, "STARTTLS");
		c->state = SMTPC_ST_STARTTLS;
	} else if (!c->tls && c->tls_required) {
		smtpc_fail_local(c,
			"TLS required but the server does not offer STARTTLS", true);
	} else {
		auth_or_ready(c);
	}
}

void smtpc_hello_greeting(struct smtp_client *c,
	const struct smtp_client_reply *r)
{
	if (r->code == 220)
		smtpc_hello_send_ehlo(c);
	else if (smtpc_failure(r)) /* RFC 5321 3.1: 554 = no service here */
		smtpc_fail(c, r, smtpc_class(r) == 5, true);
	else
		smtpc_unexpected(c, r);
}

void smtpc_hello_ehlo(struct smtp_client *c, const struct smtp_client_reply *r)
{
	c->rd.ehlo = false;
	if (smtpc_class(r) == 2) {
		c->ext = c->rd.ext;
		c->ext.esmtp = true;
		c->size_offered = c->rd.size_offered;
		after_hello(c);
	} else if (smtpc_class(r) == 5) {
		/* RFC 5321 3.2: a server that does not know EHLO gets HELO */
		smtpc_send_line(c, "HELO ", c->helo_name, NULL, false);
		c->state = SMTPC_ST_HELO;
	} else if (smtpc_failure(r)) {
		smtpc_fail(c, r, false, true);
	} else {
		smtpc_unexpected(c, r);
	}
}

void smtpc_hello_helo(struct smtp_client *c, const struct smtp_client_reply *r)
{
	if (smtpc_class(r) == 2)
		after_hello(c);
	else if (smtpc_failure(r))
		smtpc_fail(c, r, smtpc_class(r) == 5, true);
	else
		smtpc_unexpected(c, r);
}

void smtpc_hello_starttls(struct smtp_client *c,
	const struct smtp_client_reply *r)
{
	if (r->code == 220) {
		struct smtpc_item *it = smtpc_push(c, SMTPC_OUT_STARTTLS);
		if (!it)
			return;
		c->state = SMTPC_ST_TLS;
		/* RFC 3207 4.2 / CVE-2011-0411: what came with or after the
		 * 220 was sent in the clear by anyone on the path */
		smtpc_reader_discard(&c->rd);
	} else if (smtpc_failure(r) && c->tls_required) {
		char text[sizeof r->text + 64];
		snprintf(text, sizeof text,
			"TLS required but STARTTLS refused: %u %s", r->code, r->text);
		smtpc_fail_local(c, text, true);
	} else if (smtpc_failure(r)) {
		/* RFC 3207 4.1: opportunistic, so go on in the clear */
		auth_or_ready(c);
	} else {
		smtpc_unexpected(c, r);
	}
}

static void auth_failed(struct smtp_client *c,
	const struct smtp_client_reply *r)
{
	if (smtpc_failure(r))
		smtpc_fail(c, r, smtpc_class(r) == 5, true);
	else
		smtpc_unexpected(c, r);
}

void smtpc_hello_auth(struct smtp_client *c, const struct smtp_client_reply *r)
{
	enum smtpc_state s = c->state;
	if (s == SMTPC_ST_AUTH_RESULT && r->code == 235) {
		smtpc_to_ready(c);
		return;
	}
	if (s == SMTPC_ST_AUTH_RESULT || r->code != 334) {
		auth_failed(c, r);
		return;
	}
	/* RFC 4954 4: each 334 asks for the next response; LOGIN asks for
	 * the user, then the password */
	const char *b64 = s == SMTPC_ST_AUTH_PASS ? c->b64[2]
		: s == SMTPC_ST_AUTH_USER ? c->b64[1] : c->b64[0];
	smtpc_send_line(c, b64, NULL, "<redacted>", true);
	c->state = s == SMTPC_ST_AUTH_USER ? SMTPC_ST_AUTH_PASS
		: SMTPC_ST_AUTH_RESULT;
}
