/* smtp_server: the SMTP session machine around the command handlers.
 *
 * Owns the byte stream (command line assembly, the DATA filter), the
 * output queue, the pending request and closing. Never reads a clock or
 * touches a socket or file: the adapter feeds bytes, drains items with
 * next() and answers requests with input(). Handlers for each verb live
 * in smtp_verbs.c; the reply formatter in smtp_reply.c.
 *
 * Memory per session is bounded by configuration whatever the client
 * sends: a command line by max_cmd_line, message content by max_msg_size,
 * the recipient list by max_rcpts, a SASL response by
 * LIMIT_SMTP_AUTH_LINE. Output grows with the input of one feed() call
 * (every command gets a reply of bounded size), so the adapter feeds what
 * it read from the socket, not more.
 *
 * STARTTLS and AUTH requests stop feed() like the others; the handlers
 * are in smtp_auth.c. Lines that may hold AUTH secrets are wiped once
 * processed. */
#include "proto/smtp_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/escape.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "proto/limits.h"
#include "proto/smtp_reply.h"
#include "proto/smtp_session.h"

#define GREETING_TAIL " ESMTP facteur"

/* Sent when memory ran out and nothing else can be queued. */
static const char oom_reply[] = "421 4.3.0 Local error, closing\r\n";

static char *dup_str(const char *p)
{
	size_t n = strlen(p);
	char *d = malloc(n + 1);
	if (d)
		memcpy(d, p, n + 1);
	return d;
}

void smtp_session_u64(char out[24], uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

const char *smtp_session_esc(char *out, size_t outsz, const char *in,
	size_t len)
{
	return escape_log(out, outsz, (const uint8_t *)in, len);
}

void smtp_session_oom(struct smtp_server *s)
{
	s->no_memory = true;
	s->closed = true;
}

/* ---- output queue ---- */

static struct smtp_qitem *q_push(struct smtp_server *s,
	enum smtp_out_kind kind)
{
	if (s->no_memory)
		return NULL;
	if (s->qlen == s->qcap) {
		size_t cap = s->qcap ? s->qcap * 2 : 8;
		struct smtp_qitem *q = realloc(s->q, cap * sizeof *q);
		if (!q) {
			smtp_session_oom(s);
			return NULL;
		}
		s->q = q;
		s->qcap = cap;
	}
	struct smtp_qitem *it = &s->q[s->qlen++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	buf_init(&it->data, 0);
	return it;
}

static void q_item_free(struct smtp_qitem *it, bool owns_body)
{
	buf_release(&it->data);
	if (owns_body && it->kind == SMTP_OUT_COMMIT) {
		free(it->commit.body);
		it->commit.body = NULL;
	}
}

static void queue_reply(struct smtp_server *s, unsigned code,
	const char *esc, const char *const *lines, size_t nlines)
{
	if (s->closed)
		return;
	/* Replies queued back to back go out as one write: RFC 2920 3.2 (2)
	 * wants the answers to a pipelined group sent as a unit. */
	struct smtp_qitem *it = NULL;
	if (s->qlen > s->qhead && s->q[s->qlen - 1].kind == SMTP_OUT_REPLY)
		it = &s->q[s->qlen - 1];
	else
		it = q_push(s, SMTP_OUT_REPLY);
	if (!it)
		return;
	size_t mark = it->data.len;
	if (!smtp_reply_format(&it->data, code, esc, lines, nlines)) {
		it->data.len = mark;
		smtp_session_oom(s);
	}
}

static void queue_reply1(struct smtp_server *s, unsigned code,
	const char *esc, const char *text)
{
	queue_reply(s, code, esc, &text, 1);
}

void smtp_session_log(struct smtp_server *s, const char *fmt, ...)
{
	if (s->closed)
		return;
	struct smtp_qitem *it = q_push(s, SMTP_OUT_LOG);
	if (!it)
		return;
	va_list ap;
	va_start(ap, fmt);
	char tmp[1024];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_append_str(&it->data, tmp))
		smtp_session_oom(s);
}

void smtp_session_answer(struct smtp_server *s, const struct smtp_answer *a)
{
	if (a->code == 0 || s->closed)
		return;
	queue_reply(s, a->code, a->esc, a->lines, a->nlines);
	/* Client mistakes are counted; at the limit the session ends (one
	 * client must not keep a process busy with garbage forever). */
	if (a->code >= 500 && !a->not_an_error) {
		s->errors++;
		if (s->errors >= s->max_errors)
			smtp_session_close(s, SMTP_CLOSE_ERRORS);
	}
	if (a->close_after != SMTP_CLOSE_NONE)
		smtp_session_close(s, a->close_after);
}

void smtp_session_request_rcpt(struct smtp_server *s)
{
	struct smtp_qitem *it = q_push(s, SMTP_OUT_CHECK_RCPT);
	if (!it)
		return;
	if (!buf_append(&it->data, s->rcpt_asked.addr, s->rcpt_asked.len)) {
		smtp_session_oom(s);
		return;
	}
	buf_cstr(&it->data);
	s->pending = SMTP_PEND_RCPT;
}

void smtp_session_request(struct smtp_server *s, enum smtp_out_kind kind,
	enum smtp_pending pending)
{
	if (q_push(s, kind))
		s->pending = pending;
}

static const char *close_reason_name(enum smtp_close_reason why)
{
	switch (why) {
	case SMTP_CLOSE_NONE: return "none";
	case SMTP_CLOSE_QUIT: return "quit";
	case SMTP_CLOSE_ERRORS: return "errors";
	case SMTP_CLOSE_TIMEOUT: return "timeout";
	case SMTP_CLOSE_SHUTDOWN: return "shutdown";
	case SMTP_CLOSE_NO_MEMORY: return "no-memory";
	case SMTP_CLOSE_AUTH_FAILURES: return "auth-failures";
	case SMTP_CLOSE_TLS_FAILED: return "tls-failed";
	}
	return "?";
}

void smtp_session_close(struct smtp_server *s, enum smtp_close_reason why)
{
	if (s->closed)
		return;
	const char *esc = NULL, *what = NULL;
	switch (why) {
	case SMTP_CLOSE_NONE:
	case SMTP_CLOSE_QUIT:
	case SMTP_CLOSE_NO_MEMORY:
	case SMTP_CLOSE_TLS_FAILED:
		break;
	case SMTP_CLOSE_AUTH_FAILURES:
		/* slows password guessing down to a reconnect per try */
		esc = "4.7.0";
		what = " Too many authentication failures, closing";
		break;
	case SMTP_CLOSE_ERRORS:
		esc = "4.7.0";
		what = " Too many errors, closing";
		break;
	case SMTP_CLOSE_TIMEOUT:
		/* RFC 5321 4.5.3.2.7: the server may close after its timeout */
		esc = "4.4.2";
		what = " Timeout, closing";
		break;
	case SMTP_CLOSE_SHUTDOWN:
		/* RFC 5321 3.8: 421 when the service must shut down */
		esc = "4.3.2";
		what = " Service shutting down, closing";
		break;
	}
	/* During the TLS handshake the adapter owns the wire: a plaintext
	 * reply would only corrupt it. */
	if (s->pending == SMTP_PEND_TLS)
		what = NULL;
	if (what) {
		struct buf t;
		buf_init(&t, 0);
		if (buf_append_str(&t, s->hostname) && buf_append_str(&t, what))
			queue_reply1(s, 421, esc, buf_cstr(&t));
		else
			smtp_session_oom(s);
		buf_release(&t);
	}
	smtp_session_log(s, "close reason=%s", close_reason_name(why));
	q_push(s, SMTP_OUT_CLOSE);
	s->closed = true;
	/* a password being verified stays until the session is freed: the
	 * adapter may still be reading it */
	if (s->pending != SMTP_PEND_AUTH)
		smtp_auth_end(s);
	s->pending = SMTP_PEND_NONE;
}

void smtp_session_reset_txn(struct smtp_server *s)
{
	free(s->mail_from);
	s->mail_from = NULL;
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	s->nrcpts = 0;
	s->rcpt_tried = false;
	s->body_8bit = false;
	smtp_data_clear(&s->data);
	if (s->state != SMTP_ST_INIT)
		s->state = SMTP_ST_READY;
}

/* ---- lifecycle ---- */

struct smtp_server *smtp_server_new(const struct smtp_server_cfg *cfg)
{
	struct smtp_server *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->hostname = dup_str(cfg->hostname && *cfg->hostname
		? cfg->hostname : "localhost");
	s->max_cmd_line = cfg->max_cmd_line ? cfg->max_cmd_line
		: LIMIT_SMTP_CMD_LINE;
	s->max_text_line = cfg->max_text_line ? cfg->max_text_line
		: LIMIT_SMTP_TEXT_LINE;
	s->max_msg_size = cfg->max_msg_size ? cfg->max_msg_size
		: LIMIT_SMTP_MSG_SIZE;
	s->max_rcpts = cfg->max_rcpts ? cfg->max_rcpts : LIMIT_SMTP_RCPTS;
	s->max_errors = cfg->max_errors ? cfg->max_errors : LIMIT_SMTP_ERRORS;
	s->vrfy_enabled = cfg->vrfy_enabled;
	s->tls = cfg->tls_active;
	s->starttls_offered = cfg->starttls_offered && !cfg->tls_active;
	s->auth_offered = cfg->auth_offered;
	s->auth_plaintext_ok = cfg->auth_plaintext_ok;
	s->submission = cfg->submission;
	s->transcript = cfg->transcript;
	s->max_auth_failures = cfg->max_auth_failures ? cfg->max_auth_failures
		: SMTP_AUTH_FAILURES_DEFAULT;
	sasl_init(&s->sasl);
	s->state = SMTP_ST_INIT;
	buf_init(&s->line, s->max_cmd_line);
	buf_init(&s->auth_line, LIMIT_SMTP_AUTH_LINE);
	smtp_data_init(&s->data, s->max_msg_size, s->max_text_line);
	if (!s->hostname) {
		free(s);
		return NULL;
	}
	/* the whole line buffer now: growing it later would free() a copy
	 * of an "AUTH PLAIN <secret>" line unwiped */
	if (!buf_reserve(&s->line, s->max_cmd_line))
		s->no_memory = true;
	else
		memset(s->line.data, 0, s->line.cap); /* never scanned uninitialised */
	/* RFC 5321 4.2: the greeting carries no enhanced code (RFC 2034 3) */
	struct buf t;
	buf_init(&t, 0);
	if (buf_append_str(&t, s->hostname) && buf_append_str(&t, GREETING_TAIL))
		queue_reply1(s, 220, NULL, buf_cstr(&t));
	buf_release(&t);
	if (s->no_memory) {
		smtp_server_free(&s);
		return NULL;
	}
	return s;
}

static void release_cur(struct smtp_server *s)
{
	if (s->has_cur) {
		q_item_free(&s->cur, false);
		s->has_cur = false;
	}
}

void smtp_server_free(struct smtp_server **sp)
{
	struct smtp_server *s = *sp;
	if (!s)
		return;
	release_cur(s);
	for (size_t i = s->qhead; i < s->qlen; i++)
		q_item_free(&s->q[i], true);
	free(s->q);
	smtp_session_reset_txn(s);
	free(s->rcpts);
	free(s->helo);
	free(s->hostname);
	free(s->auth_user);
	sasl_clear(&s->sasl);
	buf_release_secure(&s->line);
	buf_release_secure(&s->auth_line);
	free(s);
	*sp = NULL;
}

bool smtp_server_closed(const struct smtp_server *s)
{
	return s->closed;
}

size_t smtp_server_data_held(const struct smtp_server *s)
{
	return s->state == SMTP_ST_DATA ? s->data.cap : 0;
}

bool smtp_server_in_data(const struct smtp_server *s)
{
	return s->state == SMTP_ST_DATA && s->pending == SMTP_PEND_NONE
		&& !s->closed;
}

/* ---- input ---- */

/* Takes bytes of one line: a command, or a SASL response while an AUTH
 * exchange waits for one; processes it once its LF arrives. Returns the
 * bytes consumed. Lines end at LF; a CR before it is dropped, so "telnet"
 * and "nc" users with bare LF are served too (this is safe for commands:
 * only DATA content is where LF vs CRLF matters). */
static size_t feed_line(struct smtp_server *s, const uint8_t *in, size_t len)
{
	bool auth = s->auth_exchange;
	struct buf *b = auth ? &s->auth_line : &s->line;
	size_t max = auth ? LIMIT_SMTP_AUTH_LINE : s->max_cmd_line;
	const uint8_t *lf = memchr(in, '\n', len);
	size_t take = lf ? (size_t)(lf - in) + 1 : len;
	if (s->discarding) {
		s->discarding = lf == NULL;
		return take;
	}
	/* RFC 5321 4.5.3.1.4: 512 octets including CRLF (RFC 4954 4: 12288
	 * for a SASL response). Without an LF yet, reaching the limit
	 * already means the line will be too long. The answer goes out at
	 * once and the rest of the line is skipped, so a newline-less flood
	 * costs one reply and max bytes. */
	if (b->len + take > max || (!lf && b->len + take >= max)) {
		secure_wipe(b->data, b->len);
		buf_clear(b);
		s->discarding = lf == NULL;
		if (auth) {
			smtp_auth_line_too_long(s);
		} else {
			struct smtp_answer a = {.code = 500, .esc = "5.5.2",
				.lines = {"Line too long"}, .nlines = 1};
			smtp_session_answer(s, &a);
		}
		return take;
	}
	if (!buf_append(b, in, take)) {
		smtp_session_oom(s);
		return take;
	}
	if (!lf)
		return take;
	size_t n = b->len - 1;
	if (n > 0 && b->data[n - 1] == '\r')
		n--;
	if (auth)
		smtp_auth_response(s, b->data, n);
	else
		smtp_verbs_dispatch(s, b->data, n);
	/* the handler may have released auth_line (then len is 0) */
	secure_wipe(b->data, b->len);
	buf_clear(b);
	return take;
}

/* <CRLF>.<CRLF> arrived: reject, or hand the message to the adapter. */
static void finish_data(struct smtp_server *s)
{
	struct smtp_answer a = {.nlines = 1};
	const char *result = NULL;
	enum smtp_data_result r = smtp_data_result(&s->data);
	switch (r) {
	case SMTP_DATA_OK: {
		size_t blen;
		uint8_t *body = smtp_data_take(&s->data, &blen);
		struct smtp_qitem *it = body ? q_push(s, SMTP_OUT_COMMIT) : NULL;
		if (!it) {
			free(body);
			smtp_session_oom(s);
			return;
		}
		it->commit.helo = s->helo ? s->helo : "";
		it->commit.mail_from = s->mail_from ? s->mail_from : "";
		it->commit.rcpts = (const char *const *)s->rcpts;
		it->commit.nrcpts = s->nrcpts;
		it->commit.body = body;
		it->commit.body_len = blen;
		it->commit.body_8bit = s->body_8bit;
		it->commit.esmtp = s->ehlo;
		it->commit.tls = s->tls;
		it->commit.authenticated = s->authenticated;
		it->commit.auth_user = s->auth_user;
		s->pending = SMTP_PEND_COMMIT;
		return;
	}
	case SMTP_DATA_BARE_NEWLINE:
		/* SMTP smuggling (CVE-2023-51764): refuse rather than guess
		 * which line end the next hop would honour. */
		a.code = 550;
		a.esc = "5.5.2";
		a.lines[0] = "bare CR or LF in message data not allowed";
		result = "bare-newline";
		break;
	case SMTP_DATA_TOO_BIG:
		/* RFC 1870 6.2 */
		a.code = 552;
		a.esc = "5.3.4";
		a.lines[0] = "Message size exceeds fixed maximum message size";
		result = "too-big";
		break;
	case SMTP_DATA_LINE_TOO_LONG:
		/* RFC 5321 4.5.3.1.9 / 4.5.3.1.6 */
		a.code = 500;
		a.esc = "5.5.2";
		a.lines[0] = "Line too long";
		result = "line-too-long";
		break;
	case SMTP_DATA_NO_MEMORY:
		a.code = 451;
		a.esc = "4.3.0";
		a.lines[0] = "Local error in processing, try again later";
		result = "no-memory";
		break;
	case SMTP_DATA_SHED:
		/* RFC 3463 4.3.1 "mail system full": temporary, the
		 * client keeps the message and retries. */
		a.code = 452;
		a.esc = "4.3.1";
		a.lines[0] = "Insufficient system storage, try again later";
		result = "shed";
		break;
	}
	char size[24];
	smtp_session_u64(size, s->data.size);
	smtp_session_log(s, "data size=%s result=%s", size, result);
	smtp_session_reset_txn(s);
	smtp_session_answer(s, &a);
}

size_t smtp_server_feed(struct smtp_server *s, const uint8_t *in, size_t len)
{
	release_cur(s);
	size_t i = 0;
	while (i < len && !s->closed && s->pending == SMTP_PEND_NONE) {
		if (s->state == SMTP_ST_DATA) {
			i += smtp_data_feed(&s->data, in + i, len - i);
			if (smtp_data_done(&s->data))
				finish_data(s);
		} else {
			i += feed_line(s, in + i, len - i);
		}
	}
	return i;
}

static void commit_result(struct smtp_server *s, int result,
	const char *id)
{
	struct smtp_answer a = {.nlines = 1};
	const char *what = NULL;
	struct buf t;
	buf_init(&t, 0);
	switch ((enum smtp_commit_result)result) {
	case SMTP_COMMIT_OK:
		a.code = 250;
		a.esc = "2.0.0";
		a.lines[0] = "Ok";
		if (id && *id) {
			/* the formatter keeps the id printable and in bounds */
			if (buf_append_str(&t, "Ok: queued as ")
				&& buf_append_str(&t, id))
				a.lines[0] = buf_cstr(&t);
		}
		what = "queued";
		break;
	case SMTP_COMMIT_TEMPFAIL:
		a.code = 451;
		a.esc = "4.3.0";
		a.lines[0] = "Temporary failure storing message, try again later";
		what = "tempfail";
		break;
	case SMTP_COMMIT_NO_SPACE:
		/* RFC 3463 4.3.1: mail system full */
		a.code = 452;
		a.esc = "4.3.1";
		a.lines[0] = "Insufficient system storage, try again later";
		what = "no-space";
		break;
	case SMTP_COMMIT_LOOP:
		/* RFC 5321 6.3: a loop is a permanent failure of this
		 * message; 5.4.6 is RFC 3463's "routing loop detected" */
		a.code = 554;
		a.esc = "5.4.6";
		a.lines[0] = "Too many hops (Received: fields), mail loop suspected";
		what = "loop";
		break;
	}
	if (!what)
		BUG("smtp_server: unknown commit result");
	char size[24], eid[96];
	smtp_session_u64(size, s->data.size);
	smtp_session_log(s, "data size=%s nrcpts=%zu result=%s%s%s", size,
		s->nrcpts, what, id && *id ? " id=" : "",
		id && *id ? smtp_session_esc(eid, sizeof eid, id, strlen(id))
			  : "");
	s->pending = SMTP_PEND_NONE;
	smtp_session_reset_txn(s);
	smtp_session_answer(s, &a);
	buf_release(&t);
	if (s->deferred != SMTP_CLOSE_NONE)
		smtp_session_close(s, s->deferred);
}

void smtp_server_input(struct smtp_server *s, const struct smtp_in *in)
{
	release_cur(s);
	/* After CLOSE, late answers (a recipient check that raced a
	 * timeout) have nobody left to answer. */
	if (s->closed)
		return;
	switch (in->kind) {
	case SMTP_IN_RCPT_RESULT:
		if (s->pending != SMTP_PEND_RCPT)
			BUG("smtp_server: RCPT result without a pending check");
		s->pending = SMTP_PEND_NONE;
		smtp_verbs_rcpt_result(s, in->result);
		break;
	case SMTP_IN_COMMIT_RESULT:
		if (s->pending != SMTP_PEND_COMMIT)
			BUG("smtp_server: commit result without a pending commit");
		commit_result(s, in->result, in->id);
		break;
	case SMTP_IN_TLS_STARTED:
		if (s->pending != SMTP_PEND_TLS)
			BUG("smtp_server: TLS started without STARTTLS");
		s->pending = SMTP_PEND_NONE;
		smtp_auth_tls_started(s);
		break;
	case SMTP_IN_TLS_FAILED:
		if (s->pending != SMTP_PEND_TLS)
			BUG("smtp_server: TLS failed without STARTTLS");
		smtp_session_log(s, "starttls result=failed");
		smtp_session_close(s, SMTP_CLOSE_TLS_FAILED);
		break;
	case SMTP_IN_AUTH_RESULT:
		if (s->pending != SMTP_PEND_AUTH)
			BUG("smtp_server: AUTH result without a pending AUTH");
		s->pending = SMTP_PEND_NONE;
		smtp_auth_result(s, in->result, in->user);
		if (s->deferred != SMTP_CLOSE_NONE)
			smtp_session_close(s, s->deferred);
		break;
	case SMTP_IN_SHED_DATA:
		if (s->state == SMTP_ST_DATA && s->pending == SMTP_PEND_NONE)
			smtp_data_shed(&s->data);
		break;
	case SMTP_IN_TIMEOUT:
	case SMTP_IN_SHUTDOWN: {
		enum smtp_close_reason why = in->kind == SMTP_IN_TIMEOUT
			? SMTP_CLOSE_TIMEOUT : SMTP_CLOSE_SHUTDOWN;
		/* A message being stored is answered first: closing now
		 * would leave the client unsure and the message delivered
		 * twice after its retry (RFC 5321 4.1.1.4, 6.1). A password
		 * being verified is answered first too: the adapter may be
		 * reading it on another thread, so it must stay put. */
		if (s->pending == SMTP_PEND_COMMIT || s->pending == SMTP_PEND_AUTH)
			s->deferred = why;
		else
			smtp_session_close(s, why);
		break;
	}
	}
}

bool smtp_server_next(struct smtp_server *s, struct smtp_out *out)
{
	release_cur(s);
	memset(out, 0, sizeof *out);
	if (s->qhead < s->qlen) {
		s->cur = s->q[s->qhead++];
		s->has_cur = true;
		if (s->qhead == s->qlen)
			s->qhead = s->qlen = 0;
		out->kind = s->cur.kind;
		out->data = (const char *)s->cur.data.data;
		out->len = s->cur.data.len;
		out->commit = s->cur.commit;
		switch (s->cur.kind) {
		case SMTP_OUT_CHECK_RCPT:
			out->authenticated = s->authenticated;
			out->auth_user = s->auth_user;
			break;
		case SMTP_OUT_AUTH:
			/* from the SASL state, which keeps them until the
			 * answer: the queue item holds no secret */
			out->auth.mech = sasl_mech_name(s->sasl.mech);
			out->auth.authcid = s->sasl.authcid;
			out->auth.password = s->sasl.passwd;
			out->auth.password_len = s->sasl.passwd_len;
			break;
		case SMTP_OUT_CLOSE:
			s->close_emitted = true;
			break;
		case SMTP_OUT_REPLY:
		case SMTP_OUT_COMMIT:
		case SMTP_OUT_LOG:
		case SMTP_OUT_STARTTLS:
			break;
		}
		return true;
	}
	/* Out of memory: whatever was queued went out above; end with a
	 * static reply and CLOSE, which need no allocation. */
	if (s->no_memory && !s->close_emitted) {
		if (!s->oom_reply_sent) {
			s->oom_reply_sent = true;
			out->kind = SMTP_OUT_REPLY;
			out->data = oom_reply;
			out->len = sizeof oom_reply - 1;
			return true;
		}
		s->close_emitted = true;
		out->kind = SMTP_OUT_CLOSE;
		return true;
	}
	return false;
}
