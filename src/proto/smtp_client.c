/* smtp_client: the session machine of facteur's outbound SMTP client.
 *
 * Pure like the server core: the adapter feeds what the server sent,
 * takes SEND/STARTTLS/READY/DONE/LOG/CLOSE items with next(), and
 * answers with input(). No I/O, no clock, no global state. The reply
 * parser is in smtp_client_reply.c, the DATA encoder in
 * smtp_client_body.c.
 *
 * feed() handles one reply at a time and stops while anything is waiting
 * to be taken, so the output never grows with the input: whatever a
 * server sends, the queue holds the items of one reply (a pipelined
 * MAIL/RCPT/DATA group at most). The body goes out in blocks that next()
 * encodes on demand. Everything the server says is untrusted: replies
 * are bounded and checked, anything out of order ends the session.
 *
 * Secrets: the AUTH user and password are copied at creation and wiped
 * on free; the base64 AUTH data lives only in SEND items marked secret
 * (wiped when released) and in copies kept while AUTH runs, to keep a
 * server's echo of them out of logs. Logs show "<redacted>" instead. */
#include "proto/smtp_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/escape.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "proto/limits.h"
#include "proto/smtp_client_int.h"

#define NO_ITEM SIZE_MAX
/* RFC 5321 4.1.2 (Domain is at most 255 octets, 4.5.3.1.2) */
#define HELO_NAME_MAX 255
/* "MAIL FROM:<>" and "RCPT TO:<>" without the path, CRLF included */
#define RCPT_LINE_FIXED 12
/* room for an escaped command or reply text in a log line */
#define LOG_ESC_MAX (4 * LIMIT_SMTP_CMD_LINE + 8)

enum sc_state {
	SC_GREETING,
	SC_EHLO,
	SC_HELO,
	SC_STARTTLS,    /* STARTTLS sent, waiting for 220 */
	SC_TLS,         /* STARTTLS given out: waiting for TLS_OK/FAILED */
	SC_AUTH_PLAIN,  /* "AUTH PLAIN" without initial response: for 334 */
	SC_AUTH_USER,   /* "AUTH LOGIN" sent: for the 334 asking the user */
	SC_AUTH_PASS,   /* user sent: for the 334 asking the password */
	SC_AUTH_RESULT, /* credentials sent: for 235 */
	SC_READY,
	SC_RSET,
	SC_MAIL,
	SC_RCPT,        /* for the reply to rcpts[cursor] */
	SC_DATA,
	SC_BODY,        /* 354 received: body blocks being given out */
	SC_DOT,         /* the final "." sent */
	SC_DOT_IGNORE,  /* "." sent after a 354 that nobody should have had */
	SC_QUIT,
	SC_CLOSED,
};

/* A recipient's way through a transaction. */
enum rcpt_state {
	RS_LOCAL,    /* refused here, no RCPT sent: result final */
	RS_PENDING,  /* RCPT sent or to send, no reply yet */
	RS_ACCEPTED, /* RCPT got 2xx: the result is the end of data's */
	RS_DONE,     /* result final */
};

struct sc_item {
	enum smtp_client_out_kind kind;
	struct buf data;
	bool secret; /* holds AUTH data: wiped when released */
};

struct sc_txn {
	bool active;
	bool pipelined;
	bool mail_failed;
	struct buf mail_line;        /* "MAIL FROM:<..> SIZE=.." without CRLF */
	char **rcpts;
	size_t nrcpts;
	unsigned char *rs;           /* enum rcpt_state per recipient */
	struct smtp_client_rcpt_result *res;
	size_t cursor;               /* the recipient whose reply is next */
	size_t naccepted;
	const uint8_t *body;         /* borrowed until DONE */
	size_t body_len;
	uint64_t size;
	struct smtpc_body enc;
};

struct smtp_client {
	enum sc_state state;
	char *helo_name;
	char *user, *pass;           /* copies, wiped on free */
	/* the AUTH data, base64: PLAIN's message, LOGIN's user and
	 * password; wiped on free */
	char *b64[3];
	bool want_tls, tls_required, auth_plaintext_ok;
	bool tls;
	bool size_offered;           /* EHLO had SIZE, with or without a limit */
	bool need_rset;              /* the last transaction may have left state */
	struct smtp_client_ext ext;
	struct smtpc_reader rd;

	struct sc_item *q;
	size_t qhead, qlen, qcap;
	size_t open_send;            /* SEND item further commands join */
	struct sc_item cur;          /* the item given out last */
	bool has_cur;
	struct buf chunk;            /* the body block given out last */
	bool pend_done, pend_ready, pend_close;
	bool no_memory;
	struct smtp_client_reply close_reply;
	bool close_permanent;

	struct sc_txn t;
};

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

static unsigned cls(const struct smtp_client_reply *r)
{
	return r->code / 100;
}

static bool failure(const struct smtp_client_reply *r)
{
	return cls(r) == 4 || cls(r) == 5;
}

static struct smtp_client_reply local_reply(unsigned code,
	const char *status, const char *text)
{
	struct smtp_client_reply r;
	memset(&r, 0, sizeof r);
	r.code = code;
	snprintf(r.status, sizeof r.status, "%s", status);
	smtpc_reply_set_text(&r, text);
	return r;
}

/* ---- output queue ---- */

static struct sc_item *q_push(struct smtp_client *c,
	enum smtp_client_out_kind kind)
{
	if (c->no_memory || c->state == SC_CLOSED)
		return NULL;
	if (c->qlen == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 8;
		struct sc_item *q = realloc(c->q, cap * sizeof *q);
		if (!q) {
			c->no_memory = true;
			return NULL;
		}
		c->q = q;
		c->qcap = cap;
	}
	struct sc_item *it = &c->q[c->qlen++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	buf_init(&it->data, 0);
	return it;
}

static void item_release(struct sc_item *it)
{
	if (it->secret)
		buf_release_secure(&it->data);
	else
		buf_release(&it->data);
}

static void release_cur(struct smtp_client *c)
{
	if (c->has_cur) {
		item_release(&c->cur);
		c->has_cur = false;
	}
}

static bool output_waiting(const struct smtp_client *c)
{
	return c->qhead < c->qlen || c->pend_done || c->pend_ready
		|| c->pend_close || c->state == SC_BODY;
}

static bool holds_secret(const struct smtp_client *c, const char *text)
{
	const char *s[] = {c->pass, c->b64[0], c->b64[1], c->b64[2]};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
		if (s[i] && *s[i] && strstr(text, s[i]))
			return true;
	return false;
}

static void log_text(struct smtp_client *c, const char *prefix,
	const char *s, size_t n)
{
	struct sc_item *it = q_push(c, SMTPC_OUT_LOG);
	if (!it)
		return;
	char esc[LOG_ESC_MAX];
	escape_log(esc, sizeof esc, (const uint8_t *)s, n);
	if (!buf_append_str(&it->data, prefix) || !buf_append_str(&it->data, esc)) {
		c->no_memory = true;
		return;
	}
	/* checked on the final line: escaping turns "\\" into "\x5c", and
	 * a server can build a secret out of that */
	if (holds_secret(c, buf_cstr(&it->data))) {
		buf_clear(&it->data);
		if (!buf_append_str(&it->data, prefix)
			|| !buf_append_str(&it->data, "<redacted>"))
			c->no_memory = true;
	}
}

/* Queues the command line a+b with CRLF and logs it (as log_as when
 * given: AUTH data never reaches a log). Commands queued back to back go
 * out in one SEND: that is what makes a pipelined group (RFC 2920 3.1). */
static void send_line(struct smtp_client *c, const char *a, const char *b,
	const char *log_as, bool secret)
{
	size_t an = strlen(a), bn = b ? strlen(b) : 0;
	struct sc_item *it;
	if (!secret && c->open_send != NO_ITEM) {
		it = &c->q[c->open_send];
	} else {
		it = q_push(c, SMTPC_OUT_SEND);
		if (!it)
			return;
		it->secret = secret;
		/* a secret goes alone, and nothing joins what came before it */
		c->open_send = secret ? NO_ITEM : c->qlen - 1;
	}
	/* room first: a secret must not be left behind by a realloc */
	if (!buf_reserve(&it->data, an + bn + 2)) {
		c->no_memory = true;
		return;
	}
	buf_append(&it->data, a, an);
	buf_append(&it->data, b, bn);
	buf_append(&it->data, "\r\n", 2);
	if (log_as) {
		log_text(c, "C: ", log_as, strlen(log_as));
	} else {
		log_text(c, "C: ", (const char *)it->data.data + it->data.len
			- an - bn - 2, an + bn);
	}
}

static void cmd(struct smtp_client *c, const char *line)
{
	send_line(c, line, NULL, NULL, false);
}

/* ---- transaction results ---- */

static void txn_free(struct sc_txn *t)
{
	buf_release(&t->mail_line);
	for (size_t i = 0; i < t->nrcpts; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	free(t->rs);
	free(t->res);
	memset(t, 0, sizeof *t);
	buf_init(&t->mail_line, 0);
}

/* rep becomes the result of every recipient still without one. */
static void settle_rest(struct smtp_client *c,
	const struct smtp_client_reply *rep)
{
	struct sc_txn *t = &c->t;
	for (size_t i = 0; i < t->nrcpts; i++) {
		if (t->rs[i] == RS_PENDING || t->rs[i] == RS_ACCEPTED) {
			t->res[i].reply = *rep;
			t->res[i].accepted = false;
			t->rs[i] = RS_DONE;
		}
	}
}

static void to_ready(struct smtp_client *c)
{
	c->state = SC_READY;
	c->pend_ready = true;
}

static void txn_end(struct smtp_client *c)
{
	c->t.active = false;
	c->pend_done = true;
	to_ready(c);
}

/* ---- ending the session ---- */

/* Ends the session: a transaction in progress is DONE first, with rep
 * for the recipients without a result (RFC 5321 6.1: what was not
 * answered 2xx after the "." is not delivered, as far as we know). quit:
 * the wire is at a command boundary and the server still listens. */
static void fail(struct smtp_client *c, const struct smtp_client_reply *rep,
	bool permanent, bool quit)
{
	if (c->state == SC_CLOSED)
		return;
	if (quit && c->state != SC_QUIT)
		cmd(c, "QUIT");
	if (c->t.active) {
		settle_rest(c, rep);
		c->t.active = false;
		c->pend_done = true;
	}
	c->pend_ready = false;
	c->close_reply = *rep;
	c->close_permanent = permanent;
	c->pend_close = true;
	c->state = SC_CLOSED;
}

static void fail_local(struct smtp_client *c, const char *text, bool quit)
{
	struct smtp_client_reply r = local_reply(0, "", text);
	fail(c, &r, false, quit);
}

static void oom(struct smtp_client *c)
{
	c->no_memory = true;
	fail_local(c, "local error: out of memory", false);
}

static const char *state_what(enum sc_state s)
{
	switch (s) {
	case SC_GREETING: return "greeting";
	case SC_EHLO: return "EHLO";
	case SC_HELO: return "HELO";
	case SC_STARTTLS: return "STARTTLS";
	case SC_TLS: return "TLS handshake";
	case SC_AUTH_PLAIN:
	case SC_AUTH_USER:
	case SC_AUTH_PASS:
	case SC_AUTH_RESULT: return "AUTH";
	case SC_READY: return "idle time";
	case SC_RSET: return "RSET";
	case SC_MAIL: return "MAIL";
	case SC_RCPT: return "RCPT";
	case SC_DATA: return "DATA";
	case SC_BODY: return "message body";
	case SC_DOT:
	case SC_DOT_IGNORE: return "end of data";
	case SC_QUIT: return "QUIT";
	case SC_CLOSED: return "close";
	}
	return "?";
}

static bool in_auth(enum sc_state s)
{
	return s == SC_AUTH_PLAIN || s == SC_AUTH_USER || s == SC_AUTH_PASS
		|| s == SC_AUTH_RESULT;
}

/* A reply the state does not allow (RFC 5321 4.3.2 lists what each
 * command may get): the server and we no longer agree on the session. */
static void unexpected(struct smtp_client *c,
	const struct smtp_client_reply *rep)
{
	char text[128];
	snprintf(text, sizeof text, "protocol error: unexpected reply %u during %s",
		rep->code, state_what(c->state));
	/* RFC 4954 4: a server waiting for a SASL response reads "*" as
	 * the end of the exchange, not QUIT */
	if (rep->code == 334 && in_auth(c->state))
		cmd(c, "*");
	fail_local(c, text, true);
}

/* ---- greeting, EHLO, STARTTLS, AUTH ---- */

static void send_ehlo(struct smtp_client *c)
{
	send_line(c, "EHLO ", c->helo_name, NULL, false);
	memset(&c->ext, 0, sizeof c->ext);
	c->size_offered = false;
	c->rd.ehlo = true;
	c->state = SC_EHLO;
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
static bool auth_encode(struct smtp_client *c)
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

static void auth_plain(struct smtp_client *c)
{
	if (!response_fits(c->b64[0])) {
		fail_local(c, "AUTH not attempted: credentials too long", true);
		return;
	}
	/* RFC 4954 4: the initial response saves a round trip, when the
	 * command still fits in a command line (RFC 5321 4.5.3.1.4) */
	if (strlen("AUTH PLAIN ") + strlen(c->b64[0]) + 2 <= LIMIT_SMTP_CMD_LINE) {
		send_line(c, "AUTH PLAIN ", c->b64[0], "AUTH PLAIN <redacted>",
			true);
		c->state = SC_AUTH_RESULT;
	} else {
		cmd(c, "AUTH PLAIN");
		c->state = SC_AUTH_PLAIN;
	}
}

static void auth_login(struct smtp_client *c)
{
	if (!response_fits(c->b64[1]) || !response_fits(c->b64[2])) {
		fail_local(c, "AUTH not attempted: credentials too long", true);
		return;
	}
	cmd(c, "AUTH LOGIN");
	c->state = SC_AUTH_USER;
}

static void auth_or_ready(struct smtp_client *c)
{
	if (!c->user) {
		to_ready(c);
	} else if (!c->tls && !c->auth_plaintext_ok) {
		/* the password never crosses the network in the clear */
		fail_local(c, "AUTH not attempted: the session is not encrypted",
			true);
	} else if (c->ext.auth_plain) {
		auth_plain(c);
	} else if (c->ext.auth_login) {
		auth_login(c);
	} else {
		fail_local(c, "AUTH required but the server offers neither "
			"PLAIN nor LOGIN", true);
	}
}

static void after_hello(struct smtp_client *c)
{
	if (!c->tls && c->want_tls && c->ext.starttls) {
		cmd(c, "STARTTLS");
		c->state = SC_STARTTLS;
	} else if (!c->tls && c->tls_required) {
		fail_local(c, "TLS required but the server does not offer STARTTLS",
			true);
	} else {
		auth_or_ready(c);
	}
}

static void on_greeting(struct smtp_client *c,
	const struct smtp_client_reply *r)
{
	if (r->code == 220)
		send_ehlo(c);
	else if (failure(r)) /* RFC 5321 3.1: 554 = no service here */
		fail(c, r, cls(r) == 5, true);
	else
		unexpected(c, r);
}

static void on_ehlo(struct smtp_client *c, const struct smtp_client_reply *r)
{
	c->rd.ehlo = false;
	if (cls(r) == 2) {
		c->ext = c->rd.ext;
		c->ext.esmtp = true;
		c->size_offered = c->rd.size_offered;
		after_hello(c);
	} else if (cls(r) == 5) {
		/* RFC 5321 3.2: a server that does not know EHLO gets HELO */
		send_line(c, "HELO ", c->helo_name, NULL, false);
		c->state = SC_HELO;
	} else if (failure(r)) {
		fail(c, r, false, true);
	} else {
		unexpected(c, r);
	}
}

static void on_helo(struct smtp_client *c, const struct smtp_client_reply *r)
{
	if (cls(r) == 2)
		after_hello(c);
	else if (failure(r))
		fail(c, r, cls(r) == 5, true);
	else
		unexpected(c, r);
}

static void on_starttls(struct smtp_client *c,
	const struct smtp_client_reply *r)
{
	if (r->code == 220) {
		struct sc_item *it = q_push(c, SMTPC_OUT_STARTTLS);
		if (!it)
			return;
		c->state = SC_TLS;
		/* RFC 3207 4.2 / CVE-2011-0411: what came with or after the
		 * 220 was sent in the clear by anyone on the path */
		smtpc_reader_discard(&c->rd);
	} else if (failure(r) && c->tls_required) {
		char text[sizeof r->text + 64];
		snprintf(text, sizeof text, "TLS required but STARTTLS refused: %u %s",
			r->code, r->text);
		fail_local(c, text, true);
	} else if (failure(r)) {
		/* RFC 3207 4.1: opportunistic, so go on in the clear */
		auth_or_ready(c);
	} else {
		unexpected(c, r);
	}
}

static void auth_failed(struct smtp_client *c,
	const struct smtp_client_reply *r)
{
	if (failure(r))
		fail(c, r, cls(r) == 5, true);
	else
		unexpected(c, r);
}

static void on_auth(struct smtp_client *c, const struct smtp_client_reply *r)
{
	enum sc_state s = c->state;
	if (s == SC_AUTH_RESULT && r->code == 235) {
		to_ready(c);
		return;
	}
	if (s == SC_AUTH_RESULT || r->code != 334) {
		auth_failed(c, r);
		return;
	}
	/* RFC 4954 4: each 334 asks for the next response; LOGIN asks for
	 * the user, then the password */
	const char *b64 = s == SC_AUTH_PASS ? c->b64[2]
		: s == SC_AUTH_USER ? c->b64[1] : c->b64[0];
	send_line(c, b64, NULL, "<redacted>", true);
	c->state = s == SC_AUTH_USER ? SC_AUTH_PASS : SC_AUTH_RESULT;
}

/* ---- transactions ---- */

static size_t next_sent(const struct sc_txn *t, size_t from)
{
	while (from < t->nrcpts && t->rs[from] == RS_LOCAL)
		from++;
	return from;
}

static void send_rcpt(struct smtp_client *c, size_t i)
{
	struct buf line;
	buf_init(&line, 0);
	if (buf_append_str(&line, "RCPT TO:<")
		&& buf_append_str(&line, c->t.rcpts[i])
		&& buf_append_byte(&line, '>'))
		cmd(c, buf_cstr(&line));
	else
		c->no_memory = true;
	buf_release(&line);
}

static void send_mail(struct smtp_client *c)
{
	struct sc_txn *t = &c->t;
	cmd(c, buf_cstr(&t->mail_line));
	t->pipelined = c->ext.pipelining;
	t->cursor = next_sent(t, 0);
	c->state = SC_MAIL;
	if (!t->pipelined)
		return;
	/* RFC 2920 3.1: MAIL, the RCPTs and DATA in one group; the replies
	 * come back in the same order */
	for (size_t i = t->cursor; i < t->nrcpts; i = next_sent(t, i + 1))
		send_rcpt(c, i);
	cmd(c, "DATA");
}

static void on_rset(struct smtp_client *c, const struct smtp_client_reply *r)
{
	if (cls(r) == 2) {
		c->need_rset = false;
		send_mail(c);
	} else if (failure(r)) {
		/* RFC 5321 4.1.1.5: RSET must succeed; if it does not, the
		 * server's state is unknown and this message goes elsewhere */
		char text[sizeof r->text + 64];
		snprintf(text, sizeof text, "RSET refused: %u %s", r->code, r->text);
		fail_local(c, text, true);
	} else {
		unexpected(c, r);
	}
}

static void on_mail(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct sc_txn *t = &c->t;
	if (cls(r) == 2) {
		if (!t->pipelined)
			send_rcpt(c, t->cursor);
		c->state = SC_RCPT;
	} else if (failure(r)) {
		settle_rest(c, r);
		t->mail_failed = true;
		c->need_rset = true;
		if (t->pipelined)
			c->state = SC_RCPT; /* the group's replies still come */
		else
			txn_end(c);
	} else {
		unexpected(c, r);
	}
}

static void on_rcpt(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct sc_txn *t = &c->t;
	size_t i = t->cursor;
	if (cls(r) == 2 && !t->mail_failed) {
		t->rs[i] = RS_ACCEPTED;
		t->naccepted++;
	} else if (failure(r) && !t->mail_failed) {
		t->res[i].reply = *r;
		t->res[i].accepted = false;
		t->rs[i] = RS_DONE;
	} else if (!failure(r) && cls(r) != 2) {
		unexpected(c, r);
		return;
	}
	t->cursor = next_sent(t, i + 1);
	if (t->cursor < t->nrcpts) {
		if (!t->pipelined)
			send_rcpt(c, t->cursor);
		return;
	}
	if (t->pipelined) {
		c->state = SC_DATA;
	} else if (t->naccepted == 0) {
		/* RFC 5321 3.3: no DATA without a recipient */
		c->need_rset = true;
		txn_end(c);
	} else {
		cmd(c, "DATA");
		c->state = SC_DATA;
	}
}

static void on_data(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct sc_txn *t = &c->t;
	if (r->code == 354 && (t->mail_failed || t->naccepted == 0)) {
		/* RFC 2920 3.1: a 354 after a failed group is ended at once,
		 * with no content, and its reply decides nothing */
		cmd(c, ".");
		c->need_rset = true;
		c->state = SC_DOT_IGNORE;
	} else if (r->code == 354) {
		smtpc_body_init(&t->enc, t->body, t->body_len);
		c->state = SC_BODY;
	} else if (failure(r)) {
		settle_rest(c, r);
		c->need_rset = true;
		txn_end(c);
	} else {
		unexpected(c, r);
	}
}

static void on_dot(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct sc_txn *t = &c->t;
	if (cls(r) != 2 && !failure(r)) {
		unexpected(c, r);
		return;
	}
	for (size_t i = 0; i < t->nrcpts; i++) {
		if (t->rs[i] == RS_ACCEPTED) {
			t->res[i].reply = *r;
			t->res[i].accepted = cls(r) == 2;
			t->rs[i] = RS_DONE;
		}
	}
	txn_end(c);
}

static void close_normal(struct smtp_client *c)
{
	struct smtp_client_reply r = local_reply(0, "", "");
	fail(c, &r, false, false);
}

/* ---- replies ---- */

static void log_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	char line[sizeof r->text + 8];
	int n = snprintf(line, sizeof line, "%u%s%s", r->code,
		r->text[0] ? " " : "", r->text);
	if (n > 0)
		log_text(c, "S: ", line, strlen(line));
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
	if (r->code == 421 && c->state != SC_QUIT) {
		fail(c, r, false, false);
		return;
	}
	switch (c->state) {
	case SC_GREETING: on_greeting(c, r); break;
	case SC_EHLO: on_ehlo(c, r); break;
	case SC_HELO: on_helo(c, r); break;
	case SC_STARTTLS: on_starttls(c, r); break;
	case SC_AUTH_PLAIN:
	case SC_AUTH_USER:
	case SC_AUTH_PASS:
	case SC_AUTH_RESULT: on_auth(c, r); break;
	case SC_READY: unexpected(c, r); break;
	case SC_RSET: on_rset(c, r); break;
	case SC_MAIL: on_mail(c, r); break;
	case SC_RCPT: on_rcpt(c, r); break;
	case SC_DATA: on_data(c, r); break;
	case SC_DOT: on_dot(c, r); break;
	case SC_DOT_IGNORE: txn_end(c); break;
	case SC_QUIT: close_normal(c); break;
	case SC_TLS:
	case SC_BODY:
	case SC_CLOSED: BUG("smtp_client: reply read in a state that reads none");
	}
}

/* ---- public interface ---- */

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
		ok = c->user && c->pass && auth_encode(c);
	}
	c->tls = cfg->tls_active;
	c->want_tls = cfg->starttls || cfg->tls_required;
	c->tls_required = cfg->tls_required;
	c->auth_plaintext_ok = cfg->auth_plaintext_ok;
	c->open_send = NO_ITEM;
	c->state = SC_GREETING;
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
	release_cur(c);
	for (size_t i = c->qhead; i < c->qlen; i++)
		item_release(&c->q[i]);
	free(c->q);
	txn_free(&c->t);
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
	release_cur(c);
	/* RFC 3207 4.2: bytes that arrive before the handshake is over are
	 * plaintext from anyone on the path; the adapter should send none,
	 * and any it sends are dropped */
	if (c->state == SC_TLS)
		return len;
	size_t i = 0;
	while (i < len && c->state != SC_CLOSED && !output_waiting(c)) {
		size_t took = 0;
		enum smtpc_read res = smtpc_reader_feed(&c->rd, data + i, len - i,
			&took);
		i += took;
		switch (res) {
		case SMTPC_READ_MORE:
			break;
		case SMTPC_READ_REPLY:
			on_reply(c, &c->rd.reply);
			break;
		case SMTPC_READ_ERROR: {
			char text[128];
			snprintf(text, sizeof text, "protocol error: %s", c->rd.error);
			fail_local(c, text, true);
			break;
		}
		case SMTPC_READ_NOMEM:
			c->no_memory = true;
			break;
		}
		if (c->no_memory)
			oom(c);
		else if (c->state == SC_TLS)
			i = len; /* the rest came with the 220: dropped */
	}
	return i;
}

/* EOF or timeout: nothing more will come from this server. */
static void lost(struct smtp_client *c, const char *what)
{
	if (c->state == SC_QUIT) {
		close_normal(c);
		return;
	}
	char text[128];
	snprintf(text, sizeof text, "%s during %s", what, state_what(c->state));
	fail_local(c, text, false);
}

void smtp_client_input(struct smtp_client *c, const struct smtp_client_in *in)
{
	release_cur(c);
	if (c->state == SC_CLOSED)
		return;
	switch (in->kind) {
	case SMTPC_IN_TLS_OK:
		if (c->state != SC_TLS)
			BUG("smtp_client: TLS_OK without STARTTLS");
		log_text(c, "", "TLS started", strlen("TLS started"));
		/* RFC 3207 4.2: forget what the server said in the clear */
		c->tls = true;
		send_ehlo(c);
		break;
	case SMTPC_IN_TLS_FAILED:
		if (c->state != SC_TLS)
			BUG("smtp_client: TLS_FAILED without STARTTLS");
		fail_local(c, "TLS handshake failed", false);
		break;
	case SMTPC_IN_EOF:
		lost(c, "connection closed by server");
		break;
	case SMTPC_IN_TIMEOUT:
		lost(c, "timeout");
		break;
	case SMTPC_IN_QUIT:
		if (c->state == SC_READY && !c->pend_done) {
			c->pend_ready = false;
			cmd(c, "QUIT");
			c->state = SC_QUIT;
		} else {
			fail_local(c, "session aborted", false);
		}
		break;
	}
	if (c->no_memory)
		oom(c);
}

static void body_block(struct smtp_client *c, struct smtp_client_out *out)
{
	struct sc_txn *t = &c->t;
	buf_clear(&c->chunk);
	if (!smtpc_body_fill(&t->enc, &c->chunk)) {
		oom(c);
		return;
	}
	out->kind = SMTPC_OUT_SEND;
	out->data = c->chunk.data;
	out->len = c->chunk.len;
	if (t->enc.ended) {
		char line[64];
		snprintf(line, sizeof line, "<body %llu octets> .",
			(unsigned long long)t->size);
		log_text(c, "C: ", line, strlen(line));
		c->state = SC_DOT;
		if (c->no_memory)
			oom(c);
	}
}

bool smtp_client_next(struct smtp_client *c, struct smtp_client_out *out)
{
	release_cur(c);
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
	if (c->state == SC_BODY) {
		body_block(c, out);
		if (c->state != SC_CLOSED)
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

static bool path_ok(const char *p, size_t max)
{
	size_t n = strlen(p);
	if (n > max)
		return false;
	/* RFC 5321 4.1.2: no controls in a path; "<" and ">" would end it
	 * early and change what the server reads */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return false;
	}
	return true;
}

static bool txn_alloc(struct sc_txn *t, const char *const *rcpts, size_t n)
{
	size_t m = n ? n : 1;
	t->rcpts = calloc(m, sizeof *t->rcpts);
	t->rs = calloc(m, sizeof *t->rs);
	t->res = calloc(m, sizeof *t->res);
	if (!t->rcpts || !t->rs || !t->res)
		return false;
	t->nrcpts = n;
	for (size_t i = 0; i < n; i++)
		if (!(t->rcpts[i] = dup_str(rcpts[i] ? rcpts[i] : "")))
			return false;
	return true;
}

/* MAIL FROM:<from> [SIZE=n] [BODY=8BITMIME] into t->mail_line; false
 * when it would not fit a command line (RFC 5321 4.5.3.1.4) or from is
 * not a path we can send. */
static bool mail_line(struct smtp_client *c, const char *from, bool body_8bit)
{
	struct buf *b = &c->t.mail_line;
	if (!path_ok(from, LIMIT_SMTP_CMD_LINE))
		return false;
	bool ok = buf_append_str(b, "MAIL FROM:<") && buf_append_str(b, from)
		&& buf_append_byte(b, '>');
	/* RFC 1870 6: the size declared up front lets the server refuse
	 * before the body is sent */
	if (ok && c->size_offered)
		ok = buf_printf(b, " SIZE=%llu", (unsigned long long)c->t.size);
	/* RFC 6152 3: only to a server that offers it. Without it the body
	 * goes as is: most servers take 8-bit data anyway, and down-
	 * conversion is not this core's business. */
	if (ok && body_8bit && c->ext.eightbitmime)
		ok = buf_append_str(b, " BODY=8BITMIME");
	if (!ok)
		c->no_memory = true;
	return ok && b->len + 2 <= LIMIT_SMTP_CMD_LINE;
}

/* Refuses, without a word to the server, what cannot be sent: a sender
 * or recipient that would not fit a command line or holds bytes that
 * could end it, a message over the server's SIZE. */
static void local_checks(struct smtp_client *c, const char *from,
	bool body_8bit)
{
	struct sc_txn *t = &c->t;
	if (!mail_line(c, from, body_8bit)) {
		struct smtp_client_reply r = local_reply(553, "5.1.7",
			"5.1.7 Sender address not sendable (too long or bad characters)");
		settle_rest(c, &r);
		return;
	}
	struct smtp_client_reply bad = local_reply(553, "5.1.3",
		"5.1.3 Recipient address not sendable (too long or bad characters)");
	for (size_t i = 0; i < t->nrcpts; i++) {
		if (!path_ok(t->rcpts[i], LIMIT_SMTP_CMD_LINE - RCPT_LINE_FIXED)
			|| !t->rcpts[i][0]) {
			t->res[i].reply = bad;
			t->rs[i] = RS_LOCAL;
		}
	}
	/* RFC 1870 6.1: a message over the limit would be refused anyway;
	 * 552 5.3.4 is what the server would say (RFC 3463 3.4) */
	if (c->ext.size && t->size > c->ext.size) {
		struct smtp_client_reply r = local_reply(552, "5.3.4",
			"5.3.4 Message size exceeds fixed maximum message size");
		settle_rest(c, &r);
	}
}

static bool any_pending(const struct sc_txn *t)
{
	for (size_t i = 0; i < t->nrcpts; i++)
		if (t->rs[i] == RS_PENDING)
			return true;
	return false;
}

bool smtp_client_start_message(struct smtp_client *c, const char *from,
	const char *const *rcpts, size_t nrcpts, const uint8_t *body,
	size_t body_len, bool body_8bit)
{
	release_cur(c);
	if (c->state != SC_READY || c->pend_done || (nrcpts && !rcpts))
		return false;
	struct sc_txn *t = &c->t;
	txn_free(t);
	if (!txn_alloc(t, rcpts, nrcpts)) {
		txn_free(t);
		return false;
	}
	for (size_t i = 0; i < nrcpts; i++)
		t->rs[i] = RS_PENDING;
	t->active = true;
	t->body = body;
	t->body_len = body ? body_len : 0;
	t->size = smtpc_body_size(t->body, t->body_len);
	c->pend_ready = false;
	local_checks(c, from ? from : "", body_8bit);
	if (c->no_memory) {
		oom(c);
	} else if (!any_pending(t)) {
		txn_end(c); /* every recipient has its result already */
	} else if (c->need_rset) {
		/* RFC 5321 4.1.1.5: whatever the last transaction left behind
		 * on the server is cleared before the next one */
		cmd(c, "RSET");
		c->state = SC_RSET;
	} else {
		send_mail(c);
	}
	if (c->no_memory)
		oom(c);
	return true;
}

unsigned smtp_client_timeout(const struct smtp_client *c)
{
	/* RFC 5321 4.5.3.2 */
	switch (c->state) {
	case SC_DATA: return 120;      /* 4.5.3.2.4: DATA initiation */
	case SC_BODY: return 180;      /* 4.5.3.2.5: a data block */
	case SC_DOT:
	case SC_DOT_IGNORE: return 600; /* 4.5.3.2.6: DATA termination */
	case SC_GREETING:              /* 4.5.3.2.1 */
	case SC_MAIL:                  /* 4.5.3.2.2 */
	case SC_RCPT:                  /* 4.5.3.2.3 */
	case SC_EHLO:
	case SC_HELO:
	case SC_STARTTLS:
	case SC_AUTH_PLAIN:
	case SC_AUTH_USER:
	case SC_AUTH_PASS:
	case SC_AUTH_RESULT:
	case SC_RSET:
	case SC_QUIT:
	/* not a reply, but a handshake that hangs must end too */
	case SC_TLS: return 300;
	case SC_READY:
	case SC_CLOSED: return 0;
	}
	return 0;
}

const struct smtp_client_ext *smtp_client_extensions(const struct smtp_client *c)
{
	return &c->ext;
}

bool smtp_client_tls_active(const struct smtp_client *c)
{
	return c->tls;
}
