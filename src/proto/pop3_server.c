/* pop3_server: the POP3 session state machine (RFC 1939; CAPA, PIPELINING
 * and response codes of RFC 2449; AUTH-RESP-CODE of RFC 3206; STLS of RFC
 * 2595 and AUTH of RFC 5034, whose handlers are in pop3_auth.c).
 *
 * Pure: bytes go in through pop3_server_feed(), replies, log events and
 * requests come out of pop3_server_next(), answers come back through
 * pop3_server_input(). It never touches a socket, a clock, the password
 * file or the maildrop, and runs on attacker bytes in the network
 * process. Which command is legal in which state is the table cmds[]
 * in pop3_server_cmd.c; handlers fill a struct pop3_reply, and
 * pop3_server_emit() here is the one formatter that turns it into a
 * status line (plus a multi-line body) and queues the request that
 * follows it. Lines are cut here: commands go to pop3_server_cmd.c, the
 * responses of an AUTH exchange to pop3_auth.c.
 */
#include "proto/pop3_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
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
void pop3_server_wipe_secrets(struct pop3_server *s)
{
	if (s->pass)
		secure_wipe(s->pass, s->max_line);
	secure_wipe(s->digest, sizeof(s->digest));
	sasl_clear(&s->sasl);
	if (s->auth_line)
		secure_wipe(s->auth_line, LIMIT_POP3_AUTH_LINE);
}

static void push_close(struct pop3_server *s)
{
	if (s->closed)
		return;
	push_kind(s, POP3_OUT_CLOSE);
	s->closed = true;
	pop3_server_wipe_secrets(s);
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
		static const char *const head[] = {
			[POP3_RP_OK] = "+OK",
			[POP3_RP_ERR] = "-ERR",
			[POP3_RP_CONT] = "+",
		};
		struct buf b;
		buf_init(&b, 0);
		bool good = buf_append_str(&b, head[r->status]);
		if (good && r->code)
			good = buf_printf(&b, " [%s]", r->code);
		/* RFC 5034 4: a challenge is "+" SP base64, and an empty one
		 * still has its space. */
		if (good && (r->text[0] || r->status == POP3_RP_CONT))
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
	case POP3_AFTER_STLS:
		/* feed() stops right after the STLS line: the bytes behind it
		 * are the adapter's to discard (CVE-2011-0411). */
		s->pending = POP3_PEND_TLS;
		push_kind(s, POP3_OUT_STLS);
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

void pop3_server_shutdown(struct pop3_server *s)
{
	struct pop3_reply r = { .not_counted = true,
				.after = POP3_AFTER_CLOSE };
	pop3_reply_err(&r, "SYS/TEMP", "server shutting down");
	pop3_server_log(s, "close reason=shutdown");
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
	case POP3_PEND_TLS:
		/* A message is being sent, or the TLS handshake is under way:
		 * a status line now would land in the middle of it. */
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
	s->tls = cfg->tls_active;
	s->stls_offered = cfg->stls_offered && !cfg->tls_active;
	s->plaintext_auth_ok = cfg->plaintext_auth_ok;
	s->sasl_offered = cfg->sasl_offered;
	s->transcript = cfg->transcript;
	s->max_auth_failures = cfg->max_auth_failures
				       ? cfg->max_auth_failures
				       : POP3_AUTH_FAILURES_DEFAULT;
	sasl_init(&s->sasl);
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
	pop3_server_wipe_secrets(s);
	if (s->line)
		secure_wipe(s->line, s->max_line);
	free(s->pass);
	free(s->line);
	free(s->auth_line);
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

static void line_reset(struct pop3_server *s, uint8_t *line)
{
	/* The line may have held a password (PASS, AUTH, an over-long
	 * one). */
	secure_wipe(line, s->line_len);
	s->line_len = 0;
}

static void line_too_long(struct pop3_server *s, bool auth)
{
	if (auth) {
		pop3_auth_line_too_long(s);
		return;
	}
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
		/* A line is a command, or the client's response while an AUTH
		 * exchange waits for one (which may be longer, RFC 5034 4).
		 * The kind only changes between lines. */
		bool auth = sasl_waiting(&s->sasl);
		uint8_t *line = auth ? s->auth_line : s->line;
		size_t max = auth ? LIMIT_POP3_AUTH_LINE : s->max_line;
		const uint8_t *nl = memchr(in + used, '\n', len - used);
		size_t end = nl ? (size_t)(nl - in) : len;
		size_t next = nl ? end + 1 : len;
		if (s->discarding) {
			s->discarding = !nl;
			used = next;
			continue;
		}
		/* RFC 2449 4: 255 octets including CRLF. Before the LF at most
		 * max - 1 bytes (the content and a CR) can be legal. */
		size_t span = end - used;
		if (span > max - 1 - s->line_len) {
			line_reset(s, line);
			line_too_long(s, auth);
			s->discarding = !nl;
			used = next;
			pop3_auth_line_release(s);
			continue;
		}
		memcpy(line + s->line_len, in + used, span);
		s->line_len += span;
		used = next;
		if (!nl)
			break;
		size_t n = s->line_len;
		if (n > 0 && line[n - 1] == '\r')
			n--; /* CRLF; a bare LF ends a line too */
		if (n > max - 2)
			line_too_long(s, auth);
		else if (auth)
			pop3_auth_response(s, line, n);
		else
			pop3_server_command(s, line, n);
		line_reset(s, line);
		pop3_auth_line_release(s);
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
		switch (s->method) {
		case POP3_METHOD_USER:
			out->user = s->user;
			out->pass = s->pass;
			break;
		case POP3_METHOD_APOP:
			out->user = s->user;
			out->apop_digest = s->digest;
			out->apop_timestamp = s->timestamp;
			break;
		case POP3_METHOD_SASL:
			out->user = s->sasl.authcid;
			out->pass = s->sasl.passwd;
			out->mech = sasl_mech_name(s->sasl.mech);
			break;
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
	case POP3_OUT_STLS:
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
		pop3_auth_result(s, in);
		break;
	case POP3_IN_SENT:
		if (s->pending != POP3_PEND_SEND)
			BUG("pop3 SENT without SEND_MSG");
		s->pending = POP3_PEND_NONE;
		if (s->shutdown_wait)
			pop3_server_shutdown(s);
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
		 * outcome (a message half sent, deletions under way). A TLS
		 * handshake has nothing worth waiting for, and a plaintext
		 * reply would only corrupt it. */
		if (s->pending == POP3_PEND_TLS) {
			pop3_server_log(s, "close reason=shutdown");
			push_close(s);
		} else if (s->pending != POP3_PEND_NONE) {
			s->shutdown_wait = true;
		} else {
			pop3_server_shutdown(s);
		}
		break;
	case POP3_IN_TLS_STARTED:
		if (s->pending != POP3_PEND_TLS)
			BUG("pop3 TLS_STARTED without STLS");
		s->pending = POP3_PEND_NONE;
		pop3_auth_tls_started(s);
		break;
	case POP3_IN_TLS_FAILED:
		if (s->pending != POP3_PEND_TLS)
			BUG("pop3 TLS_FAILED without STLS");
		s->pending = POP3_PEND_NONE;
		/* No reply: the connection is in no state to carry one. */
		pop3_server_log(s, "stls result=failed");
		pop3_server_log(s, "close reason=tls-failed");
		push_close(s);
		break;
	}
}

bool pop3_server_closed(const struct pop3_server *s)
{
	return s->closed;
}
