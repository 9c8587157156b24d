/* smtp_harness: see smtp_harness.h. Checks the core's output invariants
 * as it goes: every reply ends in CRLF, lines stay within 512 octets,
 * nothing comes after CLOSE, feed() never claims more than it got. */
#include "smtp_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/limits.h"

struct smtp_server_cfg harness_default_cfg(void)
{
	struct smtp_server_cfg c = {
		.hostname = "mx.test",
		.max_cmd_line = LIMIT_SMTP_CMD_LINE,
		.max_text_line = LIMIT_SMTP_TEXT_LINE,
		.max_msg_size = LIMIT_SMTP_MSG_SIZE,
		.max_rcpts = LIMIT_SMTP_RCPTS,
		.max_errors = LIMIT_SMTP_ERRORS,
		.vrfy_enabled = false,
	};
	return c;
}

int harness_rcpt_policy(const char *path)
{
	const char *at = strrchr(path, '@');
	if (!at)
		return strcasecmp(path, "postmaster") == 0 ? SMTP_RCPT_OK
							  : SMTP_RCPT_UNKNOWN_USER;
	if (strcasecmp(at + 1, "localhost") != 0)
		return SMTP_RCPT_RELAY_DENIED;
	size_t n = (size_t)(at - path);
	static const char *const users[] = {"alice", "bob", "postmaster"};
	for (size_t i = 0; i < sizeof users / sizeof users[0]; i++)
		if (strlen(users[i]) == n && strncasecmp(path, users[i], n) == 0)
			return SMTP_RCPT_OK;
	if (n == 8 && strncmp(path, "tempfail", 8) == 0)
		return SMTP_RCPT_TEMPFAIL;
	return SMTP_RCPT_UNKNOWN_USER;
}

int harness_auth_policy(const char *user, const char *pass,
	const char **account)
{
	static const char *const accounts[] = {"alice@localhost",
		"bob@localhost"};
	*account = NULL;
	if (strcmp(user, "tempfail") == 0)
		return SMTP_AUTH_TEMPFAIL;
	for (size_t i = 0; i < sizeof accounts / sizeof accounts[0]; i++) {
		const char *a = accounts[i];
		size_t local = (size_t)(strchr(a, '@') - a);
		bool match = strcasecmp(user, a) == 0
			|| (strlen(user) == local && strncasecmp(user, a, local) == 0);
		if (match && strcmp(pass, "secret") == 0) {
			*account = a;
			return SMTP_AUTH_OK;
		}
	}
	return SMTP_AUTH_BAD;
}

static void fail(const char *why)
{
	/* an invariant of the core broke: make it loud */
	fprintf(stderr, "harness: %s\n", why);
	abort();
}

static void check_reply(const char *p, size_t n)
{
	if (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n')
		fail("reply not CRLF-terminated");
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				fail("bare LF in reply");
			if (i + 1 - start > 512)
				fail("reply line over 512 octets");
			if (i + 1 - start < 5)
				fail("reply line too short");
			start = i + 1;
		} else if (p[i] == '\r') {
			if (i + 1 >= n || p[i + 1] != '\n')
				fail("bare CR in reply");
		} else if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] >= 0x7f) {
			fail("control or 8-bit byte in reply");
		}
	}
}

static void append_escaped(struct buf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\n') {
			buf_append_str(b, "\\n");
		} else if (c == '\r') {
			buf_append_str(b, "\\r");
		} else if (c < 0x20 || c >= 0x7f || c == '\\' || c == ']') {
			char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
			buf_append(b, e, 4);
		} else {
			buf_append_byte(b, c);
		}
	}
}

void harness_drain(struct harness *h)
{
	for (;;) {
		struct smtp_out o;
		bool check = false, commit = false, tls = false, auth = false;
		bool check_auth = false;
		char path[LIMIT_SMTP_PATH + 1];
		while (smtp_server_next(h->s, &o)) {
			if (h->saw_close)
				h->output_after_close = true;
			switch (o.kind) {
			case SMTP_OUT_REPLY:
				check_reply(o.data, o.len);
				buf_append(&h->trace, o.data, o.len);
				buf_append(&h->replies, o.data, o.len);
				break;
			case SMTP_OUT_CHECK_RCPT:
				if (o.len > LIMIT_SMTP_PATH || strlen(o.data) != o.len)
					fail("bad CHECK_RCPT path");
				memcpy(path, o.data, o.len + 1);
				buf_append_str(&h->trace, "[CHECK ");
				buf_append_str(&h->trace, path);
				if (o.authenticated != (o.auth_user != NULL))
					fail("CHECK_RCPT auth fields disagree");
				if (o.authenticated) {
					buf_append_str(&h->trace, " auth=");
					buf_append_str(&h->trace, o.auth_user);
				}
				buf_append_str(&h->trace, "]\n");
				check_auth = o.authenticated;
				check = true;
				h->requests++;
				break;
			case SMTP_OUT_COMMIT:
				buf_append_str(&h->trace, "[COMMIT from=<");
				buf_append_str(&h->trace, o.commit.mail_from);
				buf_append_str(&h->trace, "> to=");
				for (size_t i = 0; i < o.commit.nrcpts; i++) {
					buf_append_str(&h->trace, i ? ",<" : "<");
					buf_append_str(&h->trace, o.commit.rcpts[i]);
					buf_append_str(&h->trace, ">");
				}
				buf_append_str(&h->trace, o.commit.body_8bit
					? " 8bit=1 body=" : " 8bit=0 body=");
				append_escaped(&h->trace, o.commit.body,
					o.commit.body_len);
				if (o.commit.authenticated != (o.commit.auth_user != NULL))
					fail("COMMIT auth fields disagree");
				if (o.commit.authenticated) {
					buf_append_str(&h->trace, " auth=");
					buf_append_str(&h->trace, o.commit.auth_user);
				}
				buf_append_str(&h->trace, "]\n");
				if (!o.commit.body)
					fail("COMMIT without a body");
				free(o.commit.body);
				commit = true;
				h->requests++;
				break;
			case SMTP_OUT_STARTTLS:
				buf_append_str(&h->trace, "[STARTTLS]\n");
				tls = true;
				h->requests++;
				break;
			case SMTP_OUT_AUTH:
				if (!o.auth.mech || !o.auth.authcid || !o.auth.password
					|| strlen(o.auth.password) != o.auth.password_len
					|| !*o.auth.authcid || !o.auth.password_len)
					fail("bad AUTH request");
				buf_append_str(&h->trace, "[AUTH ");
				buf_append_str(&h->trace, o.auth.mech);
				buf_append_str(&h->trace, " user=");
				append_escaped(&h->trace, (const uint8_t *)o.auth.authcid,
					strlen(o.auth.authcid));
				buf_append_str(&h->trace, " pass=");
				append_escaped(&h->trace, (const uint8_t *)o.auth.password,
					o.auth.password_len);
				buf_append_str(&h->trace, "]\n");
				h->auth_user = o.auth.authcid;
				h->auth_pass = o.auth.password;
				if (o.auth.password_len >= 4
					&& o.auth.password_len < sizeof h->secret)
					memcpy(h->secret, o.auth.password,
						o.auth.password_len + 1);
				auth = true;
				h->requests++;
				break;
			case SMTP_OUT_LOG:
				if (memchr(o.data, '\n', o.len) || memchr(o.data, '\r', o.len))
					fail("line break in a log item");
				if (h->secret[0] && memmem(o.data, o.len, h->secret,
					strlen(h->secret)))
					fail("a password in a log item");
				buf_append(&h->log, o.data, o.len);
				buf_append_byte(&h->log, '\n');
				break;
			case SMTP_OUT_CLOSE:
				buf_append_str(&h->trace, "[CLOSE]\n");
				h->saw_close = true;
				break;
			}
		}
		if (check)
			h->pending_rcpt = true;
		if (commit)
			h->pending_commit = true;
		if (tls)
			h->pending_tls = true;
		if (auth)
			h->pending_auth = true;
		if (h->pending_rcpt && h->answer_rcpt) {
			h->pending_rcpt = false;
			int r = harness_rcpt_policy(path);
			if (check_auth && r == SMTP_RCPT_RELAY_DENIED)
				r = SMTP_RCPT_RELAY_UNAVAILABLE;
			struct smtp_in in = {.kind = SMTP_IN_RCPT_RESULT,
				.result = r};
			smtp_server_input(h->s, &in);
			continue;
		}
		if (h->pending_tls && h->answer_tls) {
			h->pending_tls = false;
			struct smtp_in in = {.kind = h->tls_fail
				? SMTP_IN_TLS_FAILED : SMTP_IN_TLS_STARTED};
			smtp_server_input(h->s, &in);
			continue;
		}
		if (h->pending_auth && h->answer_auth) {
			h->pending_auth = false;
			const char *account;
			struct smtp_in in = {.kind = SMTP_IN_AUTH_RESULT,
				.result = harness_auth_policy(h->auth_user,
					h->auth_pass, &account)};
			in.user = account;
			smtp_server_input(h->s, &in);
			/* the core promised to wipe the password now */
			if (h->auth_pass[0] != '\0')
				fail("password not wiped after the AUTH answer");
			h->auth_user = h->auth_pass = NULL;
			continue;
		}
		if (h->pending_commit && h->answer_commit) {
			h->pending_commit = false;
			struct smtp_in in = {.kind = SMTP_IN_COMMIT_RESULT,
				.result = h->commit_result, .id = h->commit_id};
			smtp_server_input(h->s, &in);
			continue;
		}
		return;
	}
}

void harness_init(struct harness *h, const struct smtp_server_cfg *cfg)
{
	memset(h, 0, sizeof *h);
	buf_init(&h->trace, 0);
	buf_init(&h->log, 0);
	buf_init(&h->replies, 0);
	h->commit_result = SMTP_COMMIT_OK;
	h->answer_rcpt = true;
	h->answer_commit = true;
	h->answer_tls = true;
	h->answer_auth = true;
	h->rng = 12345;
	h->s = smtp_server_new(cfg);
	if (!h->s)
		fail("smtp_server_new");
	harness_drain(h);
}

void harness_clear(struct harness *h)
{
	smtp_server_free(&h->s);
	buf_release(&h->trace);
	buf_release(&h->log);
	buf_release(&h->replies);
}

static size_t chunk_size(struct harness *h, enum harness_split split,
	size_t left)
{
	switch (split) {
	case SPLIT_WHOLE:
		return left;
	case SPLIT_BYTES:
		return 1;
	case SPLIT_RANDOM:
		h->rng = h->rng * 1103515245u + 12345u;
		size_t n = 1 + (h->rng >> 16) % 97;
		return n < left ? n : left;
	}
	return left;
}

void harness_feed(struct harness *h, const uint8_t *in, size_t len,
	enum harness_split split)
{
	size_t pos = 0;
	while (pos < len) {
		size_t want = chunk_size(h, split, len - pos);
		size_t before = h->requests;
		size_t n = smtp_server_feed(h->s, in + pos, want);
		if (n > want)
			fail("feed consumed more than it was given");
		pos += n;
		h->consumed += n;
		harness_drain(h);
		if (smtp_server_closed(h->s)) {
			if (smtp_server_feed(h->s, in + pos, len - pos) != 0)
				fail("feed consumed after close");
			return;
		}
		if (h->pending_rcpt || h->pending_commit || h->pending_tls
			|| h->pending_auth)
			return; /* requests left unanswered on purpose */
		if (n < want && h->requests == before)
			fail("feed stopped without a request");
	}
}

char *harness_run(const struct smtp_server_cfg *cfg, int commit_result,
	const char *commit_id, const char *in, size_t len,
	enum harness_split split, unsigned seed, size_t *trace_len,
	char **log_out)
{
	struct harness h;
	harness_init(&h, cfg);
	h.commit_result = commit_result;
	h.commit_id = commit_id;
	h.rng = seed;
	harness_feed(&h, (const uint8_t *)in, len, split);
	if (h.output_after_close)
		fail("output after CLOSE");
	char *t = (char *)buf_cstr(&h.trace);
	size_t tl = h.trace.len;
	char *tcopy = malloc(tl + 1);
	memcpy(tcopy, t, tl + 1);
	if (log_out) {
		const char *l = buf_cstr(&h.log);
		*log_out = malloc(h.log.len + 1);
		memcpy(*log_out, l, h.log.len + 1);
	}
	*trace_len = tl;
	harness_clear(&h);
	return tcopy;
}
