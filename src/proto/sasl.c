/* sasl: PLAIN and LOGIN, server side (see sasl.h).
 *
 * Pure: decodes base64 responses into a stack buffer that is wiped
 * before returning, keeps only the authcid and password, and never
 * allocates, logs or touches I/O. Runs inside the SMTP and POP3 cores,
 * on attacker-controlled bytes: every length is checked against
 * SASL_FIELD_MAX / SASL_RESPONSE_MAX before anything is copied. */
#include "proto/sasl.h"

#include <string.h>

#include "lib/base64.h"
#include "lib/log.h"
#include "lib/secure.h"

void sasl_init(struct sasl *x)
{
	memset(x, 0, sizeof *x);
	x->phase = SASL_PHASE_IDLE;
}

void sasl_clear(struct sasl *x)
{
	secure_wipe(x, sizeof *x);
	x->phase = SASL_PHASE_IDLE;
}

bool sasl_waiting(const struct sasl *x)
{
	switch (x->phase) {
	case SASL_PHASE_PLAIN:
	case SASL_PHASE_USERNAME:
	case SASL_PHASE_PASSWORD:
		return true;
	case SASL_PHASE_IDLE:
	case SASL_PHASE_DONE:
		return false;
	}
	return false;
}

static const char *const mech_names[] = {
	[SASL_MECH_PLAIN] = "PLAIN",
	[SASL_MECH_LOGIN] = "LOGIN",
};

const char *sasl_mech_name(enum sasl_mech m)
{
	return (size_t)m < sizeof mech_names / sizeof mech_names[0]
		? mech_names[m] : "?";
}

bool sasl_mech_lookup(const char *name, size_t len, enum sasl_mech *out)
{
	for (size_t m = 0; m < sizeof mech_names / sizeof mech_names[0]; m++) {
		const char *n = mech_names[m];
		if (strlen(n) != len)
			continue;
		size_t i = 0;
		while (i < len) {
			char c = name[i];
			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			if (c != n[i])
				break;
			i++;
		}
		if (i == len) {
			*out = (enum sasl_mech)m;
			return true;
		}
	}
	return false;
}

/* An identity (authcid, authzid): UTF-8 as RFC 4616 2 spells it (SAFE:
 * no overlongs, no surrogates, nothing past U+10FFFF), and no control
 * characters, which no user name needs and every log line and lookup
 * downstream is better off without. */
static bool identity_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t more;
		uint8_t lo = 0x80, hi = 0xbf; /* range of the first UTF0 */
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (n - i - 1 < more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			uint8_t t = p[i + k];
			if (k == 1 ? (t < lo || t > hi) : (t < 0x80 || t > 0xbf))
				return false;
		}
		i += more + 1;
	}
	return true;
}

static enum sasl_status fail(struct sasl *x, struct sasl_result *r,
	enum sasl_error e)
{
	sasl_clear(x);
	r->status = SASL_FAIL;
	r->error = e;
	return SASL_FAIL;
}

static enum sasl_status challenge(struct sasl *x, struct sasl_result *r,
	enum sasl_phase next, const char *text)
{
	x->phase = next;
	size_t n = strlen(text);
	if (BASE64_ENCODED_SIZE(n) > sizeof x->challenge)
		BUG("sasl: challenge too long");
	x->challenge[0] = '\0';
	if (n)
		base64_encode((const uint8_t *)text, n, x->challenge);
	r->status = SASL_CHALLENGE;
	r->challenge = x->challenge;
	return SASL_CHALLENGE;
}

static enum sasl_status done(struct sasl *x, struct sasl_result *r)
{
	x->phase = SASL_PHASE_DONE;
	r->status = SASL_DONE;
	r->authcid = x->authcid;
	r->passwd = x->passwd;
	r->passwd_len = x->passwd_len;
	return SASL_DONE;
}

/* Checks and keeps the authcid. */
static enum sasl_error set_authcid(struct sasl *x, const uint8_t *p, size_t n)
{
	if (n > SASL_FIELD_MAX)
		return SASL_ERR_TOO_LONG;
	if (n == 0 || memchr(p, '\0', n) || !identity_ok(p, n))
		return SASL_ERR_MALFORMED;
	memcpy(x->authcid, p, n);
	x->authcid[n] = '\0';
	x->authcid_len = n;
	return SASL_ERR_NONE;
}

static enum sasl_error set_passwd(struct sasl *x, const uint8_t *p, size_t n)
{
	if (n > SASL_FIELD_MAX)
		return SASL_ERR_TOO_LONG;
	/* RFC 4616 2 / 4 (and its pseudo-code): an empty password fails */
	if (n == 0 || memchr(p, '\0', n))
		return SASL_ERR_MALFORMED;
	memcpy(x->passwd, p, n);
	x->passwd[n] = '\0';
	x->passwd_len = n;
	return SASL_ERR_NONE;
}

/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static enum sasl_error plain_message(struct sasl *x, const uint8_t *m,
	size_t n)
{
	const uint8_t *nul1 = memchr(m, '\0', n);
	if (!nul1)
		return SASL_ERR_MALFORMED;
	size_t zlen = (size_t)(nul1 - m);
	const uint8_t *c = nul1 + 1;
	size_t rest = n - zlen - 1;
	const uint8_t *nul2 = memchr(c, '\0', rest);
	if (!nul2)
		return SASL_ERR_MALFORMED;
	size_t clen = (size_t)(nul2 - c);
	const uint8_t *p = nul2 + 1;
	size_t plen = rest - clen - 1;
	if (zlen > SASL_FIELD_MAX)
		return SASL_ERR_TOO_LONG;
	/* a third NUL: the password would be cut short, or the client
	 * meant something else; either way the message is not PLAIN */
	if (memchr(p, '\0', plen))
		return SASL_ERR_MALFORMED;
	enum sasl_error e = set_authcid(x, c, clen);
	if (e == SASL_ERR_NONE)
		e = set_passwd(x, p, plen);
	if (e != SASL_ERR_NONE)
		return e;
	if (zlen && !identity_ok(m, zlen))
		return SASL_ERR_MALFORMED;
	/* Acting as another identity (RFC 4616 2, "Authorize") is a right
	 * nobody has here: only the derived, identical identity passes. */
	if (zlen && (zlen != clen || memcmp(m, c, clen) != 0))
		return SASL_ERR_AUTHZID;
	return SASL_ERR_NONE;
}

/* Decodes a response and feeds it to the current phase. */
static enum sasl_status respond(struct sasl *x, const char *in, size_t len,
	bool empty, struct sasl_result *r)
{
	uint8_t msg[BASE64_DECODED_MAX(SASL_RESPONSE_MAX)];
	size_t n = 0;
	if (!empty) {
		if (len > SASL_RESPONSE_MAX)
			return fail(x, r, SASL_ERR_TOO_LONG);
		if (!base64_decode(in, len, msg, &n))
			return fail(x, r, SASL_ERR_BAD_BASE64);
	}
	enum sasl_error e = SASL_ERR_NONE;
	enum sasl_phase phase = x->phase;
	switch (phase) {
	case SASL_PHASE_PLAIN:
		e = plain_message(x, msg, n);
		break;
	case SASL_PHASE_USERNAME:
		e = set_authcid(x, msg, n);
		break;
	case SASL_PHASE_PASSWORD:
		e = set_passwd(x, msg, n);
		break;
	case SASL_PHASE_IDLE:
	case SASL_PHASE_DONE:
		BUG("sasl: response without a challenge");
	}
	secure_wipe(msg, sizeof msg);
	if (e != SASL_ERR_NONE)
		return fail(x, r, e);
	if (phase == SASL_PHASE_USERNAME)
		return challenge(x, r, SASL_PHASE_PASSWORD, "Password:");
	return done(x, r);
}

enum sasl_status sasl_start(struct sasl *x, const char *mech, size_t mech_len,
	const char *initial, size_t initial_len, struct sasl_result *result)
{
	sasl_clear(x);
	memset(result, 0, sizeof *result);
	enum sasl_mech m;
	if (!sasl_mech_lookup(mech, mech_len, &m))
		return fail(x, result, SASL_ERR_UNKNOWN_MECH);
	x->mech = m;
	switch (m) {
	case SASL_MECH_PLAIN:
		x->phase = SASL_PHASE_PLAIN;
		if (!initial) /* RFC 4954 4: an empty challenge, "334 " */
			return challenge(x, result, SASL_PHASE_PLAIN, "");
		break;
	case SASL_MECH_LOGIN:
		x->phase = SASL_PHASE_USERNAME;
		if (!initial)
			return challenge(x, result, SASL_PHASE_USERNAME,
				"Username:");
		break;
	}
	/* RFC 4954 4 / RFC 5034 4: "=" is an initial response of zero
	 * length (which both mechanisms then refuse as malformed). */
	bool empty = initial_len == 1 && initial[0] == '=';
	return respond(x, initial, initial_len, empty, result);
}

enum sasl_status sasl_step(struct sasl *x, const char *line, size_t len,
	struct sasl_result *result)
{
	memset(result, 0, sizeof *result);
	if (!sasl_waiting(x))
		BUG("sasl: step without a challenge");
	/* RFC 4954 4 / RFC 5034 4: a single "*" cancels */
	if (len == 1 && line[0] == '*')
		return fail(x, result, SASL_ERR_CANCELLED);
	return respond(x, line, len, false, result);
}
