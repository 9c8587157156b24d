/* Fuzzes the outbound SMTP client core with whatever a server might send.
 *
 * The first three bytes choose the configuration (STARTTLS, TLS required,
 * AUTH, small reply lines), how the adapter answers (TLS_OK or FAILED,
 * EOF or timeout at the end, which messages to start) and the split
 * sizes; the rest is the server's byte stream, fed in arbitrary pieces
 * through a whole session. Invariants asserted:
 *   - feed() takes at most what it is given, nothing after CLOSE;
 *   - commands are CRLF-terminated lines of at most 512 octets;
 *   - the body is CRLF-only, lines of at most 1000 octets, every line
 *     starting with "." stuffed, and "<CRLF>.<CRLF>" only at its end;
 *   - nothing is output after CLOSE, one DONE per started message, with
 *     nresults == nrcpts, codes 0 or 200..599, accepted only with 2xx;
 *   - no password or base64 AUTH data in a log line or a reply text. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_client.h"

#define USER "fuzz-user"
#define PASS "pw-Secr3t!"
/* base64 of "\0fuzz-user\0pw-Secr3t!", "fuzz-user", "pw-Secr3t!" */
static const char *const secrets[] = {
	PASS, "AGZ1enotdXNlcgBwdy1TZWNyM3Qh", "ZnV6ei11c2Vy", "cHctU2VjcjN0IQ==",
};

static const char *const bodies[] = {
	"hello\n",
	".\n..\r\n.x\rend",
	"",
	"no final newline",
	"\r\n.\r\n\n.\n\r.\r",
};

struct fz {
	struct smtp_client *c;
	uint8_t rules;
	size_t started, done;
	size_t nrcpts;            /* of the message in progress */
	bool in_txn;
	bool closed;
	bool tls_pending;         /* STARTTLS given out, not answered yet */
	/* body stream state */
	bool in_body;
	size_t line_len;
	bool after_cr;
	bool line_start;
	size_t dot_state;         /* progress of "\r\n.\r\n" matching */
	char long_body[2600];
	char long_from[600];
};

/* the core can only keep out of its logs the secrets it was given */
static bool auth_on;

static void check_text(const char *p, size_t size)
{
	if (!memchr(p, '\0', size))
		abort();
	for (size_t i = 0; auth_on && i < sizeof secrets / sizeof secrets[0]; i++)
		if (strstr(p, secrets[i]))
			abort();
}

static void check_reply(const struct smtp_client_reply *r)
{
	if (r->code != 0 && (r->code < 200 || r->code > 599))
		abort();
	check_text(r->text, sizeof r->text);
	if (!memchr(r->status, '\0', sizeof r->status))
		abort();
	if (r->status[0] && (r->code == 0 || r->status[0] - '0' != (int)(r->code / 100)))
		abort();
}

static void check_command(const uint8_t *p, size_t n)
{
	if (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n')
		abort();
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
			abort();
		if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r' || i + 1 - start > 512)
				abort();
			start = i + 1;
		}
	}
}

static void body_byte(struct fz *f, uint8_t b)
{
	if (f->after_cr && b != '\n')
		abort();
	if (b == '\n' && !f->after_cr)
		abort();
	/* dot_state: 1 after a "." opening a line, 2 after ".\r", 3 after
	 * the final ".\r\n" */
	switch (f->dot_state) {
	case 3:
		abort(); /* "<CRLF>.<CRLF>" must be the very end */
	case 1:
		if (b != '.' && b != '\r')
			abort(); /* a "." opening a line must be doubled */
		f->dot_state = b == '\r' ? 2 : 0;
		break;
	case 2:
		f->dot_state = 3; /* b is LF: checked above */
		break;
	default:
		f->dot_state = f->line_start && b == '.' ? 1 : 0;
		break;
	}
	f->after_cr = b == '\r';
	f->line_start = b == '\n';
	f->line_len = b == '\n' ? 0 : f->line_len + 1;
	if (f->line_len > 999)
		abort();
}

static void start_message(struct fz *f)
{
	static const char *const all[] = {
		"a@example.net", "b@example.net", "bad\r\n@example.net",
		"c@example.net", "d@example.net",
	};
	unsigned r = f->rules + (unsigned)f->started * 7;
	size_t n = r % 6;
	const char *body;
	size_t blen;
	if ((r >> 3) % 6 == 5) {
		body = f->long_body;
		blen = sizeof f->long_body;
	} else {
		body = bodies[(r >> 3) % 6 % 5];
		blen = strlen(body);
	}
	const char *const froms[] = {
		"sender@example.org", "", "bad>\r\nRSET", f->long_from,
	};
	const char *from = froms[(r >> 2) & 3];
	if (!smtp_client_start_message(f->c, from, all, n, (const uint8_t *)body,
		    blen, r & 1))
		return; /* out of memory: nothing started */
	if (f->in_txn)
		abort();
	f->in_txn = true;
	f->nrcpts = n;
	f->started++;
}

static void answer_tls(struct fz *f)
{
	f->tls_pending = false;
	struct smtp_client_in in = {.kind = (f->rules & 0x40)
		? SMTPC_IN_TLS_FAILED : SMTPC_IN_TLS_OK};
	smtp_client_input(f->c, &in);
}

static void drain(struct fz *f)
{
	struct smtp_client_out o;
	for (;;) {
		bool body = smtp_client_timeout(f->c) == 180;
		if (!smtp_client_next(f->c, &o))
			break;
		if (f->closed)
			abort();
		switch (o.kind) {
		case SMTPC_OUT_SEND:
			if (o.len == 0)
				abort();
			if (body) {
				if (!f->in_body) {
					f->in_body = true;
					f->line_start = true;
					f->dot_state = 0;
					f->after_cr = false;
					f->line_len = 0;
				}
				for (size_t i = 0; i < o.len; i++)
					body_byte(f, o.data[i]);
				if (smtp_client_timeout(f->c) != 180) {
					/* the last block: ends in "." CRLF */
					if (f->dot_state != 3)
						abort();
					f->in_body = false;
				}
			} else {
				check_command(o.data, o.len);
			}
			break;
		case SMTPC_OUT_LOG: {
			if (memchr(o.data, '\n', o.len) || memchr(o.data, '\r', o.len))
				abort();
			for (size_t i = 0; auth_on && i < sizeof secrets / sizeof secrets[0]; i++)
				if (o.len >= strlen(secrets[i]) && memmem(o.data, o.len,
					secrets[i], strlen(secrets[i])))
					abort();
			break;
		}
		case SMTPC_OUT_STARTTLS:
			if (f->tls_pending)
				abort();
			f->tls_pending = true;
			/* sometimes answered only after more bytes came, which
			 * the core must drop */
			if (!(f->rules & 0x08))
				answer_tls(f);
			break;
		case SMTPC_OUT_READY:
			if (f->in_txn)
				abort();
			if (f->started < 3 && !((f->rules >> 4) & 1 && f->started == 1)) {
				start_message(f);
			} else if (f->rules & 0x20) {
				/* stay idle: what the server says now is unasked */
			} else {
				struct smtp_client_in in = {.kind = SMTPC_IN_QUIT};
				smtp_client_input(f->c, &in);
			}
			break;
		case SMTPC_OUT_DONE:
			if (!f->in_txn || o.nresults != f->nrcpts)
				abort();
			for (size_t i = 0; i < o.nresults; i++) {
				check_reply(&o.results[i].reply);
				if (o.results[i].accepted && o.results[i].reply.code / 100 != 2)
					abort();
			}
			f->in_txn = false;
			f->in_body = false;
			f->done++;
			break;
		case SMTPC_OUT_CLOSE:
			check_reply(&o.close_reply);
			if (f->in_txn)
				abort(); /* DONE comes before CLOSE */
			f->closed = true;
			break;
		}
	}
	unsigned t = smtp_client_timeout(f->c);
	if (t != 0 && t != 120 && t != 180 && t != 300 && t != 600)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint8_t cfgb = data[0], rules = data[1], splitb = data[2];
	data += 3;
	size -= 3;
	struct smtp_client_cfg cfg = {
		.helo_name = "client.test",
		.starttls = cfgb & 1,
		.tls_required = cfgb & 2,
		.tls_active = cfgb & 4,
		.auth_user = (cfgb & 8) ? USER : NULL,
		.auth_password = PASS,
		.auth_plaintext_ok = cfgb & 16,
		.max_reply_line = (cfgb & 32) ? 64 : 0,
	};
	auth_on = cfg.auth_user != NULL;
	struct fz f;
	memset(&f, 0, sizeof f);
	f.rules = rules;
	for (size_t i = 0; i < sizeof f.long_body; i++)
		f.long_body[i] = (i % 997 == 0) ? '.' : (i % 1301 == 1300 ? '\n' : 'x');
	memset(f.long_from, 'f', sizeof f.long_from - 1);
	f.long_from[sizeof f.long_from - 1] = '\0';
	f.c = smtp_client_new(&cfg);
	if (!f.c)
		return 0;
	drain(&f);
	size_t off = 0, stalls = 0;
	unsigned roll = splitb;
	while (off < size && !f.closed && stalls < 4) {
		roll = roll * 1103515245u + 12345u;
		size_t chunk = (splitb & 0x80) ? (roll >> 16) % 97 + 1
					       : (size_t)(splitb % 64) + 1;
		size_t len = size - off < chunk ? size - off : chunk;
		bool late_tls = f.tls_pending;
		size_t n = smtp_client_feed(f.c, data + off, len);
		if (n > len || (late_tls && n != len))
			abort();
		off += n;
		drain(&f);
		if (late_tls && !f.closed) {
			answer_tls(&f);
			drain(&f);
		}
		stalls = n ? 0 : stalls + 1;
	}
	if (f.tls_pending && !f.closed) {
		answer_tls(&f);
		drain(&f);
	}
	if ((cfgb & 0x80) && !f.closed) {
		/* QUIT at READY, or in any other state an abort */
		struct smtp_client_in in = {.kind = SMTPC_IN_QUIT};
		smtp_client_input(f.c, &in);
		drain(&f);
	}
	if (!f.closed) {
		struct smtp_client_in in = {.kind = (cfgb & 64) ? SMTPC_IN_TIMEOUT
							       : SMTPC_IN_EOF};
		smtp_client_input(f.c, &in);
		drain(&f);
		if (!f.closed)
			abort(); /* EOF and timeout always end the session */
	}
	if (f.done != f.started)
		abort();
	if (size && smtp_client_feed(f.c, data, size) != 0)
		abort();
	struct smtp_client_out o;
	if (smtp_client_next(f.c, &o))
		abort();
	smtp_client_free(&f.c);
	return 0;
}
