/* smtp_client: the session machine of facteur's outbound SMTP client.
 *
 * Pure like the server core: the adapter feeds what the server sent,
 * takes SEND/STARTTLS/READY/DONE/LOG/CLOSE items with next(), and
 * answers with input(). No I/O, no clock, no global state. This file has
 * the output queue, the reply dispatch and the public entry points; the
 * steps before mail are in smtp_client_hello.c, the transactions in
 * smtp_client_txn.c, the reply parser in smtp_client_reply.c, the DATA
 * encoder in smtp_client_body.c.
 *
 * feed() handles one reply at a time and stops while anything is waiting
 * to be taken, so the output never grows with the input: whatever a
 * server sends, the queue holds the items of one reply (a pipelined
 * MAIL/RCPT/DATA group at most). The body goes out in blocks that next()
 * encodes on demand. Everything the server says is untrusted: replies
 * are bounded and checked, anything out of order ends the session.
 *
 * Secrets: the AUTH user and password, and their base64 forms, are made
 * at creation and wiped on free; a SEND item with AUTH data is wiped when
 * released. Logs show "<redacted>" instead, and a reply or log line that
 * would carry any of them (a server echoing them) is redacted too. */
#include "proto/smtp_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/escape.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "proto/limits.h"
#include "proto/smtp_client_int.h"

#define NO_ITEM SIZE_MAX
/* RFC 5321 4.1.2 (Domain is at most 255 octets, 4.5.3.1.2) */
#define HELO_NAME_MAX 255
/* room for an escaped command or reply text in a log line */
#define LOG_ESC_MAX (4 * LIMIT_SMTP_CMD_LINE + 8)

static char *dup_str(const char *s)
{
	return mem_strdup(s, strlen(s));
}

static void free_secret(char **p)
{
	if (*p) {
		secure_wipe(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

struct smtpc_item *smtpc_push(struct smtp_client *c,
	enum smtp_client_out_kind kind)
{
	if (c->no_memory || c->state == SMTPC_ST_CLOSED)
		return NULL;
	if (c->qlen == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 8;
		struct smtpc_item *q = realloc(c->q, cap * sizeof *q);
		if (!q) {
			c->no_memory = true;
			return NULL;
		}
		c->q = q;
		c->qcap = cap;
	}
	struct smtpc_item *it = &c->q[c->qlen++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	buf_init(&it->data, 0);
	return it;
}

static void item_release(struct smtpc_item *it)
{
	if (it->secret)
		buf_release_secure(&it->data);
	else
		buf_release(&it->data);
}

void smtpc_release_cur(struct smtp_client *c)
{
	if (c->has_cur) {
		item_release(&c->cur);
		c->has_cur = false;
	}
}

static bool output_waiting(const struct smtp_client *c)
{
	return c->qhead < c->qlen || c->pend_done || c->pend_ready
		|| c->pend_close || c->state == SMTPC_ST_BODY;
}

static bool holds_secret(const struct smtp_client *c, const char *text)
{
	const char *s[] = {c->pass, c->b64[0], c->b64[1], c->b64[2]};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
		if (s[i] && *s[i] && strstr(text, s[i]))
			return true;
	return false;
}

/* The item pushed last, when filling it failed: an empty LOG or SEND
 * is of no use to anyone. */
static void drop_last(struct smtp_client *c)
{
	item_release(&c->q[--c->qlen]);
	if (c->open_send == c->qlen)
		c->open_send = NO_ITEM;
	c->no_memory = true;
}

void smtpc_log(struct smtp_client *c, const char *prefix,
	const char *s, size_t n)
{
	char esc[LOG_ESC_MAX], line[LOG_ESC_MAX + 16];
	escape_log(esc, sizeof esc, (const uint8_t *)s, n);
	snprintf(line, sizeof line, "%s%s", prefix, esc);
	/* checked on the final line: escaping turns "\\" into "\x5c", and
	 * a server can build a secret out of that */
	if (holds_secret(c, line))
		snprintf(line, sizeof line, "%s<redacted>", prefix);
	struct smtpc_item *it = smtpc_push(c, SMTPC_OUT_LOG);
	if (it && !buf_append_str(&it->data, line))
		drop_last(c);
}

/* Queues the command line a+b with CRLF and logs it (as log_as when
 * given: AUTH data never reaches a log). Commands queued back to back go
 * out in one SEND: that is what makes a pipelined group (RFC 2920 3.1). */
void smtpc_send_line(struct smtp_client *c, const char *a, const char *b,
	const char *log_as, bool secret)
{
	size_t an = strlen(a), bn = b ? strlen(b) : 0;
	struct smtpc_item *it;
	if (!secret && c->open_send != NO_ITEM) {
		it = &c->q[c->open_send];
	} else {
		it = smtpc_push(c, SMTPC_OUT_SEND);
		if (!it)
			return;
		it->secret = secret;
		/* a secret goes alone, and nothing joins what came before it */
		c->open_send = secret ? NO_ITEM : c->qlen - 1;
	}
	/* room first: a secret must not be left behind by a realloc */
	if (!buf_reserve(&it->data, an + bn + 2)) {
		if (it->data.len == 0)
			drop_last(c);
		c->no_memory = true;
		return;
	}
	buf_append(&it->data, a, an);
	buf_append(&it->data, b, bn);
	buf_append(&it->data, "\r\n", 2);
	if (log_as) {
		smtpc_log(c, "C: ", log_as, strlen(log_as));
	} else {
		smtpc_log(c, "C: ", (const char *)it->data.data + it->data.len
			- an - bn - 2, an + bn);
	}
}

void smtpc_cmd(struct smtp_client *c, const char *line)
{
	smtpc_send_line(c, line, NULL, NULL, false);
}

void smtpc_to_ready(struct smtp_client *c)
{
	c->state = SMTPC_ST_READY;
	c->pend_ready = true;
}

/* Ends the session: a transaction in progress is DONE first, with rep
 * for the recipients without a result (RFC 5321 6.1: what was not
 * answered 2xx after the "." is not delivered, as far as we know). quit:
 * the wire is at a command boundary and the server still listens. */
void smtpc_fail(struct smtp_client *c, const struct smtp_client_reply *rep,
	bool permanent, bool quit)
{
	if (c->state == SMTPC_ST_CLOSED)
		return;
	if (quit && c->state != SMTPC_ST_QUIT)
		smtpc_cmd(c, "QUIT");
	if (c->t.active) {
		smtpc_txn_settle(c, rep);
		c->t.active = false;
		c->pend_done = true;
	}
	c->pend_ready = false;
	c->close_reply = *rep;
	c->close_permanent = permanent;
	c->pend_close = true;
	c->state = SMTPC_ST_CLOSED;
}

void smtpc_fail_local(struct smtp_client *c, const char *text, bool quit)
{
	struct smtp_client_reply r = smtpc_reply_local(0, "", text);
	smtpc_fail(c, &r, false, quit);
}

void smtpc_oom(struct smtp_client *c)
{
	c->no_memory = true;
	smtpc_fail_local(c, "local error: out of memory", false);
}

static const char *state_what(enum smtpc_state s)
{
	switch (s) {
	case SMTPC_ST_GREETING: return "greeting";
	case SMTPC_ST_EHLO: return "EHLO";
	case SMTPC_ST_HELO: return "HELO";
	case SMTPC_ST_STARTTLS: return "STARTTLS";
	case SMTPC_ST_TLS: return "TLS handshake";
	case SMTPC_ST_AUTH_PLAIN:
	case SMTPC_ST_AUTH_USER:
	case SMTPC_ST_AUTH_PASS:
	case SMTPC_ST_AUTH_RESULT: return "AUTH";
	case SMTPC_ST_READY: return "idle time";
	case SMTPC_ST_RSET: return "RSET";
	case SMTPC_ST_MAIL: return "MAIL";
	case SMTPC_ST_RCPT: return "RCPT";
	case SMTPC_ST_DATA: return "DATA";
	case SMTPC_ST_BODY: return "message body";
	case SMTPC_ST_DOT:
	case SMTPC_ST_DOT_IGNORE: return "end of data";
	case SMTPC_ST_QUIT: return "QUIT";
	case SMTPC_ST_CLOSED: return "close";
	}
	return "?";
}

static bool in_auth(enum smtpc_state s)
{
	return s == SMTPC_ST_AUTH_PLAIN || s == SMTPC_ST_AUTH_USER
		|| s == SMTPC_ST_AUTH_PASS || s == SMTPC_ST_AUTH_RESULT;
}

/* A reply the state does not allow (RFC 5321 4.3.2 lists what each
 * command may get): the server and we no longer agree on the session. */
void smtpc_unexpected(struct smtp_client *c,
	const struct smtp_client_reply *rep)
{
	char text[128];
	snprintf(text, sizeof text,
		"protocol error: unexpected reply %u during %s", rep->code,
		state_what(c->state));
	/* RFC 4954 4: a server waiting for a SASL response reads "*" as
	 * the end of the exchange, not QUIT */
	if (rep->code == 334 && in_auth(c->state))
		smtpc_cmd(c, "*");
	smtpc_fail_local(c, text, true);
}

static void close_normal(struct smtp_client *c)
{
	struct smtp_client_reply r = smtpc_reply_local(0, "", "");
	smtpc_fail(c, &r, false, false);
}

static void log_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	char line[sizeof r->text + 8];
	int n = snprintf(line, sizeof line, "%u%s%s", r->code,
		r->text[0] ? " " : "", r->text);
	if (n > 0)
		smtpc_log(c, "S: ", line, strlen(line));
}

static void on_reply(struct smtp_client *c, struct smtp_client_reply *r)
{
	/* a server that echoes credentials must not get them into a log
	 * or a bounce */
	if (holds_secret(c, r->text))
		smtpc_reply_set_text(r, "<redacted>");
	log_reply(c, r);
	/* RFC 5321 3.8: 421 at any point means the server is closing; the
	 * rest of a pipelined group will never be answered */
	if (r->code == 421 && c->state != SMTPC_ST_QUIT) {
		smtpc_fail(c, r, false, false);
		return;
	}
	switch (c->state) {
	case SMTPC_ST_GREETING: smtpc_hello_greeting(c, r); break;
	case SMTPC_ST_EHLO: smtpc_hello_ehlo(c, r); break;
	case SMTPC_ST_HELO: smtpc_hello_helo(c, r); break;
	case SMTPC_ST_STARTTLS: smtpc_hello_starttls(c, r); break;
	case SMTPC_ST_AUTH_PLAIN:
	case SMTPC_ST_AUTH_USER:
	case SMTPC_ST_AUTH_PASS:
	case SMTPC_ST_AUTH_RESULT: smtpc_hello_auth(c, r); break;
	case SMTPC_ST_READY: smtpc_unexpected(c, r); break;
	case SMTPC_ST_RSET: smtpc_txn_rset(c, r); break;
	case SMTPC_ST_MAIL: smtpc_txn_mail(c, r); break;
	case SMTPC_ST_RCPT: smtpc_txn_rcpt(c, r); break;
	case SMTPC_ST_DATA: smtpc_txn_data(c, r); break;
	case SMTPC_ST_DOT: smtpc_txn_dot(c, r); break;
	case SMTPC_ST_DOT_IGNORE: smtpc_txn_end(c); break;
	case SMTPC_ST_QUIT: close_normal(c); break;
	case SMTPC_ST_TLS:
	case SMTPC_ST_BODY:
	case SMTPC_ST_CLOSED:
		BUG("smtp_client: reply read in a state that reads none");
	}
}

static bool helo_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > HELO_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

struct smtp_client *smtp_client_new(const struct smtp_client_cfg *cfg)
{
	struct smtp_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	/* a bad name would be a command injection, a missing one a 501 */
	c->helo_name = dup_str(cfg->helo_name && helo_name_ok(cfg->helo_name)
		? cfg->helo_name : "localhost");
	bool ok = c->helo_name != NULL;
	if (ok && cfg->auth_user) {
		c->user = dup_str(cfg->auth_user);
		c->pass = dup_str(cfg->auth_password ? cfg->auth_password : "");
		ok = c->user && c->pass && smtpc_hello_auth_encode(c);
	}
	c->tls = cfg->tls_active;
	c->want_tls = cfg->starttls || cfg->tls_required;
	c->tls_required = cfg->tls_required;
	c->auth_plaintext_ok = cfg->auth_plaintext_ok;
	c->open_send = NO_ITEM;
	c->state = SMTPC_ST_GREETING;
	smtpc_reader_init(&c->rd, cfg->max_reply_line ? cfg->max_reply_line
		: SMTPC_REPLY_LINE_DEFAULT);
	buf_init(&c->chunk, 0);
	buf_init(&c->t.mail_line, 0);
	if (!ok) {
		smtp_client_free(&c);
		return NULL;
	}
	return c;
}

void smtp_client_free(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;
	if (!c)
		return;
	smtpc_release_cur(c);
	for (size_t i = c->qhead; i < c->qlen; i++)
		item_release(&c->q[i]);
	free(c->q);
	smtpc_txn_free(&c->t);
	smtpc_reader_clear(&c->rd);
	buf_release(&c->chunk);
	free(c->helo_name);
	free_secret(&c->user);
	free_secret(&c->pass);
	for (size_t i = 0; i < 3; i++)
		free_secret(&c->b64[i]);
	free(c);
	*cp = NULL;
}

size_t smtp_client_feed(struct smtp_client *c, const uint8_t *data, size_t len)
{
	smtpc_release_cur(c);
	/* RFC 3207 4.2: bytes that arrive before the handshake is over are
	 * plaintext from anyone on the path; the adapter should send none,
	 * and any it sends are dropped */
	if (c->state == SMTPC_ST_TLS)
		return len;
	size_t i = 0;
	while (i < len && c->state != SMTPC_ST_CLOSED && !output_waiting(c)) {
		size_t took = 0;
		enum smtpc_read res = smtpc_reader_feed(&c->rd, data + i,
			len - i, &took);
		i += took;
		switch (res) {
		case SMTPC_READ_MORE:
			break;
		case SMTPC_READ_REPLY:
			on_reply(c, &c->rd.reply);
			break;
		case SMTPC_READ_ERROR: {
			char text[128];
			snprintf(text, sizeof text, "protocol error: %s",
				c->rd.error);
			smtpc_fail_local(c, text, true);
			break;
		}
		case SMTPC_READ_NOMEM:
			c->no_memory = true;
			break;
		}
		if (c->no_memory)
			smtpc_oom(c);
		else if (c->state == SMTPC_ST_TLS)
			i = len; /* the rest came with the 220: dropped */
	}
	return i;
}

/* EOF or timeout: nothing more will come from this server. */
static void lost(struct smtp_client *c, const char *what)
{
	if (c->state == SMTPC_ST_QUIT) {
		close_normal(c);
		return;
	}
	char text[128];
	snprintf(text, sizeof text, "%s during %s", what, state_what(c->state));
	smtpc_fail_local(c, text, false);
}

void smtp_client_input(struct smtp_client *c, const struct smtp_client_in *in)
{
	smtpc_release_cur(c);
	if (c->state == SMTPC_ST_CLOSED)
		return;
	switch (in->kind) {
	case SMTPC_IN_TLS_OK:
		if (c->state != SMTPC_ST_TLS)
			BUG("smtp_client: TLS_OK without STARTTLS");
		smtpc_log(c, "", "TLS started", strlen("TLS started"));
		/* RFC 3207 4.2: forget what the server said in the clear */
		c->tls = true;
		smtpc_hello_send_ehlo(c);
		break;
	case SMTPC_IN_TLS_FAILED:
		if (c->state != SMTPC_ST_TLS)
			BUG("smtp_client: TLS_FAILED without STARTTLS");
		smtpc_fail_local(c, "TLS handshake failed", false);
		break;
	case SMTPC_IN_EOF:
		lost(c, "connection closed by server");
		break;
	case SMTPC_IN_TIMEOUT:
		lost(c, "timeout");
		break;
	case SMTPC_IN_QUIT:
		if (c->state == SMTPC_ST_READY && !c->pend_done) {
			c->pend_ready = false;
			smtpc_cmd(c, "QUIT");
			c->state = SMTPC_ST_QUIT;
		} else {
			smtpc_fail_local(c, "session aborted", false);
		}
		break;
	}
	if (c->no_memory)
		smtpc_oom(c);
}

bool smtp_client_next(struct smtp_client *c, struct smtp_client_out *out)
{
	smtpc_release_cur(c);
	memset(out, 0, sizeof *out);
	if (c->qhead < c->qlen) {
		c->cur = c->q[c->qhead++];
		c->has_cur = true;
		if (c->qhead == c->qlen)
			c->qhead = c->qlen = 0;
		c->open_send = NO_ITEM;
		out->kind = c->cur.kind;
		out->data = c->cur.data.data;
		out->len = c->cur.data.len;
		return true;
	}
	if (c->state == SMTPC_ST_BODY) {
		smtpc_txn_body_block(c, out);
		if (c->state != SMTPC_ST_CLOSED)
			return true;
		memset(out, 0, sizeof *out);
	}
	if (c->pend_done) {
		c->pend_done = false;
		out->kind = SMTPC_OUT_DONE;
		out->results = c->t.res;
		out->nresults = c->t.nrcpts;
		return true;
	}
	if (c->pend_ready) {
		c->pend_ready = false;
		out->kind = SMTPC_OUT_READY;
		return true;
	}
	if (c->pend_close) {
		c->pend_close = false;
		out->kind = SMTPC_OUT_CLOSE;
		out->close_reply = c->close_reply;
		out->close_permanent = c->close_permanent;
		return true;
	}
	return false;
}

unsigned smtp_client_timeout(const struct smtp_client *c)
{
	/* RFC 5321 4.5.3.2 */
	switch (c->state) {
	case SMTPC_ST_DATA: return 120;      /* 4.5.3.2.4: DATA initiation */
	case SMTPC_ST_BODY: return 180;      /* 4.5.3.2.5: a data block */
	case SMTPC_ST_DOT:
	case SMTPC_ST_DOT_IGNORE: return 600; /* 4.5.3.2.6: DATA termination */
	case SMTPC_ST_GREETING:              /* 4.5.3.2.1 */
	case SMTPC_ST_MAIL:                  /* 4.5.3.2.2 */
	case SMTPC_ST_RCPT:                  /* 4.5.3.2.3 */
	case SMTPC_ST_EHLO:
	case SMTPC_ST_HELO:
	case SMTPC_ST_STARTTLS:
	case SMTPC_ST_AUTH_PLAIN:
	case SMTPC_ST_AUTH_USER:
	case SMTPC_ST_AUTH_PASS:
	case SMTPC_ST_AUTH_RESULT:
	case SMTPC_ST_RSET:
	case SMTPC_ST_QUIT:
	/* not a reply, but a handshake that hangs must end too */
	case SMTPC_ST_TLS: return 300;
	case SMTPC_ST_READY:
	case SMTPC_ST_CLOSED: return 0;
	}
	return 0;
}

const struct smtp_client_ext *smtp_client_extensions(
	const struct smtp_client *c)
{
	return &c->ext;
}

bool smtp_client_tls_active(const struct smtp_client *c)
{
	return c->tls;
}
