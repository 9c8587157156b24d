/* smtp_probe: the SMTP half of "facteur probe".
 *
 * One session, one step per exchange: connect, [implicit TLS], greeting,
 * EHLO (HELO on 5xx), STARTTLS and the certificate, EHLO again, AUTH,
 * MAIL, RCPT, DATA with the test message, QUIT. A step that leaves the
 * session unusable ends it; the POP3 half runs regardless. The password
 * only leaves this file inside TLS, or in plaintext when --tls no. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/secure.h"
#include "probe/message.h"
#include "probe/probe.h"
#include "probe/reply.h"

struct smtp_probe {
	const struct probe_opts *o;
	struct probe_state *st;
	struct report *r;
	struct probe_conn c;
	struct smtp_reply reply;
	struct ehlo_info *ehlo;
	bool esmtp;
	bool implicit;
};

/* Reads one complete reply into p->reply: 0, or -1 with p->c.err. */
static int read_reply(struct smtp_probe *p)
{
	smtp_reply_clear(&p->reply);
	for (;;) {
		struct probe_line l;
		if (pconn_read_line(&p->c, &l) != PCONN_LINE)
			return -1;
		enum reply_result rr = smtp_reply_line(&p->reply, l.text, l.len);
		if (rr == REPLY_DONE)
			return 0;
		if (rr == REPLY_BAD) {
			snprintf(p->c.err, sizeof p->c.err, "malformed reply: %s", p->reply.why);
			return -1;
		}
	}
}

/* Sends a command (shown masked when `shown`) and reads the reply. */
static int command(struct smtp_probe *p, const char *line, const char *shown)
{
	if (pconn_send(&p->c, line, shown) < 0)
		return -1;
	return read_reply(p);
}

/* The reply's first line for a reason: "250 2.1.0 Ok". */
static const char *first_line(struct smtp_probe *p, char *out, size_t outsz)
{
	size_t pos = 0, len = 0;
	const char *t = "";
	smtp_reply_next_text(&p->reply, &pos, &t, &len);
	char esc[200];
	display_escape(t, len, esc, sizeof esc);
	snprintf(out, outsz, "%d %s", p->reply.code, esc);
	return out;
}

static void fail_conn(struct smtp_probe *p, const char *what)
{
	report_end(p->r, VERDICT_FAIL, "%s: %s", what, p->c.err);
}

static void quit(struct smtp_probe *p)
{
	report_begin(p->r, "smtp.quit");
	if (command(p, "QUIT", NULL) < 0)
		report_end(p->r, VERDICT_WARN, "no reply to QUIT: %s", p->c.err);
	else if (p->reply.code == 221)
		report_end(p->r, VERDICT_PASS, "221: the server closes the session");
	else {
		char l[256];
		report_end(p->r, VERDICT_WARN, "QUIT answered with %s, not 221",
			   first_line(p, l, sizeof l));
	}
}

/* Records the AUTH mechanisms of the current EHLO in the summary. */
static void note_mechs(struct smtp_probe *p)
{
	const struct ehlo_ext *a = ehlo_find(p->ehlo, "AUTH");
	if (!a)
		return;
	const char *chan = probe_channel(&p->c, p->implicit, "after STARTTLS");
	char mech[64];
	const char *s = a->params;
	while (*s) {
		while (*s == ' ')
			s++;
		size_t n = strcspn(s, " ");
		if (n > 0 && n < sizeof mech - 6) {
			snprintf(mech, sizeof mech, "AUTH %.*s", (int)n, s);
			probe_sec_offered(p->st, "SMTP", mech, chan, p->c.tls.active);
		}
		s += n;
	}
}

static bool ehlo(struct smtp_probe *p, const char *step)
{
	char cmd[96], l[256];
	report_begin(p->r, step);
	snprintf(cmd, sizeof cmd, "EHLO %s", p->c.ehlo_literal);
	if (command(p, cmd, NULL) < 0) {
		fail_conn(p, "EHLO");
		return false;
	}
	if (p->reply.code == 250) {
		ehlo_parse(&p->reply, p->ehlo);
		p->esmtp = true;
		report_end(p->r, VERDICT_PASS, "250: %s offers %zu extension%s", p->ehlo->domain,
			   p->ehlo->n, p->ehlo->n == 1 ? "" : "s");
		for (size_t i = 0; i < p->ehlo->n; i++) {
			char what[300];
			ehlo_describe(&p->ehlo->ext[i], what, sizeof what);
			char kw[64];
			snprintf(kw, sizeof kw, "%s%s%.20s", p->ehlo->ext[i].keyword,
				 p->ehlo->ext[i].params[0] ? " " : "", p->ehlo->ext[i].params);
			report_detail(p->r, "%-22s %s", kw, what);
		}
		if (p->ehlo->dropped)
			report_detail(p->r, "(%zu more lines not understood)", p->ehlo->dropped);
		note_mechs(p);
		return true;
	}
	if (p->reply.code / 100 != 5) {
		report_end(p->r, VERDICT_FAIL, "EHLO answered with %s", first_line(p, l, sizeof l));
		return false;
	}
	/* RFC 5321 3.2: a client that gets a 5xx to EHLO may fall back to HELO. */
	snprintf(cmd, sizeof cmd, "HELO %s", p->c.ehlo_literal);
	if (command(p, cmd, NULL) < 0) {
		fail_conn(p, "HELO");
		return false;
	}
	memset(p->ehlo, 0, sizeof *p->ehlo);
	p->esmtp = false;
	if (p->reply.code != 250) {
		report_end(p->r, VERDICT_FAIL, "EHLO refused, and HELO answered with %s",
			   first_line(p, l, sizeof l));
		return false;
	}
	report_end(p->r, VERDICT_WARN, "EHLO refused; HELO accepted: the server speaks plain "
		   "SMTP without extensions (no STARTTLS, no AUTH)");
	return true;
}

/* STARTTLS (RFC 3207) per --tls. Returns false when the session must end. */
static bool starttls(struct smtp_probe *p)
{
	const struct probe_opts *o = p->o;
	bool offered = ehlo_find(p->ehlo, "STARTTLS") != NULL;
	report_begin(p->r, "smtp.starttls");
	if (o->tls == PROBE_TLS_NO) {
		report_end(p->r, VERDICT_INFO, "%s; not used (--tls no)",
			   offered ? "offered" : "not offered");
		return true;
	}
	if (!offered) {
		if (o->tls == PROBE_TLS_STARTTLS) {
			report_end(p->r, VERDICT_FAIL, "the server does not offer STARTTLS (--tls starttls)");
			return false;
		}
		report_end(p->r, VERDICT_WARN, "the server does not offer STARTTLS: the session "
			   "stays in plaintext, readable by anyone on the path");
		return true;
	}
	if (command(p, "STARTTLS", NULL) < 0) {
		fail_conn(p, "STARTTLS");
		return false;
	}
	if (p->reply.code != 220) {
		char l[256];
		report_end(p->r, VERDICT_FAIL, "STARTTLS refused: %s", first_line(p, l, sizeof l));
		return o->tls != PROBE_TLS_STARTTLS;
	}
	if (pconn_tls(&p->c, &o->tlsopt, o->smtp_host) < 0) {
		fail_conn(p, "STARTTLS");
		return false;
	}
	bool stop;
	char reason[512];
	enum verdict v = probe_tls_verdict(o, p->r, &p->c, o->smtp_host, &stop, reason,
					   sizeof reason);
	report_end(p->r, v, "%s", reason);
	if (stop)
		return false;
	/* RFC 3207 4.2: forget everything learnt before TLS; EHLO again. */
	if (!ehlo(p, "smtp.ehlo-tls"))
		return false;
	if (ehlo_find(p->ehlo, "STARTTLS")) {
		report_begin(p->r, "smtp.ehlo-tls");
		report_end(p->r, VERDICT_WARN, "STARTTLS is offered again inside TLS (RFC 3207 4.2 "
			   "says it must not be)");
	}
	return true;
}

/* base64 of n bytes into a malloc'ed string; NULL on OOM. */
static char *b64(const void *data, size_t n)
{
	char *out = malloc(BASE64_ENCODED_SIZE(n));
	if (out)
		base64_encode(data, n, out);
	return out;
}

static void free_secret(char *s)
{
	if (s) {
		secure_wipe(s, strlen(s));
		free(s);
	}
}

/* AUTH PLAIN (RFC 4616) or LOGIN. Returns false when the session must end. */
static bool auth(struct smtp_probe *p)
{
	const struct probe_opts *o = p->o;
	const char *chan = probe_channel(&p->c, p->implicit, "after STARTTLS");
	const struct ehlo_ext *a = ehlo_find(p->ehlo, "AUTH");
	report_begin(p->r, "smtp.auth");
	if (!a) {
		report_end(p->r, VERDICT_WARN, "the server offers no AUTH here; sending the test "
			   "message without logging in");
		return true;
	}
	const char *mech = words_has(a->params, "PLAIN") ? "PLAIN"
			   : words_has(a->params, "LOGIN") ? "LOGIN" : NULL;
	if (!mech) {
		report_end(p->r, VERDICT_FAIL, "the server offers AUTH %s, but not PLAIN or LOGIN, "
			   "the mechanisms this probe speaks", a->params);
		return true;
	}
	char method[32];
	snprintf(method, sizeof method, "AUTH %s", mech);
	if (!p->c.tls.active && o->tls != PROBE_TLS_NO) {
		probe_sec_used(p->st, "SMTP", method, chan, false, "not tried");
		report_end(p->r, VERDICT_FAIL, "refusing to send the password in the clear (no TLS "
			   "on this session); --tls no allows it");
		return true;
	}
	size_t ul = strlen(o->user), pl = strlen(o->password);
	char *resp = NULL, *line = NULL, *user64 = NULL;
	char l[256];
	int rc;
	if (!strcmp(mech, "PLAIN")) {
		/* authzid NUL authcid NUL passwd, with an empty authzid */
		struct buf raw;
		buf_init(&raw, 0);
		bool ok = buf_append_byte(&raw, 0) && buf_append(&raw, o->user, ul) &&
			  buf_append_byte(&raw, 0) && buf_append(&raw, o->password, pl);
		resp = ok ? b64(raw.data, raw.len) : NULL;
		buf_release_secure(&raw);
		struct buf cmd;
		buf_init(&cmd, 0);
		ok = resp && buf_printf(&cmd, "AUTH PLAIN %s", resp);
		line = ok ? strdup(buf_cstr(&cmd)) : NULL;
		buf_release_secure(&cmd);
		rc = line ? command(p, line, o->show_secrets ? NULL : "AUTH PLAIN <masked>") : -1;
	} else {
		rc = command(p, "AUTH LOGIN", NULL);
		user64 = b64(o->user, ul);
		if (rc == 0 && p->reply.code == 334 && user64)
			rc = command(p, user64, o->show_secrets ? NULL : "<masked: user name>");
		if (rc == 0 && p->reply.code == 334) {
			resp = b64(o->password, pl);
			rc = resp ? command(p, resp, o->show_secrets ? NULL : "<masked: password>") : -1;
		}
	}
	free_secret(resp);
	free_secret(line);
	free(user64);
	if (rc < 0) {
		probe_sec_used(p->st, "SMTP", method, chan, p->c.tls.active, "no answer");
		fail_conn(p, "AUTH");
		return false;
	}
	int code = p->reply.code;
	probe_sec_used(p->st, "SMTP", method, chan, p->c.tls.active,
		       code == 235 ? "accepted" : "refused");
	first_line(p, l, sizeof l);
	if (code == 235 && !p->c.tls.active)
		report_end(p->r, VERDICT_WARN, "%s: logged in with %s, but the password crossed "
			   "the network in the clear (--tls no)", l, method);
	else if (code == 235)
		report_end(p->r, VERDICT_PASS, "%s: logged in with %s inside TLS", l, method);
	else if (code == 535)
		report_end(p->r, VERDICT_FAIL, "%s: the server refused the user name or password "
			   "(wrong password?)", l);
	else if (code == 538)
		report_end(p->r, VERDICT_FAIL, "%s: the server requires TLS for this mechanism", l);
	else if (code / 100 == 4)
		report_end(p->r, VERDICT_FAIL, "%s: temporary failure, try again later", l);
	else
		report_end(p->r, VERDICT_FAIL, "%s: login failed", l);
	return true;
}

/* MAIL, RCPT, DATA with the test message. */
static bool send_message(struct smtp_probe *p, const char *from, const char *to)
{
	char cmd[600], l[256];
	report_begin(p->r, "smtp.mail");
	if (!probe_build_message(p->st, from, to)) {
		report_end(p->r, VERDICT_FAIL, "cannot build the test message");
		return false;
	}
	size_t size = p->st->message.len;
	if (ehlo_find(p->ehlo, "SIZE"))
		snprintf(cmd, sizeof cmd, "MAIL FROM:<%s> SIZE=%zu", from, size);
	else
		snprintf(cmd, sizeof cmd, "MAIL FROM:<%s>", from);
	if (command(p, cmd, NULL) < 0) {
		fail_conn(p, "MAIL");
		return false;
	}
	if (p->reply.code != 250) {
		report_end(p->r, VERDICT_FAIL, "sender <%s> refused: %s", from,
			   first_line(p, l, sizeof l));
		return true;
	}
	report_end(p->r, VERDICT_PASS, "sender <%s> accepted", from);

	report_begin(p->r, "smtp.rcpt");
	snprintf(cmd, sizeof cmd, "RCPT TO:<%s>", to);
	if (command(p, cmd, NULL) < 0) {
		fail_conn(p, "RCPT");
		return false;
	}
	if (p->reply.code != 250 && p->reply.code != 251) {
		report_end(p->r, VERDICT_FAIL, "recipient <%s> refused: %s", to,
			   first_line(p, l, sizeof l));
		return true;
	}
	report_end(p->r, VERDICT_PASS, "recipient <%s> accepted", to);

	report_begin(p->r, "smtp.data");
	if (command(p, "DATA", NULL) < 0) {
		fail_conn(p, "DATA");
		return false;
	}
	if (p->reply.code != 354) {
		report_end(p->r, VERDICT_FAIL, "DATA answered with %s, not 354",
			   first_line(p, l, sizeof l));
		return true;
	}
	struct buf wire;
	buf_init(&wire, 0);
	int rc = smtp_dot_stuff(p->st->message.data, p->st->message.len, &wire)
		 ? pconn_send_data(&p->c, wire.data, wire.len) : -1;
	buf_release(&wire);
	if (rc < 0 || read_reply(p) < 0) {
		report_end(p->r, VERDICT_FAIL, "no reply to the message (%s): it may or may not "
			   "have been accepted", p->c.err);
		return false;
	}
	first_line(p, l, sizeof l);
	if (p->reply.code != 250) {
		report_end(p->r, VERDICT_FAIL, "message refused: %s", l);
		return true;
	}
	p->st->message_sent = true;
	report_end(p->r, VERDICT_PASS, "%s: the test message (%zu bytes) was accepted", l, size);
	report_detail(p->r, "Message-ID: %s", p->st->message_id);
	return true;
}

void probe_smtp(const struct probe_opts *o, struct probe_state *st)
{
	struct smtp_probe p = { .o = o, .st = st, .r = &st->rep };
	pconn_init(&p.c);
	smtp_reply_init(&p.reply);
	p.ehlo = calloc(1, sizeof *p.ehlo);
	p.implicit = o->tls == PROBE_TLS_IMPLICIT;
	char l[256];
	const char *from = o->from ? o->from : o->user;
	const char *to = o->to ? o->to : o->user;

	report_begin(p.r, "smtp.connect");
	if (!p.ehlo) {
		report_end(p.r, VERDICT_FAIL, "out of memory");
		goto out;
	}
	if (pconn_connect(&p.c, o->smtp_host, o->smtp_port, o->timeout_ms, p.r, &st->t0) < 0) {
		report_end(p.r, VERDICT_FAIL, "%s", p.c.err);
		goto out;
	}
	report_end(p.r, VERDICT_PASS, "TCP connection to %s port %s", o->smtp_host, o->smtp_port);
	if (p.implicit) {
		report_begin(p.r, "smtp.tls");
		if (pconn_tls(&p.c, &o->tlsopt, o->smtp_host) < 0) {
			fail_conn(&p, "implicit TLS");
			goto out;
		}
		bool stop;
		char reason[512];
		enum verdict v = probe_tls_verdict(o, p.r, &p.c, o->smtp_host, &stop, reason,
						   sizeof reason);
		report_end(p.r, v, "%s", reason);
		if (stop)
			goto out;
	}

	report_begin(p.r, "smtp.greeting");
	if (read_reply(&p) < 0) {
		fail_conn(&p, "no greeting");
		goto out;
	}
	first_line(&p, l, sizeof l);
	if (p.reply.code != 220) {
		report_end(p.r, VERDICT_FAIL, "the server refuses the session: %s", l);
		quit(&p);
		goto out;
	}
	report_end(p.r, VERDICT_PASS, "greeting %s", l);

	if (!ehlo(&p, "smtp.ehlo"))
		goto out;
	if (!p.implicit && !starttls(&p)) {
		quit(&p);
		goto out;
	}
	if (o->user && o->password && !auth(&p))
		goto out;
	if (!from || !to) {
		report_begin(p.r, "smtp.mail");
		report_end(p.r, VERDICT_INFO, "no test message: give --user, or --from and --to");
	} else if (!send_message(&p, from, to)) {
		goto out;
	}
	quit(&p);
out:
	pconn_close(&p.c);
	smtp_reply_clear(&p.reply);
	free(p.ehlo);
}
