/* pop3_login: how the probe logs in to a POP3 server, and what it tells
 * the security summary about the methods on offer.
 *
 * The order is the strongest first: inside TLS, SASL PLAIN (RFC 5034),
 * then USER/PASS, then APOP; outside TLS, APOP (the password does not
 * cross, though its MD5 digest does), and the password itself only when
 * the user said --tls no. Secrets are wiped after use and masked in the
 * transcript unless --show-secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/secure.h"
#include "probe/pop3_probe.h"

void pop3p_note_methods(struct pop3_probe *p)
{
	const char *chan = pop3p_channel(p);
	bool tls = p->c.tls.active;
	const char *args;
	size_t alen;
	if (p->ts[0])
		probe_sec_offered(p->st, "POP3", "APOP", chan, tls);
	/* RFC 2449 6.1: no CAPA at all means USER may well work. */
	if (!p->have_capa || pop3_capa_find(&p->capa, "USER", &args, &alen))
		probe_sec_offered(p->st, "POP3", "USER/PASS", chan, tls);
	if (p->have_capa && pop3_capa_find(&p->capa, "SASL", &args, &alen)) {
		while (alen > 0) {
			while (alen > 0 && *args == ' ') {
				args++;
				alen--;
			}
			size_t n = 0;
			while (n < alen && args[n] != ' ')
				n++;
			char m[64];
			if (n > 0 && n < 40) {
				snprintf(m, sizeof m, "AUTH %.*s", (int)n, args);
				probe_sec_offered(p->st, "POP3", m, chan, tls);
			}
			args += n;
			alen -= n;
		}
	}
}

static bool sasl_has(struct pop3_probe *p, const char *mech)
{
	const char *args;
	size_t alen;
	char list[256];
	if (!p->have_capa || !pop3_capa_find(&p->capa, "SASL", &args, &alen))
		return false;
	snprintf(list, sizeof list, "%.*s", (int)(alen < 255 ? alen : 255), args);
	return words_has(list, mech);
}

/* Why a login failed, from the -ERR text (RFC 2449 8, RFC 3206). */
static const char *why_refused(const struct pop3_probe *p)
{
	if (strstr(p->last, "[IN-USE]"))
		return "the maildrop is locked by another session";
	if (strstr(p->last, "[SYS/TEMP]"))
		return "a temporary problem on the server";
	if (strstr(p->last, "[SYS/PERM]"))
		return "a permanent problem on the server";
	if (strstr(p->last, "[LOGIN-DELAY]"))
		return "logging in again too soon";
	return "the server refused the user name or password (wrong password?)";
}

static int try_userpass(struct pop3_probe *p)
{
	const struct probe_opts *o = p->o;
	struct buf cmd;
	buf_init(&cmd, 0);
	if (!buf_printf(&cmd, "USER %s", o->user) || pop3p_cmd(p, buf_cstr(&cmd), NULL) < 0) {
		buf_release(&cmd);
		return -1;
	}
	buf_clear(&cmd);
	int rc = 0;
	if (p->status == POP3_ST_OK)
		rc = buf_printf(&cmd, "PASS %s", o->password)
			     ? pop3p_cmd(p, buf_cstr(&cmd), o->show_secrets ? NULL : "PASS ****")
			     : -1;
	buf_release_secure(&cmd);
	return rc;
}

static int try_plain(struct pop3_probe *p)
{
	const struct probe_opts *o = p->o;
	struct buf raw, cmd;
	buf_init(&raw, 0);
	buf_init(&cmd, 0);
	int rc = -1;
	bool ok = buf_append_byte(&raw, 0) && buf_append_str(&raw, o->user) &&
		  buf_append_byte(&raw, 0) && buf_append_str(&raw, o->password);
	char *b64 = ok ? malloc(BASE64_ENCODED_SIZE(raw.len)) : NULL;
	if (b64) {
		base64_encode(raw.data, raw.len, b64);
		/* RFC 5034 4: the initial response saves a round trip. */
		if (buf_printf(&cmd, "AUTH PLAIN %s", b64))
			rc = pop3p_cmd(p, buf_cstr(&cmd),
				       o->show_secrets ? NULL : "AUTH PLAIN <masked>");
		secure_wipe(b64, strlen(b64));
		free(b64);
	}
	buf_release_secure(&raw);
	buf_release_secure(&cmd);
	return rc;
}

static int try_apop(struct pop3_probe *p)
{
	const struct probe_opts *o = p->o;
	/* RFC 1939 7: MD5 of the timestamp followed by the shared secret. */
	struct buf in;
	buf_init(&in, 0);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	bool ok = buf_append_str(&in, p->ts) && buf_append_str(&in, o->password) &&
		  EVP_Digest(in.data, in.len, md, &mdlen, EVP_md5(), NULL) == 1;
	buf_release_secure(&in);
	if (!ok) {
		snprintf(p->c.err, sizeof p->c.err, "cannot compute the APOP digest (MD5)");
		return -1;
	}
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	struct buf cmd;
	buf_init(&cmd, 0);
	int rc = buf_printf(&cmd, "APOP %s %s", o->user, hex) ? pop3p_cmd(p, buf_cstr(&cmd), NULL)
							       : -1;
	buf_release(&cmd);
	return rc;
}

/* Runs one method; "accepted"/"refused" goes to the summary. Returns 1 on
 * +OK, 0 on -ERR, -1 when the connection failed. */
static int attempt(struct pop3_probe *p, const char *method)
{
	int rc;
	if (!strcmp(method, "AUTH PLAIN"))
		rc = try_plain(p);
	else if (!strcmp(method, "APOP"))
		rc = try_apop(p);
	else
		rc = try_userpass(p);
	bool ok = rc == 0 && p->status == POP3_ST_OK;
	probe_sec_used(p->st, "POP3", method, pop3p_channel(p), p->c.tls.active,
		       rc < 0 ? "no answer" : ok ? "accepted" : "refused");
	return rc < 0 ? -1 : ok;
}

enum verdict pop3p_login(struct pop3_probe *p, char *reason, size_t reasonsz)
{
	const struct probe_opts *o = p->o;
	bool tls = p->c.tls.active;
	const char *args;
	size_t alen;
	bool user_ok = !p->have_capa || pop3_capa_find(&p->capa, "USER", &args, &alen);
	bool plain_ok = sasl_has(p, "PLAIN");
	const char *order[3];
	size_t n = 0;
	/* Only an APOP refusal leads to another try: the APOP secret may
	 * differ from the password; a refused password stays refused. */
	if (tls) {
		if (plain_ok)
			order[n++] = "AUTH PLAIN";
		else if (user_ok)
			order[n++] = "USER/PASS";
		else if (p->ts[0])
			order[n++] = "APOP";
	} else {
		if (p->ts[0])
			order[n++] = "APOP";
		if (o->tls == PROBE_TLS_NO && plain_ok)
			order[n++] = "AUTH PLAIN";
		else if (o->tls == PROBE_TLS_NO && user_ok)
			order[n++] = "USER/PASS";
	}
	if (n == 0 && !tls && (plain_ok || user_ok)) {
		snprintf(reason, reasonsz, "refusing to send the password in the clear: no TLS "
			 "and no APOP (--tls no allows it)");
		probe_sec_used(p->st, "POP3", plain_ok ? "AUTH PLAIN" : "USER/PASS",
			       pop3p_channel(p), false, "not tried");
		return VERDICT_FAIL;
	}
	if (n == 0) {
		snprintf(reason, reasonsz, "the server offers no login method this probe speaks "
			 "(USER, APOP, SASL PLAIN)");
		return VERDICT_FAIL;
	}
	size_t i = 0;
	for (;; i++) {
		int rc = attempt(p, order[i]);
		if (rc < 0) {
			snprintf(reason, reasonsz, "%s: %s", order[i], p->c.err);
			return VERDICT_FAIL;
		}
		if (rc == 1) {
			bool clear = !tls && strcmp(order[i], "APOP") != 0;
			snprintf(reason, reasonsz, "logged in with %s%s%s", order[i],
				 tls ? " inside TLS" : "",
				 clear ? ", but the password crossed the network in the clear (--tls no)"
				 : !tls ? ": the password did not cross, its MD5 digest did" : "");
			if (i > 0) {
				size_t l = strlen(reason);
				snprintf(reason + l, reasonsz - l, " (after %s was refused)", order[0]);
			}
			return clear ? VERDICT_WARN : VERDICT_PASS;
		}
		if (i + 1 == n || strcmp(order[i], "APOP") != 0)
			break;
		pop3p_detail(p, "APOP refused (%s): the account may have no APOP secret, or "
			     "another one; trying %s", p->last, order[i + 1]);
	}
	snprintf(reason, reasonsz, "%s refused: %s (%s)", order[i], why_refused(p), p->last);
	return VERDICT_FAIL;
}
