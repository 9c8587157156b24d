/* pop3_probe: the POP3 half of "facteur probe".
 *
 * A session: connect, [implicit TLS], greeting (APOP timestamp), CAPA,
 * STLS and the certificate, CAPA again, login, STAT, LIST, UIDL; then the
 * test message: found by Message-ID with TOP n 0 among the newest,
 * checked with TOP n 3 and RETR against the bytes sent (and LIST's octet
 * count), deleted with DELE and QUIT; a second, quiet session confirms it
 * is gone. When the message is not there yet (a server that delivers
 * asynchronously), new sessions are tried a few times, since a POP3
 * session only ever sees the maildrop as it was at login. */
#include "probe/pop3_probe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/strnum.h"
#include "probe/message.h"

/* Sessions tried while the test message has not arrived, one second apart. */
#define POP3_FIND_ATTEMPTS 5
/* How many of the newest messages are searched with TOP n 0. */
#define POP3_FIND_NEWEST 20
/* Largest multi-line response read (RETR of a big message). */
#define POP3_MULTI_MAX (64u * 1024u * 1024u)

void pop3p_begin(struct pop3_probe *p, const char *name)
{
	if (!p->quiet)
		report_begin(p->r, name);
}

void pop3p_end(struct pop3_probe *p, enum verdict v, const char *fmt, ...)
{
	char reason[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (!p->quiet) {
		report_end(p->r, v, "%s", reason);
		return;
	}
	if (v == VERDICT_FAIL && p->qv != VERDICT_FAIL)
		snprintf(p->qreason, sizeof p->qreason, "%s", reason);
	if (v == VERDICT_FAIL || (v == VERDICT_WARN && p->qv != VERDICT_FAIL))
		p->qv = v;
}

void pop3p_detail(struct pop3_probe *p, const char *fmt, ...)
{
	if (p->quiet)
		return;
	char d[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d, sizeof d, fmt, ap);
	va_end(ap);
	report_detail(p->r, "%s", d);
}

const char *pop3p_channel(const struct pop3_probe *p)
{
	return probe_channel(&p->c, p->implicit, "after STLS");
}

int pop3p_status(struct pop3_probe *p)
{
	struct probe_line l;
	if (pconn_read_line(&p->c, &l) != PCONN_LINE)
		return -1;
	const char *t;
	size_t tl;
	p->status = pop3_status_parse(l.text, l.len, &t, &tl);
	display_escape(l.text, l.len, p->last, sizeof p->last);
	if (p->status != POP3_ST_BAD)
		display_escape(t, tl, p->text, sizeof p->text);
	else
		p->text[0] = '\0';
	if (p->status == POP3_ST_BAD) {
		snprintf(p->c.err, sizeof p->c.err, "not a POP3 status line: %.200s", p->last);
		return -1;
	}
	return 0;
}

int pop3p_cmd(struct pop3_probe *p, const char *line, const char *shown)
{
	if (pconn_send(&p->c, line, shown) < 0)
		return -1;
	return pop3p_status(p);
}

/* Reads a multi-line body into m, showing at most `show` lines (0: all). */
static int read_multi(struct pop3_probe *p, struct pop3_multi *m, size_t show)
{
	pop3_multi_clear(m);
	pop3_multi_init(m, POP3_MULTI_MAX);
	p->bare_lf = 0;
	pconn_show_max(&p->c, show);
	int rc = 0;
	for (;;) {
		struct probe_line l;
		if (pconn_read_line(&p->c, &l) != PCONN_LINE) {
			rc = -1;
			break;
		}
		p->bare_lf += l.bare_lf;
		enum reply_result rr = pop3_multi_line(m, l.text, l.len);
		if (rr == REPLY_DONE)
			break;
		if (rr == REPLY_BAD) {
			snprintf(p->c.err, sizeof p->c.err, "multi-line response over %u bytes",
				 POP3_MULTI_MAX);
			rc = -1;
			break;
		}
	}
	pconn_show_all(&p->c);
	return rc;
}

/* A command with a multi-line answer: 1 (+OK and body), 0 (-ERR), -1. */
static int multi_cmd(struct pop3_probe *p, const char *line, struct pop3_multi *m, size_t show)
{
	if (pop3p_cmd(p, line, NULL) < 0)
		return -1;
	if (p->status != POP3_ST_OK)
		return 0;
	return read_multi(p, m, show) < 0 ? -1 : 1;
}

static void fail_conn(struct pop3_probe *p, const char *what)
{
	pop3p_end(p, VERDICT_FAIL, "%s: %s", what, p->c.err);
}

static bool capa(struct pop3_probe *p, const char *step)
{
	pop3p_begin(p, step);
	int rc = multi_cmd(p, "CAPA", &p->capa, 0);
	if (rc < 0) {
		fail_conn(p, "CAPA");
		return false;
	}
	p->have_capa = rc == 1;
	if (!p->have_capa) {
		pop3p_end(p, VERDICT_INFO, "no CAPA (RFC 2449): %s; assuming USER/PASS", p->last);
	} else {
		pop3p_end(p, VERDICT_PASS, "%zu capabilities", p->capa.nlines);
		size_t pos = 0, len;
		const char *ln;
		while (pop3_multi_next(&p->capa, &pos, &ln, &len)) {
			size_t kw = 0;
			while (kw < len && ln[kw] != ' ')
				kw++;
			const char *what = pop3_capa_describe(ln, kw);
			char esc[120];
			display_escape(ln, len, esc, sizeof esc);
			pop3p_detail(p, "%-28s %s", esc, what ? what : "(not known to this probe)");
		}
	}
	pop3p_note_methods(p);
	return true;
}

static bool tls_step(struct pop3_probe *p, const char *what)
{
	if (pconn_tls(&p->c, &p->o->tlsopt, p->o->pop3_host) < 0) {
		fail_conn(p, what);
		return false;
	}
	bool stop;
	char reason[512];
	enum verdict v;
	v = probe_tls_verdict(p->o, p->quiet ? NULL : p->r, &p->c, p->o->pop3_host, &stop,
			      reason, sizeof reason);
	pop3p_end(p, v, "%s", reason);
	return !stop;
}

static bool stls(struct pop3_probe *p)
{
	const char *args;
	size_t alen;
	bool offered = p->have_capa && pop3_capa_find(&p->capa, "STLS", &args, &alen);
	pop3p_begin(p, "pop3.stls");
	if (p->o->tls == PROBE_TLS_NO) {
		pop3p_end(p, VERDICT_INFO, "%s; not used (--tls no)",
			  offered ? "offered" : "not offered");
		return true;
	}
	if (!offered) {
		if (p->o->tls == PROBE_TLS_STARTTLS) {
			pop3p_end(p, VERDICT_FAIL, "the server does not offer STLS (--tls starttls)");
			return false;
		}
		pop3p_end(p, VERDICT_WARN, "the server does not offer STLS: the session stays "
			  "in plaintext, readable by anyone on the path");
		return true;
	}
	if (pop3p_cmd(p, "STLS", NULL) < 0) {
		fail_conn(p, "STLS");
		return false;
	}
	if (p->status != POP3_ST_OK) {
		pop3p_end(p, VERDICT_FAIL, "STLS refused: %s", p->last);
		return p->o->tls != PROBE_TLS_STARTTLS;
	}
	if (!tls_step(p, "STLS"))
		return false;
	/* RFC 2595 4: the capabilities may change with TLS; ask again. */
	return capa(p, "pop3.capa-tls");
}

static bool stat_list_uidl(struct pop3_probe *p)
{
	pop3p_begin(p, "pop3.stat");
	if (pop3p_cmd(p, "STAT", NULL) < 0) {
		fail_conn(p, "STAT");
		return false;
	}
	if (p->status != POP3_ST_OK ||
	    !pop3_scan_pair(p->text, strlen(p->text), &p->count, &p->octets)) {
		pop3p_end(p, VERDICT_FAIL, "no \"+OK count size\" answer: %s", p->last);
		return false;
	}
	pop3p_end(p, VERDICT_PASS, "%llu message%s, %llu octets", (unsigned long long)p->count,
		  p->count == 1 ? "" : "s", (unsigned long long)p->octets);

	pop3p_begin(p, "pop3.list");
	struct pop3_multi m;
	pop3_multi_init(&m, 0);
	int rc = multi_cmd(p, "LIST", &m, 12);
	bool ok = rc == 1;
	if (rc < 0)
		fail_conn(p, "LIST");
	else if (rc == 0)
		pop3p_end(p, VERDICT_FAIL, "LIST refused: %s", p->last);
	if (ok && p->count < 1000000) {
		free(p->sizes);
		p->nsizes = (size_t)p->count;
		p->sizes = calloc(p->nsizes ? p->nsizes : 1, sizeof *p->sizes);
		ok = p->sizes != NULL;
		if (!ok)
			pop3p_end(p, VERDICT_FAIL, "out of memory");
	} else if (ok) {
		pop3p_end(p, VERDICT_WARN, "%llu messages: too many to check",
			  (unsigned long long)p->count);
		ok = false;
	}
	if (ok) {
		size_t pos = 0, len, lines = 0;
		const char *ln;
		uint64_t sum = 0, n, size, prev = 0;
		char bad[200] = "";
		while (pop3_multi_next(&m, &pos, &ln, &len)) {
			lines++;
			if (!pop3_scan_pair(ln, len, &n, &size) || n <= prev || n > p->nsizes) {
				display_escape(ln, len, bad, sizeof bad);
				break;
			}
			prev = n;
			p->sizes[n - 1] = size;
			sum += size;
		}
		if (bad[0])
			pop3p_end(p, VERDICT_FAIL, "bad or out-of-order LIST line \"%s\"", bad);
		else if (lines != p->count || sum != p->octets)
			pop3p_end(p, VERDICT_FAIL, "LIST shows %zu messages and %llu octets, STAT "
				  "said %llu and %llu", lines, (unsigned long long)sum,
				  (unsigned long long)p->count, (unsigned long long)p->octets);
		else
			pop3p_end(p, VERDICT_PASS, "%zu message%s; the sizes add up to STAT's %llu "
				  "octets", lines, lines == 1 ? "" : "s", (unsigned long long)sum);
	}
	pop3_multi_clear(&m);

	pop3p_begin(p, "pop3.uidl");
	pop3_multi_init(&m, 0);
	rc = multi_cmd(p, "UIDL", &m, 12);
	if (rc < 0) {
		fail_conn(p, "UIDL");
		pop3_multi_clear(&m);
		return false;
	}
	if (rc == 0) {
		pop3p_end(p, VERDICT_WARN, "no UIDL (%s): clients cannot tell which messages "
			  "they have already fetched", p->last);
		pop3_multi_clear(&m);
		return true;
	}
	free(p->uids);
	p->uids = calloc(m.nlines ? m.nlines : 1, sizeof *p->uids);
	p->nuids = 0;
	size_t pos = 0, len;
	const char *ln, *uid;
	size_t ulen;
	uint64_t n;
	char bad[200] = "";
	while (p->uids && pop3_multi_next(&m, &pos, &ln, &len)) {
		if (!pop3_uidl_line(ln, len, &n, &uid, &ulen)) {
			display_escape(ln, len, bad, sizeof bad);
			break;
		}
		struct pop3_uid *u = &p->uids[p->nuids++];
		u->msg = n;
		memcpy(u->uid, uid, ulen);
		u->uid[ulen] = '\0';
	}
	pop3_multi_clear(&m);
	p->have_uidl = p->uids && !bad[0];
	size_t dup = 0;
	for (size_t i = 0; p->have_uidl && i < p->nuids && p->nuids <= 20000; i++)
		for (size_t j = i + 1; j < p->nuids; j++)
			dup += !strcmp(p->uids[i].uid, p->uids[j].uid);
	if (!p->uids)
		pop3p_end(p, VERDICT_FAIL, "out of memory");
	else if (bad[0])
		pop3p_end(p, VERDICT_FAIL, "bad UIDL line \"%s\" (RFC 1939 7: 1 to 70 printable "
			  "characters)", bad);
	else if (dup)
		pop3p_end(p, VERDICT_FAIL, "%zu duplicate unique ids", dup);
	else if (p->nuids != p->count)
		pop3p_end(p, VERDICT_FAIL, "UIDL lists %zu messages, STAT said %llu", p->nuids,
			  (unsigned long long)p->count);
	else
		pop3p_end(p, VERDICT_PASS, "%zu unique id%s, no duplicates", p->nuids,
			  p->nuids == 1 ? "" : "s");
	return true;
}

/* Does this header block carry the test message's Message-ID? */
static bool is_target(const struct probe_state *st, const struct pop3_multi *m)
{
	struct header_field f;
	char id[200];
	if (!header_find(m->body.data, m->body.len, "Message-ID", &f))
		return false;
	header_unfold(f.value, f.valuelen, id, sizeof id);
	return !strcmp(id, st->message_id);
}

/* Searches the newest messages: 1 found, 0 not there, -1 failed (ended). */
static int find(struct pop3_probe *p)
{
	struct pop3_multi m;
	pop3_multi_init(&m, 0);
	char cmd[64];
	uint64_t low = p->count > POP3_FIND_NEWEST ? p->count - POP3_FIND_NEWEST + 1 : 1;
	bool use_retr = false;
	int found = 0;
	for (uint64_t n = p->count; n >= low && n > 0 && !found; n--) {
		snprintf(cmd, sizeof cmd, use_retr ? "RETR %llu" : "TOP %llu 0",
			 (unsigned long long)n);
		int rc = multi_cmd(p, cmd, &m, 3);
		if (rc < 0) {
			fail_conn(p, "searching");
			found = -1;
		} else if (rc == 0 && !use_retr) {
			pop3p_detail(p, "TOP refused (%s): searching with RETR", p->last);
			use_retr = true;
			n++;
		} else if (rc == 1 && is_target(p->st, &m)) {
			p->target = n;
			found = 1;
		}
	}
	pop3_multi_clear(&m);
	if (found == 1)
		for (size_t i = 0; i < p->nuids; i++)
			if (p->uids[i].msg == p->target)
				memcpy(p->target_uid, p->uids[i].uid, sizeof p->target_uid);
	return found;
}

/* TOP n 3 must be the added trace fields, the headers sent, the blank
 * line and exactly the first three body lines (RFC 1939 7). */
static void top(struct pop3_probe *p)
{
	pop3p_begin(p, "pop3.top");
	const uint8_t *s = p->st->message.data;
	size_t slen = p->st->message.len, pos = 0, lines = 0;
	struct header_field f;
	while (header_next(s, slen, &pos, &f))
		;
	pos += 2; /* the blank line */
	while (pos < slen && lines < 3) {
		const uint8_t *lf = memchr(s + pos, '\n', slen - pos);
		pos = lf ? (size_t)(lf - s) + 1 : slen;
		lines++;
	}
	char cmd[64];
	snprintf(cmd, sizeof cmd, "TOP %llu 3", (unsigned long long)p->target);
	struct pop3_multi m;
	pop3_multi_init(&m, 0);
	int rc = multi_cmd(p, cmd, &m, 0);
	if (rc < 0) {
		fail_conn(p, "TOP");
	} else if (rc == 0) {
		pop3p_end(p, VERDICT_WARN, "TOP refused: %s", p->last);
	} else {
		struct msg_cmp cmp;
		message_compare(s, pos, m.body.data, m.body.len, &cmp);
		if (cmp.same)
			pop3p_end(p, VERDICT_PASS, "the headers and exactly 3 body lines, as sent");
		else
			pop3p_end(p, VERDICT_FAIL, "line %zu differs: sent \"%s\", got \"%s\"",
				  cmp.line, cmp.want, cmp.got);
	}
	pop3_multi_clear(&m);
}

/* Appends "; "-separated text to out. */
static void add_problem(char *out, size_t outsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_problem(char *out, size_t outsz, const char *fmt, ...)
{
	size_t n = strlen(out);
	if (n && n + 2 < outsz) {
		memcpy(out + n, "; ", 3);
		n += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out + n, outsz - n, fmt, ap);
	va_end(ap);
}

/* RETR: the bytes must be those sent, and the size what LIST said. */
static bool retr(struct pop3_probe *p)
{
	pop3p_begin(p, "pop3.retr");
	char cmd[64];
	snprintf(cmd, sizeof cmd, "RETR %llu", (unsigned long long)p->target);
	if (pop3p_cmd(p, cmd, NULL) < 0) {
		fail_conn(p, "RETR");
		return false;
	}
	if (p->status != POP3_ST_OK) {
		pop3p_end(p, VERDICT_FAIL, "RETR refused: %s", p->last);
		return true;
	}
	/* "+OK 745 octets" is customary (RFC 1939 7 example), not required. */
	uint64_t said = UINT64_MAX;
	const char *sp = strchr(p->text, ' ');
	if (sp && !strncmp(sp, " octets", 7) &&
	    !strnum_u64(p->text, (size_t)(sp - p->text), UINT64_MAX, &said))
		said = UINT64_MAX;
	struct pop3_multi m;
	pop3_multi_init(&m, 0);
	if (read_multi(p, &m, 40) < 0) {
		fail_conn(p, "RETR");
		pop3_multi_clear(&m);
		return false;
	}
	struct msg_cmp cmp;
	message_compare(p->st->message.data, p->st->message.len, m.body.data, m.body.len, &cmp);
	uint64_t listed = p->target <= p->nsizes ? p->sizes[p->target - 1] : UINT64_MAX;
	char problems[600] = "";
	if (!cmp.same)
		add_problem(problems, sizeof problems, "line %zu differs from what was sent: sent \"%s\", got \"%s\"", cmp.line,
			cmp.want, cmp.got);
	if (listed != UINT64_MAX && listed != m.body.len)
		add_problem(problems, sizeof problems, "LIST said %llu octets, RETR returned %zu", (unsigned long long)listed,
			m.body.len);
	if (said != UINT64_MAX && said != m.body.len)
		add_problem(problems, sizeof problems, "the +OK line said %llu octets, RETR returned %zu",
			(unsigned long long)said, m.body.len);
	if (problems[0]) {
		pop3p_end(p, VERDICT_FAIL, "%s", problems);
	} else {
		pop3p_end(p, p->bare_lf ? VERDICT_WARN : VERDICT_PASS,
			  "identical to the %zu bytes sent (after CRLF and dot-unstuffing)%s; LIST "
			  "and RETR agree on %zu octets%s", p->st->message.len,
			  cmp.added ? ", below the fields the server added" : "", m.body.len,
			  p->bare_lf ? "; but some lines ended in a bare LF" : "");
		if (cmp.added)
			pop3p_detail(p, "added by the server: %zu field%s (%s)", cmp.added,
				     cmp.added == 1 ? "" : "s", cmp.added_names);
	}
	pop3_multi_clear(&m);
	return true;
}

/* QUIT; when commit, it is what makes DELE happen (RFC 1939 6). */
static bool quit(struct pop3_probe *p, bool commit)
{
	pop3p_begin(p, "pop3.quit");
	enum verdict bad = commit ? VERDICT_FAIL : VERDICT_WARN;
	const char *risk = commit ? ": the deletion may not have been committed" : "";
	if (pop3p_cmd(p, "QUIT", NULL) < 0) {
		pop3p_end(p, bad, "no answer to QUIT (%s)%s", p->c.err, risk);
		return false;
	}
	if (p->status != POP3_ST_OK) {
		pop3p_end(p, bad, "QUIT answered %s%s", p->last, risk);
		return false;
	}
	pop3p_end(p, VERDICT_PASS, "%s%s", p->last,
		  commit ? " (deletions are committed now, RFC 1939 6)" : "");
	pconn_wait_close(&p->c, 2000);
	return true;
}

enum session_result { SESSION_DONE, SESSION_RETRY, SESSION_ENDED };

/* The confirmation session, after login: is the test message gone? */
static enum session_result confirm_gone(struct pop3_probe *p)
{
	bool gone = false;
	if (p->target_uid[0]) {
		struct pop3_multi m;
		pop3_multi_init(&m, 0);
		int rc = multi_cmd(p, "UIDL", &m, 12);
		if (rc == 1) {
			gone = true;
			size_t pos = 0, len, ulen;
			const char *ln, *uid;
			uint64_t n;
			while (pop3_multi_next(&m, &pos, &ln, &len))
				if (pop3_uidl_line(ln, len, &n, &uid, &ulen) &&
				    ulen == strlen(p->target_uid) && !memcmp(uid, p->target_uid, ulen))
					gone = false;
			if (!gone)
				pop3p_end(p, VERDICT_FAIL, "the test message (unique id %s) is still "
					  "there", p->target_uid);
		} else {
			pop3p_end(p, VERDICT_FAIL, "UIDL: %s", rc < 0 ? p->c.err : p->last);
		}
		pop3_multi_clear(&m);
	} else if (pop3p_cmd(p, "STAT", NULL) == 0 && p->status == POP3_ST_OK &&
		   pop3_scan_pair(p->text, strlen(p->text), &p->count, &p->octets)) {
		int f = find(p);
		gone = f == 0;
		if (f == 1)
			pop3p_end(p, VERDICT_FAIL, "the test message is still there (message %llu)",
				  (unsigned long long)p->target);
	} else {
		pop3p_end(p, VERDICT_FAIL, "STAT: %s", p->c.err[0] ? p->c.err : p->last);
	}
	quit(p, false);
	return gone ? SESSION_DONE : SESSION_ENDED;
}

static enum session_result session(struct pop3_probe *p, int attempt)
{
	const struct probe_opts *o = p->o;
	pop3p_begin(p, "pop3.connect");
	if (pconn_connect(&p->c, o->pop3_host, o->pop3_port, o->timeout_ms, p->r, &p->st->t0) < 0) {
		pop3p_end(p, VERDICT_FAIL, "%s", p->c.err);
		return SESSION_ENDED;
	}
	pop3p_end(p, VERDICT_PASS, "TCP connection to %s port %s", o->pop3_host, o->pop3_port);
	if (p->implicit) {
		pop3p_begin(p, "pop3.tls");
		if (!tls_step(p, "implicit TLS"))
			return SESSION_ENDED;
	}

	pop3p_begin(p, "pop3.greeting");
	if (pop3p_status(p) < 0) {
		fail_conn(p, "no greeting");
		return SESSION_ENDED;
	}
	if (p->status != POP3_ST_OK) {
		pop3p_end(p, VERDICT_FAIL, "the server refuses the session: %s", p->last);
		return SESSION_ENDED;
	}
	p->ts[0] = '\0';
	bool apop = pop3_apop_timestamp(p->text, strlen(p->text), p->ts, sizeof p->ts);
	pop3p_end(p, VERDICT_PASS, "%s", p->last);
	if (apop)
		pop3p_detail(p, "APOP timestamp %s: the server offers APOP (RFC 1939 7)", p->ts);
	else
		pop3p_detail(p, "no APOP timestamp: APOP is not offered");

	if (!capa(p, "pop3.capa"))
		return SESSION_ENDED;
	if (!p->implicit && !stls(p)) {
		quit(p, false);
		return SESSION_ENDED;
	}
	pop3p_begin(p, "pop3.login");
	if (!o->user || !o->password) {
		pop3p_end(p, VERDICT_INFO, "no --user: login and the maildrop checks skipped");
		quit(p, false);
		return SESSION_DONE;
	}
	char reason[600];
	enum verdict v = pop3p_login(p, reason, sizeof reason);
	pop3p_end(p, v, "%s", reason);
	if (v == VERDICT_FAIL && p->quiet && strstr(p->last, "[IN-USE]")) {
		/* The first session's lock may outlive its QUIT by a moment. */
		quit(p, false);
		return SESSION_RETRY;
	}
	if (v == VERDICT_FAIL) {
		if (p->st->message_sent)
			pop3p_detail(p, "the test message %s stays in the maildrop",
				     p->st->message_id);
		quit(p, false);
		return SESSION_ENDED;
	}
	if (p->quiet)
		return confirm_gone(p);
	if (!stat_list_uidl(p)) {
		quit(p, false);
		return SESSION_ENDED;
	}

	pop3p_begin(p, "pop3.find");
	if (!p->st->message_sent) {
		pop3p_end(p, VERDICT_INFO, "no test message was accepted over SMTP: nothing to "
			  "look for");
		quit(p, false);
		return SESSION_DONE;
	}
	int f = find(p);
	if (f < 0)
		return SESSION_ENDED;
	if (f == 0) {
		if (attempt < POP3_FIND_ATTEMPTS) {
			pop3p_end(p, VERDICT_INFO, "%s is not among the newest messages yet; a new "
				  "session in 1 s (attempt %d of %d): a session sees the maildrop "
				  "as it was at login", p->st->message_id, attempt, POP3_FIND_ATTEMPTS);
			quit(p, false);
			return SESSION_RETRY;
		}
		pop3p_end(p, VERDICT_FAIL, "%s is not among the newest %d messages after %d "
			  "sessions", p->st->message_id, POP3_FIND_NEWEST, attempt);
		quit(p, false);
		return SESSION_ENDED;
	}
	pop3p_end(p, VERDICT_PASS, "message %llu has Message-ID %s%s%s",
		  (unsigned long long)p->target, p->st->message_id,
		  p->target_uid[0] ? ", unique id " : "", p->target_uid);
	top(p);
	if (!retr(p))
		return SESSION_ENDED;

	pop3p_begin(p, "pop3.dele");
	char cmd[64];
	snprintf(cmd, sizeof cmd, "DELE %llu", (unsigned long long)p->target);
	if (pop3p_cmd(p, cmd, NULL) < 0) {
		fail_conn(p, "DELE");
		return SESSION_ENDED;
	}
	bool deleted = p->status == POP3_ST_OK;
	if (deleted)
		pop3p_end(p, VERDICT_PASS, "%s: marked, to be removed at QUIT", p->last);
	else
		pop3p_end(p, VERDICT_FAIL, "DELE refused: %s", p->last);
	return quit(p, deleted) && deleted ? SESSION_DONE : SESSION_ENDED;
}

static void pop3p_free(struct pop3_probe *p)
{
	pconn_close(&p->c);
	pop3_multi_clear(&p->capa);
	free(p->sizes);
	free(p->uids);
}

static void pop3p_init(struct pop3_probe *p, const struct probe_opts *o, struct probe_state *st)
{
	memset(p, 0, sizeof *p);
	p->o = o;
	p->st = st;
	p->r = &st->rep;
	p->implicit = o->tls == PROBE_TLS_IMPLICIT;
	pconn_init(&p->c);
	pop3_multi_init(&p->capa, 0);
}

void probe_pop3(const struct probe_opts *o, struct probe_state *st)
{
	struct pop3_probe p;
	for (int attempt = 1;; attempt++) {
		pop3p_init(&p, o, st);
		enum session_result s = session(&p, attempt);
		bool deleted = s == SESSION_DONE && p.target;
		char uid[sizeof p.target_uid];
		memcpy(uid, p.target_uid, sizeof uid);
		pop3p_free(&p);
		if (s == SESSION_RETRY) {
			sleep(1);
			continue;
		}
		if (!deleted)
			return;
		/* A second session: only it can show what QUIT committed. */
		report_begin(&st->rep, "pop3.confirm");
		for (int tries = 1;; tries++) {
			pop3p_init(&p, o, st);
			p.quiet = true;
			p.qv = VERDICT_PASS;
			memcpy(p.target_uid, uid, sizeof uid);
			s = session(&p, POP3_FIND_ATTEMPTS);
			if (s != SESSION_RETRY || tries == POP3_FIND_ATTEMPTS)
				break;
			pop3p_free(&p);
			report_line(&st->rep, probe_ms_since(&st->t0), DIR_NOTE,
				    "maildrop in use: trying again", 29, 0, false);
			usleep(200 * 1000);
		}
		if (p.qv == VERDICT_FAIL)
			report_end(&st->rep, VERDICT_FAIL, "%s", p.qreason);
		else if (s != SESSION_DONE)
			report_end(&st->rep, VERDICT_FAIL, "the confirmation session failed: %s",
				   p.c.err[0] ? p.c.err : "see the transcript");
		else
			report_end(&st->rep, VERDICT_PASS, "a new session no longer lists the test "
				   "message: it is deleted");
		pop3p_free(&p);
		return;
	}
}
