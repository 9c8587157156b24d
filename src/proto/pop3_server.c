/* pop3_server: the POP3 session state machine (RFC 1939; CAPA, PIPELINING
 * and response codes of RFC 2449; AUTH-RESP-CODE of RFC 3206).
 *
 * Pure: bytes go in through pop3_server_feed(), replies, log events and
 * requests come out of pop3_server_next(), answers come back through
 * pop3_server_input(). It never touches a socket, a clock, the password
 * file or the maildrop, and runs on attacker bytes in the network
 * process. Which command is legal in which state is the table cmds[]
 * in pop3_server_cmd.c; handlers fill a struct pop3_reply, and
 * pop3_server_emit() here is the one formatter that turns it into a
 * status line (plus a multi-line body) and queues the request that
 * follows it.
 */
#include "proto/pop3_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/escape.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "proto/limits.h"
#include "proto/pop3_server_int.h"

/* ---- output queue ------------------------------------------------ */

static void item_clear(struct pop3_item *it)
{
	free(it->data);
	it->data = NULL;
	it->len = 0;
}

static void push(struct pop3_server *s, const struct pop3_item *it)
{
	if (s->oom)
		return;
	if (s->qlen == s->qcap) {
		size_t cap = s->qcap ? s->qcap * 2 : 16;
		struct pop3_item *q = realloc(s->q, cap * sizeof(*q));
		if (!q) {
			s->oom = true;
			s->closed = true;
			return;
		}
		s->q = q;
		s->qcap = cap;
	}
	s->q[s->qlen++] = *it;
	if (it->kind == POP3_OUT_REPLY)
		s->backlog += it->len;
}

/* Queues b's bytes as one item of kind k and leaves b empty. */
static void push_buf(struct pop3_server *s, enum pop3_out_kind k, struct buf *b)
{
	if (s->oom) {
		buf_release(b);
		return;
	}
	(void)buf_cstr(b); /* LOG text is also a C string */
	struct pop3_item it = { .kind = k };
	it.data = buf_steal(b, &it.len);
	if (!it.data) {
		s->oom = true;
		s->closed = true;
		return;
	}
	push(s, &it);
	if (s->oom)
		free(it.data);
}

static void push_kind(struct pop3_server *s, enum pop3_out_kind k)
{
	struct pop3_item it = { .kind = k };
	push(s, &it);
}

/* The password or digest is not needed once AUTH is answered or the
 * session ends; the adapter had to copy it before calling in again. */
static void wipe_secret(struct pop3_server *s)
{
	if (s->pass)
		secure_wipe(s->pass, s->max_line);
	secure_wipe(s->digest, sizeof(s->digest));
}

static void push_close(struct pop3_server *s)
{
	if (s->closed)
		return;
	push_kind(s, POP3_OUT_CLOSE);
	s->closed = true;
	wipe_secret(s);
}

void pop3_server_log(struct pop3_server *s, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	struct buf b;
	buf_init(&b, 0);
	if (!buf_append_str(&b, text)) {
		s->oom = s->closed = true;
		return;
	}
	push_buf(s, POP3_OUT_LOG, &b);
}

static const char *esc_user(const struct pop3_server *s, char *out,
			    size_t outsz)
{
	return escape_log(out, outsz, (const uint8_t *)s->user,
			  strlen(s->user));
}

/* ---- replies ----------------------------------------------------- */

static void vset(struct pop3_reply *r, enum pop3_status st, const char *code,
		 const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void vset(struct pop3_reply *r, enum pop3_status st, const char *code,
		 const char *fmt, va_list ap)
{
	r->status = st;
	r->code = code;
	if (vsnprintf(r->text, sizeof(r->text), fmt, ap) < 0)
		r->text[0] = '\0';
}

void pop3_reply_ok(struct pop3_reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(r, POP3_RP_OK, NULL, fmt, ap);
	va_end(ap);
}

void pop3_reply_err(struct pop3_reply *r, const char *code, const char *fmt,
		    ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(r, POP3_RP_ERR, code, fmt, ap);
	va_end(ap);
}

/* The one formatter: "+OK text" / "-ERR [CODE] text", CRLF, at most 512
 * octets (RFC 2449 4); a multi-line body and its "." terminator (RFC 1939
 * 3); then the request or close that the handler asked for. Counts the
 * client's mistakes: max_errors are answered normally, the next one gets
 * "-ERR too many errors" instead and the session closes. */
void pop3_server_emit(struct pop3_server *s, struct pop3_reply *r)
{
	if (r->status == POP3_RP_ERR && !r->not_counted &&
	    ++s->errors > s->max_errors) {
		pop3_reply_err(r, NULL, "too many errors");
		r->multi = false;
		r->after = POP3_AFTER_CLOSE;
		pop3_server_log(s, "close reason=too-many-errors");
	}
	if (r->status != POP3_RP_NONE) {
		struct buf b;
		buf_init(&b, 0);
		bool good = buf_append_str(
			&b, r->status == POP3_RP_OK ? "+OK" : "-ERR");
		if (good && r->code)
			good = buf_printf(&b, " [%s]", r->code);
		if (good && r->text[0])
			good = buf_printf(&b, " %s", r->text);
		if (b.len > POP3_STATUS_LINE_MAX - 2)
			b.len = POP3_STATUS_LINE_MAX - 2;
		if (good)
			good = buf_append(&b, "\r\n", 2);
		if (good && r->multi)
			good = buf_append(&b, s->multi.data, s->multi.len) &&
			       buf_append(&b, ".\r\n", 3);
		if (!good) {
			buf_release(&b);
			s->oom = s->closed = true;
			return;
		}
		push_buf(s, POP3_OUT_REPLY, &b);
	}
	buf_clear(&s->multi);

	struct pop3_item it = { .kind = POP3_OUT_CLOSE };
	switch (r->after) {
	case POP3_AFTER_NOTHING:
		break;
	case POP3_AFTER_AUTH:
		s->pending = POP3_PEND_AUTH;
		push_kind(s, POP3_OUT_AUTH);
		break;
	case POP3_AFTER_SEND:
		s->pending = POP3_PEND_SEND;
		it.kind = POP3_OUT_SEND_MSG;
		it.msg = r->msg;
		it.top_lines = r->top_lines;
		push(s, &it);
		break;
	case POP3_AFTER_UPDATE:
		s->pending = POP3_PEND_UPDATE;
		s->state = POP3_ST_UPDATE;
		push_kind(s, POP3_OUT_UPDATE);
		break;
	case POP3_AFTER_CLOSE:
		push_close(s);
		break;
	}
}

bool pop3_server_multi(struct pop3_server *s, const char *fmt, ...)
{
	/* Lines are ours: "n size", "n uidl" (70), capabilities; RFC 2449 5
	 * allows a capability line 512 octets. */
	char line[POP3_STATUS_LINE_MAX - 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		BUG("pop3 multi-line reply line too long");
	if (!buf_append(&s->multi, line, (size_t)n) ||
	    !buf_append(&s->multi, "\r\n", 2)) {
		s->oom = s->closed = true;
		return false;
	}
	return true;
}

/* ---- answers to requests ------------------------------------------ */

static void shutdown_now(struct pop3_server *s)
{
	struct pop3_reply r = { .not_counted = true,
				.after = POP3_AFTER_CLOSE };
	pop3_reply_err(&r, "SYS/TEMP", "server shutting down");
	pop3_server_log(s, "close reason=shutdown");
	pop3_server_emit(s, &r);
}

static void auth_result(struct pop3_server *s, const struct pop3_in *in)
{
	wipe_secret(s);
	s->pending = POP3_PEND_NONE;

	char u[POP3_ESC_USER];
	esc_user(s, u, sizeof(u));
	const char *method = s->apop ? "apop" : "user";
	struct pop3_reply r = { .status = POP3_RP_NONE };
	if (in->result < POP3_AUTH_OK || in->result > POP3_AUTH_TEMPFAIL)
		BUG("pop3 unknown auth result");
	switch ((enum pop3_auth_result)in->result) {
	case POP3_AUTH_OK:
		if (s->shutdown_wait)
			break;
		if (!pop3_listing_copy(s, in->msgs, in->nmsgs)) {
			pop3_reply_err(&r, "SYS/TEMP", "out of memory");
			r.not_counted = true;
			r.after = POP3_AFTER_CLOSE;
			break;
		}
		s->state = POP3_ST_TRANSACTION;
		size_t n;
		uint64_t octets;
		pop3_listing_stat(s, &n, &octets);
		pop3_reply_ok(&r, "maildrop has %zu messages (%llu octets)", n,
			      (unsigned long long)octets);
		pop3_server_log(s,
				"login user=\"%s\" method=%s result=ok "
				"messages=%zu octets=%llu",
				u, method, n, (unsigned long long)octets);
		break;
	case POP3_AUTH_BAD:
		/* RFC 2449 8, RFC 3206 4: the same answer for an unknown user
		 * and a wrong password, so names cannot be probed. */
		pop3_reply_err(&r, "AUTH", "Invalid credentials");
		pop3_server_log(s, "login user=\"%s\" method=%s result=failed",
				u, method);
		break;
	case POP3_AUTH_IN_USE:
		/* RFC 2449 8.1.2: credentials were good, the lock was not. */
		pop3_reply_err(&r, "IN-USE", "Maildrop already locked");
		r.not_counted = true;
		pop3_server_log(s, "login user=\"%s\" method=%s result=in-use",
				u, method);
		break;
	case POP3_AUTH_TEMPFAIL:
		pop3_reply_err(&r, "SYS/TEMP",
			       "Unable to open maildrop, try again later");
		r.not_counted = true;
		pop3_server_log(s,
				"login user=\"%s\" method=%s result=tempfail",
				u, method);
		break;
	}
	if (s->state != POP3_ST_TRANSACTION) {
		/* RFC 1939 7: after a failed PASS, start again with USER. */
		s->have_user = false;
		s->user[0] = '\0';
	}
	if (s->shutdown_wait) {
		/* Replaces the reply; the adapter releases a lock on CLOSE. */
		shutdown_now(s);
		return;
	}
	pop3_server_emit(s, &r);
}

static void update_result(struct pop3_server *s, const struct pop3_in *in)
{
	s->pending = POP3_PEND_NONE;
	size_t left, ndel = 0;
	uint64_t octets;
	pop3_listing_stat(s, &left, &octets);
	for (size_t i = 0; i < s->nmsgs; i++)
		ndel += s->msgs[i].deleted;
	struct pop3_reply r = { .after = POP3_AFTER_CLOSE,
				.not_counted = true };
	if (in->result == 0) {
		pop3_reply_ok(
			&r,
			"facteur POP3 server signing off (%zu messages left)",
			left);
		pop3_server_log(s, "quit deleted=%zu left=%zu result=ok", ndel,
				left);
	} else {
		/* RFC 1939 6: report that some deletions failed. */
		pop3_reply_err(&r, "SYS/TEMP",
			       "some deleted messages not removed");
		pop3_server_log(s, "quit deleted=%zu left=%zu result=failed",
				ndel, left);
	}
	pop3_server_emit(s, &r);
}

static void timeout(struct pop3_server *s)
{
	/* RFC 1939 3: autologout closes without entering UPDATE. */
	switch (s->pending) {
	case POP3_PEND_UPDATE:
		/* Deletions are under way; their answer closes the session. */
		return;
	case POP3_PEND_SEND:
		/* A message is being sent: a status line now would land in the
		 * middle of it. */
		pop3_server_log(s, "close reason=timeout");
		push_close(s);
		return;
	case POP3_PEND_AUTH:
	case POP3_PEND_NONE:
		break;
	}
	pop3_server_log(s, "close reason=timeout");
	struct pop3_reply r = { .not_counted = true,
				.after = POP3_AFTER_CLOSE };
	pop3_reply_err(&r, NULL, "autologout timer expired");
	pop3_server_emit(s, &r);
}

/* ---- public interface --------------------------------------------- */

static void copy_clean(char *dst, size_t dstsz, const char *src, bool spaces)
{
	size_t o = 0;
	for (; src && *src && o + 1 < dstsz; src++) {
		unsigned char ch = (unsigned char)*src;
		/* RFC 2449 3: printable ASCII; "<" and ">" only as the
		 * timestamp's own brackets. */
		if (ch < 0x21 || ch > 0x7e || ch == '<' || ch == '>') {
			if (!(spaces && ch == ' '))
				continue;
		}
		dst[o++] = (char)ch;
	}
	dst[o] = '\0';
}

struct pop3_server *pop3_server_new(const struct pop3_server_cfg *cfg)
{
	struct pop3_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	copy_clean(s->hostname, sizeof(s->hostname), cfg->hostname, false);
	if (!s->hostname[0])
		copy_clean(s->hostname, sizeof(s->hostname), "localhost",
			   false);
	char unique[POP3_UNIQUE_MAX + 1];
	copy_clean(unique, sizeof(unique), cfg->apop_unique, false);
	/* RFC 1939 7: the timestamp is a msg-id, "<unique@host>". */
	snprintf(s->timestamp, sizeof(s->timestamp), "<%s@%s>", unique,
		 s->hostname);
	copy_clean(s->implementation, sizeof(s->implementation),
		   cfg->implementation, true);
	s->apop_enabled = cfg->apop_enabled;
	s->max_line =
		cfg->max_cmd_line ? cfg->max_cmd_line : LIMIT_POP3_CMD_LINE;
	if (s->max_line < POP3_MIN_CMD_LINE)
		s->max_line = POP3_MIN_CMD_LINE;
	s->max_errors = cfg->max_errors ? cfg->max_errors : LIMIT_POP3_ERRORS;
	s->state = POP3_ST_AUTHORIZATION;
	buf_init(&s->multi, 0);
	s->line = malloc(s->max_line);
	s->pass = calloc(1, s->max_line);
	if (!s->line || !s->pass) {
		pop3_server_free(&s);
		return NULL;
	}

	struct pop3_reply r = { .status = POP3_RP_NONE };
	if (s->apop_enabled)
		pop3_reply_ok(&r, "facteur POP3 server ready %s", s->timestamp);
	else
		pop3_reply_ok(&r, "facteur POP3 server ready");
	pop3_server_emit(s, &r);
	if (s->oom) {
		pop3_server_free(&s);
		return NULL;
	}
	return s;
}

void pop3_server_free(struct pop3_server **sp)
{
	struct pop3_server *s = *sp;
	if (!s)
		return;
	wipe_secret(s);
	if (s->line)
		secure_wipe(s->line, s->max_line);
	free(s->pass);
	free(s->line);
	item_clear(&s->cur);
	for (size_t i = s->qhead; i < s->qlen; i++)
		item_clear(&s->q[i]);
	free(s->q);
	buf_release(&s->multi);
	pop3_listing_free(s);
	free(s);
	*sp = NULL;
}

static void release_cur(struct pop3_server *s)
{
	if (s->have_cur) {
		item_clear(&s->cur);
		s->have_cur = false;
	}
}

static void line_reset(struct pop3_server *s)
{
	/* The line may have held a password (PASS, or an over-long one). */
	secure_wipe(s->line, s->line_len);
	s->line_len = 0;
}

static void line_too_long(struct pop3_server *s)
{
	line_reset(s);
	struct pop3_reply r = { .status = POP3_RP_NONE };
	pop3_reply_err(&r, NULL, "line too long");
	pop3_server_emit(s, &r);
}

static bool can_take_line(const struct pop3_server *s)
{
	return !s->closed && s->pending == POP3_PEND_NONE &&
	       s->backlog < POP3_BACKLOG_MAX;
}

size_t pop3_server_feed(struct pop3_server *s, const uint8_t *in, size_t len)
{
	release_cur(s);
	size_t used = 0;
	while (used < len && can_take_line(s)) {
		const uint8_t *nl = memchr(in + used, '\n', len - used);
		size_t end = nl ? (size_t)(nl - in) : len;
		size_t next = nl ? end + 1 : len;
		if (s->discarding) {
			s->discarding = !nl;
			used = next;
			continue;
		}
		/* RFC 2449 4: 255 octets including CRLF. Before the LF at most
		 * max_line - 1 bytes (the content and a CR) can be legal. */
		size_t span = end - used;
		if (span > s->max_line - 1 - s->line_len) {
			line_too_long(s);
			s->discarding = !nl;
			used = next;
			continue;
		}
		memcpy(s->line + s->line_len, in + used, span);
		s->line_len += span;
		used = next;
		if (!nl)
			break;
		size_t n = s->line_len;
		if (n > 0 && s->line[n - 1] == '\r')
			n--; /* CRLF; a bare LF ends a line too */
		if (n > s->max_line - 2)
			line_too_long(s);
		else
			pop3_server_command(s, s->line, n);
		line_reset(s);
	}
	return used;
}

bool pop3_server_next(struct pop3_server *s, struct pop3_out *out)
{
	release_cur(s);
	memset(out, 0, sizeof(*out));
	if (s->qhead == s->qlen) {
		s->qhead = s->qlen = 0;
		if (s->oom && !s->oom_closed) {
			/* Items may have been lost: end the session. */
			s->oom_closed = true;
			out->kind = POP3_OUT_CLOSE;
			return true;
		}
		return false;
	}
	s->cur = s->q[s->qhead++];
	s->have_cur = true;
	if (s->cur.kind == POP3_OUT_REPLY)
		s->backlog -= s->cur.len;
	out->kind = s->cur.kind;
	switch (s->cur.kind) {
	case POP3_OUT_REPLY:
	case POP3_OUT_LOG:
		out->data = (const char *)s->cur.data;
		out->len = s->cur.len;
		break;
	case POP3_OUT_AUTH:
		out->user = s->user;
		if (s->apop) {
			out->apop_digest = s->digest;
			out->apop_timestamp = s->timestamp;
		} else {
			out->pass = s->pass;
		}
		break;
	case POP3_OUT_SEND_MSG:
		out->msg = s->cur.msg;
		out->top_lines = s->cur.top_lines;
		break;
	case POP3_OUT_UPDATE: {
		size_t n = 0;
		for (size_t i = 0; i < s->nmsgs; i++)
			if (s->msgs[i].deleted)
				s->del_idx[n++] = i;
		out->del_idx = s->del_idx;
		out->ndel = n;
		break;
	}
	case POP3_OUT_CLOSE:
		break;
	}
	return true;
}

void pop3_server_input(struct pop3_server *s, const struct pop3_in *in)
{
	release_cur(s);
	if (s->closed)
		return; /* late answers after a timeout or shutdown */
	switch (in->kind) {
	case POP3_IN_AUTH_RESULT:
		if (s->pending != POP3_PEND_AUTH)
			BUG("pop3 AUTH_RESULT without AUTH");
		auth_result(s, in);
		break;
	case POP3_IN_SENT:
		if (s->pending != POP3_PEND_SEND)
			BUG("pop3 SENT without SEND_MSG");
		s->pending = POP3_PEND_NONE;
		if (s->shutdown_wait)
			shutdown_now(s);
		break;
	case POP3_IN_UPDATE_RESULT:
		if (s->pending != POP3_PEND_UPDATE)
			BUG("pop3 UPDATE_RESULT without UPDATE");
		update_result(s, in);
		break;
	case POP3_IN_TIMEOUT:
		timeout(s);
		break;
	case POP3_IN_SHUTDOWN:
		/* Let a pending request finish first: the adapter owns its
		 * outcome (a message half sent, deletions under way). */
		if (s->pending != POP3_PEND_NONE)
			s->shutdown_wait = true;
		else
			shutdown_now(s);
		break;
	}
}

bool pop3_server_closed(const struct pop3_server *s)
{
	return s->closed;
}
