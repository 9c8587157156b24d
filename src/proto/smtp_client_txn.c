/* smtp_client_txn: the outbound client's mail transactions: MAIL FROM,
 * RCPT TO and DATA one at a time or as one pipelined group (RFC 2920),
 * the body, and each recipient's result. Pure, no I/O.
 *
 * What cannot be sent is refused here without a word to the server: a
 * path that would not fit a command line (RFC 5321 4.5.3.1.4) or holds
 * bytes that would end it, a message over the server's SIZE (RFC 1870). */
#include "proto/smtp_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "proto/limits.h"
#include "proto/smtp_client_int.h"

/* "RCPT TO:<>" and CRLF around the path */
#define RCPT_LINE_FIXED 12

void smtpc_txn_free(struct smtpc_txn *t)
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
void smtpc_txn_settle(struct smtp_client *c,
	const struct smtp_client_reply *rep)
{
	struct smtpc_txn *t = &c->t;
	for (size_t i = 0; i < t->nrcpts; i++) {
		if (t->rs[i] == SMTPC_RS_PENDING
			|| t->rs[i] == SMTPC_RS_ACCEPTED) {
			t->res[i].reply = *rep;
			t->res[i].accepted = false;
			t->rs[i] = SMTPC_RS_DONE;
		}
	}
}

void smtpc_txn_end(struct smtp_client *c)
{
	c->t.active = false;
	c->pend_done = true;
	smtpc_to_ready(c);
}

static size_t next_sent(const struct smtpc_txn *t, size_t from)
{
	while (from < t->nrcpts && t->rs[from] == SMTPC_RS_LOCAL)
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
		smtpc_cmd(c, buf_cstr(&line));
	else
		c->no_memory = true;
	buf_release(&line);
}

static void send_mail(struct smtp_client *c)
{
	struct smtpc_txn *t = &c->t;
	smtpc_cmd(c, buf_cstr(&t->mail_line));
	t->pipelined = c->ext.pipelining;
	t->cursor = next_sent(t, 0);
	c->state = SMTPC_ST_MAIL;
	if (!t->pipelined)
		return;
	/* RFC 2920 3.1: MAIL, the RCPTs and DATA in one group; the replies
	 * come back in the same order */
	for (size_t i = t->cursor; i < t->nrcpts; i = next_sent(t, i + 1))
		send_rcpt(c, i);
	smtpc_cmd(c, "DATA");
}

void smtpc_txn_rset(struct smtp_client *c, const struct smtp_client_reply *r)
{
	if (smtpc_class(r) == 2) {
		c->need_rset = false;
		send_mail(c);
	} else if (smtpc_failure(r)) {
		/* RFC 5321 4.1.1.5: RSET must succeed; if it does not, the
		 * server's state is unknown and this message goes elsewhere */
		char text[sizeof r->text + 64];
		snprintf(text, sizeof text, "RSET refused: %u %s", r->code,
			r->text);
		smtpc_fail_local(c, text, true);
	} else {
		smtpc_unexpected(c, r);
	}
}

void smtpc_txn_mail(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtpc_txn *t = &c->t;
	if (smtpc_class(r) == 2) {
		if (!t->pipelined)
			send_rcpt(c, t->cursor);
		c->state = SMTPC_ST_RCPT;
	} else if (smtpc_failure(r)) {
		smtpc_txn_settle(c, r);
		t->mail_failed = true;
		c->need_rset = true;
		if (t->pipelined)
			c->state = SMTPC_ST_RCPT; /* the group's replies come */
		else
			smtpc_txn_end(c);
	} else {
		smtpc_unexpected(c, r);
	}
}

void smtpc_txn_rcpt(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtpc_txn *t = &c->t;
	size_t i = t->cursor;
	if (smtpc_class(r) == 2 && !t->mail_failed) {
		t->rs[i] = SMTPC_RS_ACCEPTED;
		t->naccepted++;
	} else if (smtpc_failure(r) && !t->mail_failed) {
		t->res[i].reply = *r;
		t->res[i].accepted = false;
		t->rs[i] = SMTPC_RS_DONE;
	} else if (!smtpc_failure(r) && smtpc_class(r) != 2) {
		smtpc_unexpected(c, r);
		return;
	}
	t->cursor = next_sent(t, i + 1);
	if (t->cursor < t->nrcpts) {
		if (!t->pipelined)
			send_rcpt(c, t->cursor);
		return;
	}
	if (t->pipelined) {
		c->state = SMTPC_ST_DATA;
	} else if (t->naccepted == 0) {
		/* RFC 5321 3.3: no DATA without a recipient */
		c->need_rset = true;
		smtpc_txn_end(c);
	} else {
		smtpc_cmd(c, "DATA");
		c->state = SMTPC_ST_DATA;
	}
}

void smtpc_txn_data(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtpc_txn *t = &c->t;
	if (r->code == 354 && (t->mail_failed || t->naccepted == 0)) {
		/* RFC 2920 3.1: a 354 after a failed group is ended at once,
		 * with no content, and its reply decides nothing */
		smtpc_cmd(c, ".");
		c->need_rset = true;
		c->state = SMTPC_ST_DOT_IGNORE;
	} else if (r->code == 354) {
		smtpc_body_init(&t->enc, t->body, t->body_len);
		c->state = SMTPC_ST_BODY;
	} else if (smtpc_failure(r)) {
		smtpc_txn_settle(c, r);
		c->need_rset = true;
		smtpc_txn_end(c);
	} else {
		smtpc_unexpected(c, r);
	}
}

void smtpc_txn_dot(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtpc_txn *t = &c->t;
	if (smtpc_class(r) != 2 && !smtpc_failure(r)) {
		smtpc_unexpected(c, r);
		return;
	}
	for (size_t i = 0; i < t->nrcpts; i++) {
		if (t->rs[i] == SMTPC_RS_ACCEPTED) {
			t->res[i].reply = *r;
			t->res[i].accepted = smtpc_class(r) == 2;
			t->rs[i] = SMTPC_RS_DONE;
		}
	}
	smtpc_txn_end(c);
}

void smtpc_txn_body_block(struct smtp_client *c, struct smtp_client_out *out)
{
	struct smtpc_txn *t = &c->t;
	buf_clear(&c->chunk);
	if (!smtpc_body_fill(&t->enc, &c->chunk)) {
		smtpc_oom(c);
		return;
	}
	out->kind = SMTPC_OUT_SEND;
	out->data = c->chunk.data;
	out->len = c->chunk.len;
	if (t->enc.ended) {
		char line[64];
		snprintf(line, sizeof line, "<body %llu octets> .",
			(unsigned long long)t->size);
		smtpc_log(c, "C: ", line, strlen(line));
		c->state = SMTPC_ST_DOT;
		if (c->no_memory)
			smtpc_oom(c);
	}
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

static bool txn_alloc(struct smtpc_txn *t, const char *const *rcpts, size_t n)
{
	size_t m = n ? n : 1;
	t->rcpts = calloc(m, sizeof *t->rcpts);
	t->rs = calloc(m, sizeof *t->rs);
	t->res = calloc(m, sizeof *t->res);
	if (!t->rcpts || !t->rs || !t->res)
		return false;
	t->nrcpts = n;
	for (size_t i = 0; i < n; i++)
		if (!(t->rcpts[i] = mem_strdup(rcpts[i] ? rcpts[i] : "",
			    rcpts[i] ? strlen(rcpts[i]) : 0)))
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
	struct smtpc_txn *t = &c->t;
	bool sendable = mail_line(c, from, body_8bit);
	if (c->no_memory)
		return; /* a local error, not a bad sender */
	if (!sendable) {
		struct smtp_client_reply r = smtpc_reply_local(553, "5.1.7",
			"5.1.7 Sender address not sendable "
			"(too long or bad characters)");
		smtpc_txn_settle(c, &r);
		return;
	}
	struct smtp_client_reply bad = smtpc_reply_local(553, "5.1.3",
		"5.1.3 Recipient address not sendable "
		"(too long or bad characters)");
	for (size_t i = 0; i < t->nrcpts; i++) {
		if (!path_ok(t->rcpts[i], LIMIT_SMTP_CMD_LINE - RCPT_LINE_FIXED)
			|| !t->rcpts[i][0]) {
			t->res[i].reply = bad;
			t->rs[i] = SMTPC_RS_LOCAL;
		}
	}
	/* RFC 1870 6.1: a message over the limit would be refused anyway;
	 * 552 5.3.4 is what the server would say (RFC 3463 3.4) */
	if (c->ext.size && t->size > c->ext.size) {
		struct smtp_client_reply r = smtpc_reply_local(552, "5.3.4",
			"5.3.4 Message size exceeds fixed maximum "
			"message size");
		smtpc_txn_settle(c, &r);
	}
}

static bool any_pending(const struct smtpc_txn *t)
{
	for (size_t i = 0; i < t->nrcpts; i++)
		if (t->rs[i] == SMTPC_RS_PENDING)
			return true;
	return false;
}

bool smtp_client_start_message(struct smtp_client *c, const char *from,
	const char *const *rcpts, size_t nrcpts, const uint8_t *body,
	size_t body_len, bool body_8bit)
{
	smtpc_release_cur(c);
	if (c->state != SMTPC_ST_READY || c->pend_done || (nrcpts && !rcpts))
		return false;
	struct smtpc_txn *t = &c->t;
	smtpc_txn_free(t);
	if (!txn_alloc(t, rcpts, nrcpts)) {
		smtpc_txn_free(t);
		return false;
	}
	for (size_t i = 0; i < nrcpts; i++)
		t->rs[i] = SMTPC_RS_PENDING;
	t->active = true;
	t->body = body;
	t->body_len = body ? body_len : 0;
	t->size = smtpc_body_size(t->body, t->body_len);
	c->pend_ready = false;
	local_checks(c, from ? from : "", body_8bit);
	if (c->no_memory) {
		smtpc_oom(c);
	} else if (!any_pending(t)) {
		smtpc_txn_end(c); /* every recipient has its result already */
	} else if (c->need_rset) {
		/* RFC 5321 4.1.1.5: whatever the last transaction left behind
		 * on the server is cleared before the next one */
		smtpc_cmd(c, "RSET");
		c->state = SMTPC_ST_RSET;
	} else {
		send_mail(c);
	}
	if (c->no_memory)
		smtpc_oom(c);
	return true;
}
