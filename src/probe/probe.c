/* probe: what the SMTP and POP3 drivers share: the test message, the
 * verdict on a TLS handshake, and the security summary's judgement of
 * each login method.
 *
 * Runs in the CLI process. The judgement tables are the point of the
 * summary: which methods put the password (or something as good as it)
 * on the wire where anyone on the path can read it. */
#include "probe/probe.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

void probe_state_init(struct probe_state *st)
{
	memset(st, 0, sizeof *st);
	report_init(&st->rep);
	buf_init(&st->message, 0);
	clock_gettime(CLOCK_MONOTONIC, &st->t0);
}

void probe_state_free(struct probe_state *st)
{
	report_free(&st->rep);
	buf_release(&st->message);
}

bool probe_build_message(struct probe_state *st, const char *from, const char *to)
{
	unsigned char rnd[6];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return false;
	char hex[13];
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	time_t now = time(NULL);
	snprintf(st->message_id, sizeof st->message_id, "<probe.%lld.%s@facteur-probe>",
		 (long long)now, hex);
	struct tm tm;
	char date[64] = "Thu, 1 Jan 1970 00:00:00 +0000";
	if (localtime_r(&now, &tm))
		strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
	buf_clear(&st->message);
	/* The dot lines check dot-stuffing in both directions: SMTP DATA on
	 * the way in, the POP3 multi-line response on the way out. */
	return buf_printf(&st->message,
			  "From: <%s>\r\n"
			  "To: <%s>\r\n"
			  "Subject: facteur probe %s\r\n"
			  "Date: %s\r\n"
			  "Message-ID: %s\r\n"
			  "MIME-Version: 1.0\r\n"
			  "Content-Type: text/plain; charset=us-ascii\r\n"
			  "\r\n"
			  "This is a test message from \"facteur probe\".\r\n"
			  "The probe reads it back over POP3, compares it byte for byte,\r\n"
			  "and deletes it.\r\n"
			  ".A line that starts with a dot,\r\n"
			  "..and one that starts with two.\r\n"
			  "\r\n"
			  "-- \r\n"
			  "facteur probe\r\n",
			  from, to, hex, date, st->message_id);
}

#define DETAIL(...) \
	do { \
		if (r) \
			report_detail(r, __VA_ARGS__); \
	} while (0)

enum verdict probe_tls_verdict(const struct probe_opts *o, struct report *r,
			       const struct probe_conn *c, const char *host, bool *stop,
			       char *reason, size_t reasonsz)
{
	const struct tls_info *t = &c->tls;
	const char *name = o->tlsopt.servername ? o->tlsopt.servername : host;
	*stop = false;
	DETAIL("protocol:    %s, cipher %s", t->version, t->cipher);
	DETAIL("subject:     %s", t->subject[0] ? t->subject : "(no certificate)");
	DETAIL("issuer:      %s", t->issuer[0] ? t->issuer : "-");
	if (t->names[0])
		DETAIL("names:       %s", t->names);
	if (t->not_after[0])
		DETAIL("notAfter:    %s (%s%d days)", t->not_after,
			      t->days_left < 0 ? "expired " : "in ",
			      t->days_left < 0 ? -t->days_left : t->days_left);
	DETAIL("verified:    %s", t->verified ? "yes" : "NO");
	DETAIL("checked:     chain against %s, name %s",
		      o->tlsopt.cafile ? o->tlsopt.cafile : "the system's trusted roots", name);
	enum verdict v = VERDICT_PASS;
	if (!t->verified && !o->tlsopt.insecure) {
		snprintf(reason, reasonsz,
			 "%s, but the certificate was NOT verified: %s; stopping before "
			 "anything secret is sent (trust it with --cafile FILE, or "
			 "--insecure to go on anyway)", t->version, t->verify_error);
		*stop = true;
		return VERDICT_FAIL;
	}
	if (!t->verified) {
		snprintf(reason, reasonsz,
			 "%s, but the certificate was NOT verified (%s): --insecure, so going on; "
			 "anyone on the path could have been in the middle", t->version,
			 t->verify_error);
		v = VERDICT_WARN;
	} else {
		snprintf(reason, reasonsz, "%s, certificate verified for %s", t->version, name);
	}
	if (t->discarded) {
		DETAIL("discarded:   %zu bytes the server sent in plaintext after "
			      "the go-ahead (they could have been injected)", t->discarded);
		size_t n = strlen(reason);
		snprintf(reason + n, reasonsz - n, "; %zu plaintext bytes after the go-ahead "
			 "were discarded", t->discarded);
		v = VERDICT_WARN;
	}
	if (t->verified && t->days_left >= 0 && t->days_left < 14) {
		size_t n = strlen(reason);
		snprintf(reason + n, reasonsz - n, "; it expires in %d days", t->days_left);
		v = VERDICT_WARN;
	}
	return v;
}

const char *probe_channel(const struct probe_conn *c, bool implicit, const char *upgrade)
{
	if (!c->tls.active)
		return "plaintext";
	return implicit ? "implicit TLS" : upgrade;
}

/* How each method exposes the secret outside TLS. */
static const struct {
	const char *method;
	enum exposure e;
	const char *note;
} judgements[] = {
	{ "USER/PASS", EXPOSE_CLEAR, "PASS carries the password as typed" },
	{ "APOP", EXPOSE_DIGEST, "MD5(timestamp + secret): the digest can be attacked "
				 "offline, and the server must store the secret in clear" },
	{ "AUTH PLAIN", EXPOSE_CLEAR, "base64 of the user name and password: decoded by anyone" },
	{ "AUTH LOGIN", EXPOSE_CLEAR, "base64 of the password: decoded by anyone" },
	{ "AUTH CRAM-MD5", EXPOSE_DIGEST, "HMAC-MD5 challenge-response: offline guessing; "
					  "the server stores a password equivalent" },
	{ "AUTH DIGEST-MD5", EXPOSE_DIGEST, "MD5 challenge-response, obsolete (RFC 6331): "
					    "offline guessing" },
	{ "AUTH NTLM", EXPOSE_DIGEST, "NTLM challenge-response: offline guessing" },
	{ "AUTH XOAUTH2", EXPOSE_CLEAR, "a bearer token: as good as a password while valid" },
	{ "AUTH OAUTHBEARER", EXPOSE_CLEAR, "a bearer token: as good as a password while valid" },
	{ "AUTH SCRAM-SHA-1", EXPOSE_PROTECTED, "salted challenge-response (RFC 5802): "
					       "nothing reusable crosses" },
	{ "AUTH SCRAM-SHA-256", EXPOSE_PROTECTED, "salted challenge-response (RFC 7677): "
						 "nothing reusable crosses" },
	{ "AUTH GSSAPI", EXPOSE_PROTECTED, "a Kerberos ticket, no password" },
	{ "AUTH EXTERNAL", EXPOSE_PROTECTED, "a client certificate or the channel, no password" },
	{ "AUTH ANONYMOUS", EXPOSE_PROTECTED, "no secret at all" },
};

struct report_sec *probe_sec_offered(struct probe_state *st, const char *proto,
				     const char *method, const char *channel, bool tls)
{
	for (size_t i = 0; i < sizeof judgements / sizeof judgements[0]; i++) {
		if (strcasecmp(judgements[i].method, method) != 0)
			continue;
		enum exposure e = tls ? EXPOSE_PROTECTED : judgements[i].e;
		struct report_sec *x = report_sec(&st->rep, proto, judgements[i].method, channel, e);
		if (!x)
			return NULL;
		if (!tls)
			snprintf(x->note, sizeof x->note, "%s", judgements[i].note);
		else if (judgements[i].e == EXPOSE_DIGEST)
			snprintf(x->note, sizeof x->note, "inside TLS (the server still stores "
				 "the secret in a weak form)");
		else
			snprintf(x->note, sizeof x->note, "inside TLS");
		return x;
	}
	return NULL;
}

void probe_sec_used(struct probe_state *st, const char *proto, const char *method,
		    const char *channel, bool tls, const char *result)
{
	struct report_sec *x = probe_sec_offered(st, proto, method, channel, tls);
	if (!x)
		return;
	x->used = true;
	snprintf(x->result, sizeof x->result, "%s", result);
}
