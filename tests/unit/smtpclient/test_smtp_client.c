/* Unit tests for the outbound SMTP client core (src/proto/smtp_client*.c).
 *
 * Table cases script a server: the bytes it sends, in segments (a new
 * segment starts after the TLS handshake, as an adapter would read the
 * socket anew), and the messages the adapter starts at each READY. They
 * run whole, one byte at a time and in random splits with fixed seeds,
 * and must produce the same trace: the bytes the client sent, with
 * "[READY]", "[STARTTLS]", "[DONE ...]" and "[CLOSE ...]" markers. The
 * harness checks invariants on the way: CRLF-only line ends, lines within
 * 1000 octets, nothing after CLOSE, DONE sized to the recipients, no
 * secret in a log item. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "proto/smtp_client.h"

/* ---- the scripted server and adapter ---- */

struct msg {
	const char *from;
	const char *rcpts[6];
	size_t nrcpts;
	const char *body;
	size_t body_len; /* 0: strlen(body) */
	bool eight;
};

enum end { END_NONE, END_EOF, END_TIMEOUT };

struct ccase {
	const char *name;
	const char *in[3];        /* server bytes; next segment after STARTTLS */
	const struct msg *msgs[3];
	enum end end;             /* what happens after the last byte */
	bool no_quit;             /* leave the session at READY at the end */
	bool tls_fail;
	bool starttls, tls_required, tls_active, plain_ok;
	const char *user, *pass;
	size_t max_reply_line;
	const char *out;
	const char *log_has;
};

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

struct drv {
	struct smtp_client *c;
	const struct ccase *k;
	size_t nmsg;              /* messages started */
	size_t seg;               /* segment being fed */
	bool seg_over;            /* STARTTLS: the rest of the segment is gone */
	bool closed;
	struct buf trace, log, wire;
	size_t line_len;          /* octets on the current SEND line */
	bool after_cr;
	const char *secrets[4];
	char *owned[3];
	unsigned rng;
};

#define GREET "220 mx.test ESMTP\r\n"
#define EHLO "EHLO client.test\r\n"
#define HELO "HELO client.test\r\n"
#define EHLO_PIPE "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n" \
	"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define EHLO_BASIC "250-mx.test\r\n250 ENHANCEDSTATUSCODES\r\n"
#define EHLO_TLS "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
#define MAIL_OK "250 2.1.0 Ok\r\n"
#define RCPT_OK "250 2.1.5 Ok\r\n"
#define UNKNOWN "550 5.1.1 No such user\r\n"
#define GO "354 go ahead\r\n"
#define QUEUED "250 2.0.0 queued\r\n"
#define BYE "221 2.0.0 bye\r\n"
#define CLOSE_OK "[CLOSE 0 temp]\n"
#define QUIT_OK "QUIT\r\n" CLOSE_OK
#define START_P GREET EHLO_PIPE
#define START_B GREET EHLO_BASIC
#define START_C EHLO "[READY]\n"

static void die(const char *why)
{
	fprintf(stderr, "harness: %s\n", why);
	abort();
}

static void check_wire(struct drv *d, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (d->after_cr && p[i] != '\n')
			die("bare CR sent");
		if (p[i] == '\n' && !d->after_cr)
			die("bare LF sent");
		d->after_cr = p[i] == '\r';
		if (p[i] == '\n')
			d->line_len = 0;
		else if (++d->line_len > 999)
			die("line over 1000 octets sent");
	}
}

static void add_secret(struct drv *d, size_t *k, const uint8_t *p, size_t n)
{
	char *s = malloc(BASE64_ENCODED_SIZE(n));
	base64_encode(p, n, s);
	d->owned[*k] = s;
	d->secrets[(*k)++] = s;
}

static void drv_init(struct drv *d, const struct ccase *k, unsigned seed)
{
	memset(d, 0, sizeof *d);
	d->k = k;
	d->rng = seed;
	buf_init(&d->trace, 0);
	buf_init(&d->log, 0);
	buf_init(&d->wire, 0);
	struct smtp_client_cfg cfg = {
		.helo_name = "client.test", .starttls = k->starttls,
		.tls_required = k->tls_required, .tls_active = k->tls_active,
		.auth_user = k->user, .auth_password = k->pass,
		.auth_plaintext_ok = k->plain_ok,
		.max_reply_line = k->max_reply_line,
	};
	if (k->user) {
		size_t n = 0, ul = strlen(k->user), pl = strlen(k->pass);
		uint8_t plain[256];
		plain[0] = 0;
		memcpy(plain + 1, k->user, ul);
		plain[1 + ul] = 0;
		memcpy(plain + 2 + ul, k->pass, pl);
		add_secret(d, &n, plain, ul + pl + 2);
		add_secret(d, &n, (const uint8_t *)k->user, ul);
		add_secret(d, &n, (const uint8_t *)k->pass, pl);
		d->secrets[n] = k->pass;
	}
	d->c = smtp_client_new(&cfg);
	assert_non_null(d->c);
}

static void drv_clear(struct drv *d)
{
	smtp_client_free(&d->c);
	assert_null(d->c);
	buf_release(&d->trace);
	buf_release(&d->log);
	buf_release(&d->wire);
	for (size_t i = 0; i < 3; i++)
		free(d->owned[i]);
}

static void put_reply(struct buf *b, const struct smtp_client_reply *r)
{
	buf_printf(b, "%u", r->code);
	if (r->status[0])
		buf_printf(b, "/%s", r->status);
}

static void on_done(struct drv *d, const struct smtp_client_out *o)
{
	const struct msg *m = d->k->msgs[d->nmsg - 1];
	if (o->nresults != m->nrcpts)
		die("DONE with the wrong number of results");
	buf_append_str(&d->trace, "[DONE");
	for (size_t i = 0; i < o->nresults; i++) {
		const struct smtp_client_reply *r = &o->results[i].reply;
		if (r->code != 0 && (r->code < 200 || r->code > 599))
			die("result code out of range");
		if (o->results[i].accepted && r->code / 100 != 2)
			die("accepted without a 2xx");
		buf_append_str(&d->trace, i ? ", " : " ");
		put_reply(&d->trace, r);
		buf_append_str(&d->trace, o->results[i].accepted ? " ok" : " no");
		if (r->code == 0)
			buf_printf(&d->trace, " (%s)", r->text);
	}
	buf_append_str(&d->trace, "]\n");
}

static void start_next(struct drv *d)
{
	const struct msg *m = d->nmsg < 3 ? d->k->msgs[d->nmsg] : NULL;
	if (m) {
		d->nmsg++;
		size_t bl = m->body_len ? m->body_len : strlen(m->body);
		if (!smtp_client_start_message(d->c, m->from, m->rcpts, m->nrcpts,
			    (const uint8_t *)m->body, bl, m->eight))
			die("start_message refused at READY");
	} else if (!d->k->no_quit) {
		struct smtp_client_in in = {.kind = SMTPC_IN_QUIT};
		smtp_client_input(d->c, &in);
	}
}

/* Takes every output, acting as the adapter. Returns the items taken. */
static size_t drain(struct drv *d)
{
	size_t taken = 0;
	struct smtp_client_out o;
	while (smtp_client_next(d->c, &o)) {
		taken++;
		if (d->closed)
			die("output after CLOSE");
		switch (o.kind) {
		case SMTPC_OUT_SEND:
			if (o.len == 0)
				die("empty SEND");
			check_wire(d, o.data, o.len);
			buf_append(&d->trace, o.data, o.len);
			buf_append(&d->wire, o.data, o.len);
			break;
		case SMTPC_OUT_LOG:
			if (memchr(o.data, '\n', o.len) || memchr(o.data, '\r', o.len))
				die("line break in a log item");
			for (size_t i = 0; i < 4; i++)
				if (d->secrets[i] && memmem(o.data, o.len, d->secrets[i],
					strlen(d->secrets[i])))
					die("a secret in a log item");
			buf_append(&d->log, o.data, o.len);
			buf_append_byte(&d->log, '\n');
			break;
		case SMTPC_OUT_STARTTLS: {
			buf_append_str(&d->trace, "[STARTTLS]\n");
			d->seg_over = true;
			struct smtp_client_in in = {.kind = d->k->tls_fail
				? SMTPC_IN_TLS_FAILED : SMTPC_IN_TLS_OK};
			smtp_client_input(d->c, &in);
			break;
		}
		case SMTPC_OUT_READY:
			buf_append_str(&d->trace, "[READY]\n");
			start_next(d);
			break;
		case SMTPC_OUT_DONE:
			on_done(d, &o);
			break;
		case SMTPC_OUT_CLOSE:
			for (size_t i = 0; i < 4; i++)
				if (d->secrets[i] && strstr(o.close_reply.text, d->secrets[i]))
					die("a secret in the CLOSE reply");
			buf_printf(&d->trace, "[CLOSE %u %s", o.close_reply.code,
				o.close_permanent ? "perm" : "temp");
			if (o.close_reply.status[0])
				buf_printf(&d->trace, " %s", o.close_reply.status);
			if (o.close_reply.text[0])
				buf_printf(&d->trace, ": %s", o.close_reply.text);
			buf_append_str(&d->trace, "]\n");
			d->closed = true;
			break;
		}
	}
	return taken;
}

static size_t chunk_len(struct drv *d, enum split sp, size_t left)
{
	size_t n = left;
	if (sp == SPLIT_BYTES) {
		n = 1;
	} else if (sp == SPLIT_RANDOM) {
		d->rng = d->rng * 1103515245u + 12345u;
		n = (d->rng >> 16) % 13 + 1;
	}
	return n < left ? n : left;
}

static void feed_segment(struct drv *d, const char *seg, enum split sp)
{
	size_t len = strlen(seg), off = 0;
	d->seg_over = false;
	while (off < len && !d->closed && !d->seg_over) {
		size_t n = chunk_len(d, sp, len - off);
		size_t took = smtp_client_feed(d->c, (const uint8_t *)seg + off, n);
		if (took > n)
			die("feed took more than it was given");
		off += took;
		if (drain(d) == 0 && took == 0)
			break; /* the core waits for something else */
	}
}

static void run(struct drv *d, enum split sp)
{
	drain(d);
	for (size_t s = 0; s < 3 && d->k->in[s] && !d->closed; s++)
		feed_segment(d, d->k->in[s], sp);
	if (d->k->end != END_NONE && !d->closed) {
		struct smtp_client_in in = {.kind = d->k->end == END_EOF
			? SMTPC_IN_EOF : SMTPC_IN_TIMEOUT};
		smtp_client_input(d->c, &in);
		drain(d);
	}
	if (d->closed) {
		/* after CLOSE: nothing taken, nothing given */
		struct smtp_client_out o;
		assert_int_equal(smtp_client_feed(d->c, (const uint8_t *)"250 x\r\n", 7), 0);
		struct smtp_client_in in = {.kind = SMTPC_IN_EOF};
		smtp_client_input(d->c, &in);
		assert_false(smtp_client_next(d->c, &o));
		assert_int_equal(smtp_client_timeout(d->c), 0);
	}
}

static char *printable(const char *p, size_t n)
{
	char *o = malloc(n * 4 + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			o[k++] = '\\';
			o[k++] = 'r';
		} else if (p[i] == '\n') {
			o[k++] = '\\';
			o[k++] = 'n';
			o[k++] = '\n';
		} else {
			o[k++] = p[i];
		}
	}
	o[k] = '\0';
	return o;
}

static void run_case(const struct ccase *k)
{
	static const struct {
		enum split sp;
		unsigned seed;
		const char *name;
	} modes[] = {
		{SPLIT_WHOLE, 1, "whole"},
		{SPLIT_BYTES, 1, "bytes"},
		{SPLIT_RANDOM, 1, "random-1"},
		{SPLIT_RANDOM, 77, "random-77"},
		{SPLIT_RANDOM, 4242, "random-4242"},
	};
	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		struct drv d;
		drv_init(&d, k, modes[m].seed);
		run(&d, modes[m].sp);
		const char *t = buf_cstr(&d.trace);
		const char *log = buf_cstr(&d.log);
		if (strcmp(t, k->out) != 0) {
			char *a = printable(t, strlen(t));
			char *e = printable(k->out, strlen(k->out));
			print_error("case %s (%s):\n--- got:\n%s\n--- expected:\n%s\n"
				"--- log:\n%s", k->name, modes[m].name, a, e, log);
			free(a);
			free(e);
			drv_clear(&d);
			fail();
		}
		if (k->log_has && !strstr(log, k->log_has)) {
			print_error("case %s: log lacks \"%s\":\n%s\n", k->name,
				k->log_has, log);
			drv_clear(&d);
			fail();
		}
		drv_clear(&d);
	}
}

/* ---- messages ---- */

static const struct msg m_one = {"a@example.org", {"b@example.net"}, 1, "hi\n", 0, false};
static const struct msg m_two = {"c@example.org", {"d@example.net"}, 1, "second\n", 0, false};
static const struct msg m_three = {"a@example.org",
	{"x@example.net", "y@example.net", "z@example.net"}, 3, "hi\n", 0, false};
static const struct msg m_pair = {"a@example.org",
	{"x@example.net", "y@example.net"}, 2, "hi\n", 0, false};
static const struct msg m_null = {"", {"b@example.net"}, 1, "bounce\n", 0, false};
static const struct msg m_8bit = {"a@example.org", {"b@example.net"}, 1,
	"caf\xc3\xa9\n", 0, true};
static const struct msg m_dots = {"a@example.org", {"b@example.net"}, 1,
	".a\nb\r\n..c\n.\n\nno-eol", 0, false};
static const struct msg m_cr = {"a@example.org", {"b@example.net"}, 1,
	"a\rb\r\r\n.\r", 0, false};
static const struct msg m_empty = {"a@example.org", {"b@example.net"}, 1, "", 0, false};
static const struct msg m_big = {"a@example.org", {"x@example.net", "y@example.net"}, 2,
	"0123456789012345678901234567890123456789\n", 0, false};
static const struct msg m_badrcpt = {"a@example.org",
	{"ok@example.net", "bad\r\nRSET@example.net", "", "<x>@example.net"}, 4,
	"hi\n", 0, false};
static const struct msg m_allbad = {"a@example.org", {"a\rb@example.net"}, 1,
	"hi\n", 0, false};
static const struct msg m_badfrom = {"a@example.org>\r\nRCPT TO:<evil@example.net",
	{"b@example.net", "c@example.net"}, 2, "hi\n", 0, false};
static const struct msg m_norcpt = {"a@example.org", {NULL}, 0, "hi\n", 0, false};

#define MAIL1 "MAIL FROM:<a@example.org>"
#define RCPT1 "RCPT TO:<b@example.net>\r\n"
#define BODY1 "hi\r\n.\r\n"
/* m_one with PIPELINING and SIZE */
#define GROUP1 MAIL1 " SIZE=4\r\n" RCPT1 "DATA\r\n"
/* m_one, one command at a time */
#define MAIL1B MAIL1 "\r\n"

#define C(n, ...) {.name = n, __VA_ARGS__}

static const struct ccase cases[] = {
	/* -- transactions -- */
	C("pipelined_group_with_mixed_rcpt_results",
		.in = {START_P MAIL_OK RCPT_OK UNKNOWN
			"450 4.2.1 Mailbox busy\r\n" GO QUEUED BYE},
		.msgs = {&m_three},
		.out = START_C MAIL1 " SIZE=4\r\nRCPT TO:<x@example.net>\r\n"
			"RCPT TO:<y@example.net>\r\nRCPT TO:<z@example.net>\r\nDATA\r\n"
			BODY1 "[DONE 250/2.0.0 ok, 550/5.1.1 no, 450/4.2.1 no]\n"
			"[READY]\n" QUIT_OK,
		.log_has = "C: RCPT TO:<z@example.net>"),
	C("non_pipelined_sends_one_command_at_a_time",
		.in = {START_B MAIL_OK RCPT_OK UNKNOWN RCPT_OK GO QUEUED BYE},
		.msgs = {&m_three},
		.out = START_C MAIL1B "RCPT TO:<x@example.net>\r\n"
			"RCPT TO:<y@example.net>\r\nRCPT TO:<z@example.net>\r\n"
			"DATA\r\n" BODY1
			"[DONE 250/2.0.0 ok, 550/5.1.1 no, 250/2.0.0 ok]\n[READY]\n"
			QUIT_OK,
		.log_has = "S: 250 2.0.0 queued"),
	C("non_pipelined_all_refused_stops_before_data_then_rset",
		.in = {START_B MAIL_OK UNKNOWN "551 5.1.6 moved\r\n"
			"250 2.0.0 reset\r\n" "250 2.1.0 Ok\r\n" RCPT_OK GO QUEUED BYE},
		.msgs = {&m_pair, &m_two},
		.out = START_C MAIL1B "RCPT TO:<x@example.net>\r\nRCPT TO:<y@example.net>\r\n"
			"[DONE 550/5.1.1 no, 551/5.1.6 no]\n[READY]\n"
			"RSET\r\nMAIL FROM:<c@example.org>\r\nRCPT TO:<d@example.net>\r\n"
			"DATA\r\nsecond\r\n.\r\n[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("pipelined_all_refused_data_refused_then_rset",
		.in = {START_P MAIL_OK UNKNOWN UNKNOWN "554 5.5.1 no valid recipients\r\n"
			"250 2.0.0 reset\r\n" MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_pair, &m_two},
		.out = START_C MAIL1 " SIZE=4\r\nRCPT TO:<x@example.net>\r\n"
			"RCPT TO:<y@example.net>\r\nDATA\r\n"
			"[DONE 550/5.1.1 no, 550/5.1.1 no]\n[READY]\n"
			"RSET\r\nMAIL FROM:<c@example.org> SIZE=8\r\nRCPT TO:<d@example.net>\r\n"
			"DATA\r\nsecond\r\n.\r\n[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("pipelined_354_without_recipients_sends_only_dot",
		.in = {START_P MAIL_OK UNKNOWN GO "250 2.0.0 delivered to nobody\r\n"
			BYE},
		.msgs = {&m_one, &m_norcpt},
		.out = START_C GROUP1 ".\r\n[DONE 550/5.1.1 no]\n[READY]\n"
			"[DONE]\n[READY]\n" QUIT_OK),
	C("pipelined_mail_refused_results_are_mail_reply",
		.in = {START_P "553 5.7.1 sender rejected\r\n"
			"503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"
			"503 5.5.1 need MAIL\r\n" "250 2.0.0 reset\r\n" MAIL_OK RCPT_OK
			GO QUEUED BYE},
		.msgs = {&m_pair, &m_two},
		.out = START_C MAIL1 " SIZE=4\r\nRCPT TO:<x@example.net>\r\n"
			"RCPT TO:<y@example.net>\r\nDATA\r\n"
			"[DONE 553/5.7.1 no, 553/5.7.1 no]\n[READY]\n"
			"RSET\r\nMAIL FROM:<c@example.org> SIZE=8\r\nRCPT TO:<d@example.net>\r\n"
			"DATA\r\nsecond\r\n.\r\n[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("pipelined_mail_refused_and_354_sends_only_dot",
		.in = {START_P "451 4.3.0 try later\r\n" "503 5.5.1 need MAIL\r\n"
			GO "554 5.5.1 no\r\n" BYE},
		.msgs = {&m_one},
		.out = START_C GROUP1 ".\r\n[DONE 451/4.3.0 no]\n[READY]\n" QUIT_OK),
	C("rset_after_failed_mail_waits_for_its_reply",
		.in = {START_B "550 5.7.1 go away\r\n" "250 2.0.0 Ok\r\n"
			"250 2.1.0 Ok\r\n" RCPT_OK GO QUEUED BYE},
		.msgs = {&m_one, &m_two},
		.out = START_C MAIL1B "[DONE 550/5.7.1 no]\n[READY]\nRSET\r\n"
			"MAIL FROM:<c@example.org>\r\nRCPT TO:<d@example.net>\r\n"
			"DATA\r\nsecond\r\n.\r\n[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("rset_refused_ends_the_session",
		.in = {START_B "550 5.7.1 go away\r\n" "502 5.5.1 what\r\n"},
		.msgs = {&m_one, &m_two},
		.out = START_C MAIL1B "[DONE 550/5.7.1 no]\n[READY]\nRSET\r\nQUIT\r\n"
			"[DONE 0 no (RSET refused: 502 5.5.1 what)]\n"
			"[CLOSE 0 temp: RSET refused: 502 5.5.1 what]\n"),
	C("two_messages_reuse_the_session",
		.in = {START_P MAIL_OK RCPT_OK GO QUEUED MAIL_OK RCPT_OK GO
			"250 2.0.0 again\r\n" BYE},
		.msgs = {&m_one, &m_two},
		.out = START_C GROUP1 BODY1 "[DONE 250/2.0.0 ok]\n[READY]\n"
			"MAIL FROM:<c@example.org> SIZE=8\r\nRCPT TO:<d@example.net>\r\n"
			"DATA\r\nsecond\r\n.\r\n[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("null_reverse_path",
		.in = {START_B MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_null},
		.out = START_C "MAIL FROM:<>\r\n" RCPT1 "DATA\r\nbounce\r\n.\r\n"
			"[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("size_over_server_limit_fails_at_once",
		.in = {GREET "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 40\r\n" BYE},
		.msgs = {&m_big},
		.out = START_C "[DONE 552/5.3.4 no, 552/5.3.4 no]\n[READY]\n" QUIT_OK),
	C("size_at_server_limit_is_sent_with_size_param",
		.in = {GREET "250-mx.test\r\n250 SIZE 42\r\n" MAIL_OK RCPT_OK
			RCPT_OK GO QUEUED BYE},
		.msgs = {&m_big},
		.out = START_C "MAIL FROM:<a@example.org> SIZE=42\r\n"
			"RCPT TO:<x@example.net>\r\nRCPT TO:<y@example.net>\r\nDATA\r\n"
			"0123456789012345678901234567890123456789\r\n.\r\n"
			"[DONE 250/2.0.0 ok, 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("size_without_limit_still_declares_size",
		.in = {GREET "250-mx.test\r\n250 SIZE\r\n" MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_one},
		.out = START_C MAIL1 " SIZE=4\r\n" RCPT1 "DATA\r\n" BODY1
			"[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("eightbitmime_offered_adds_body_param",
		.in = {START_P MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_8bit},
		.out = START_C MAIL1 " SIZE=7 BODY=8BITMIME\r\n" RCPT1 "DATA\r\n"
			"caf\xc3\xa9\r\n.\r\n[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("eightbitmime_not_offered_no_body_param",
		.in = {START_B MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_8bit},
		.out = START_C MAIL1B RCPT1 "DATA\r\n"
			"caf\xc3\xa9\r\n.\r\n[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("dot_stuffing_and_final_crlf",
		.in = {START_B MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_dots},
		.out = START_C MAIL1B RCPT1 "DATA\r\n"
			"..a\r\nb\r\n...c\r\n..\r\n\r\nno-eol\r\n.\r\n"
			"[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("bare_cr_is_a_line_end",
		.in = {START_B MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_cr},
		.out = START_C MAIL1B RCPT1 "DATA\r\na\r\nb\r\n\r\n..\r\n.\r\n"
			"[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("empty_body_is_only_the_dot",
		.in = {START_B MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_empty},
		.out = START_C MAIL1B RCPT1 "DATA\r\n.\r\n"
			"[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("bad_recipients_refused_locally_others_sent",
		.in = {START_P MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_badrcpt},
		.out = START_C MAIL1 " SIZE=4\r\nRCPT TO:<ok@example.net>\r\nDATA\r\n"
			BODY1 "[DONE 250/2.0.0 ok, 553/5.1.3 no, 553/5.1.3 no, 553/5.1.3 no]\n"
			"[READY]\n" QUIT_OK),
	C("only_bad_recipients_nothing_sent",
		.in = {START_P BYE},
		.msgs = {&m_allbad},
		.out = START_C "[DONE 553/5.1.3 no]\n[READY]\n" QUIT_OK),
	C("bad_sender_refused_locally",
		.in = {START_P BYE},
		.msgs = {&m_badfrom},
		.out = START_C "[DONE 553/5.1.7 no, 553/5.1.7 no]\n[READY]\n" QUIT_OK),
	C("no_recipients_done_at_once",
		.in = {START_P BYE},
		.msgs = {&m_norcpt},
		.out = START_C "[DONE]\n[READY]\n" QUIT_OK),
	/* -- greeting and EHLO -- */
	C("helo_fallback_after_ehlo_502",
		.in = {GREET "502 5.5.1 EHLO not implemented\r\n" "250 mx.test\r\n"
			MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_one},
		.out = EHLO HELO "[READY]\n" MAIL1B RCPT1 "DATA\r\n" BODY1
			"[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("helo_fallback_after_ehlo_500",
		.in = {GREET "500 what\r\n" "250 mx.test\r\n" BYE},
		.out = EHLO HELO "[READY]\n" QUIT_OK),
	C("helo_refused_is_permanent",
		.in = {GREET "500 what\r\n" "550 no HELO either\r\n"},
		.out = EHLO HELO "QUIT\r\n[CLOSE 550 perm: no HELO either]\n"),
	C("helo_4xx_is_temporary",
		.in = {GREET "500 what\r\n" "450 later\r\n"},
		.out = EHLO HELO "QUIT\r\n[CLOSE 450 temp: later]\n"),
	C("ehlo_4xx_is_temporary_no_helo",
		.in = {GREET "451 4.3.0 busy\r\n"},
		.out = EHLO "QUIT\r\n[CLOSE 451 temp 4.3.0: 4.3.0 busy]\n"),
	C("greeting_554_is_permanent",
		.in = {"554 5.7.1 no service for you\r\n"},
		.out = "QUIT\r\n[CLOSE 554 perm 5.7.1: 5.7.1 no service for you]\n"),
	C("greeting_450_is_temporary",
		.in = {"450-busy\r\n450 try later\r\n"},
		.out = "QUIT\r\n[CLOSE 450 temp: busy / try later]\n"),
	C("greeting_421_closes_without_quit",
		.in = {"421 4.3.2 shutting down\r\n"},
		.out = "[CLOSE 421 temp 4.3.2: 4.3.2 shutting down]\n"),
	C("greeting_multiline_and_bare_lf",
		.in = {"220-mx.test\n220-more\r\n220 ready\n" "250 mx.test\n" BYE},
		.out = START_C QUIT_OK,
		.log_has = "S: 220 mx.test / more / ready"),
	C("greeting_250_is_a_protocol_error",
		.in = {"250 hello\r\n"},
		.out = "QUIT\r\n[CLOSE 0 temp: protocol error: unexpected reply 250 "
			"during greeting]\n"),
	C("eof_at_greeting",
		.in = {"220-mx.te"}, .end = END_EOF,
		.out = "[CLOSE 0 temp: connection closed by server during greeting]\n"),
	C("timeout_at_greeting",
		.in = {""}, .end = END_TIMEOUT,
		.out = "[CLOSE 0 temp: timeout during greeting]\n"),
	C("timeout_during_ehlo",
		.in = {GREET "250-mx"}, .end = END_TIMEOUT,
		.out = EHLO "[CLOSE 0 temp: timeout during EHLO]\n"),
	C("quit_then_eof_is_normal",
		.in = {START_P}, .end = END_EOF,
		.out = START_C QUIT_OK),
	C("quit_then_odd_reply_still_closes",
		.in = {START_P "500 what\r\n"},
		.out = START_C QUIT_OK),
	C("idle_without_quit_stays_open",
		.in = {START_P}, .no_quit = true,
		.out = START_C),
	C("eof_while_idle",
		.in = {START_P}, .no_quit = true, .end = END_EOF,
		.out = START_C "[CLOSE 0 temp: connection closed by server during idle time]\n"),
	C("unsolicited_421_while_idle_closes",
		.in = {START_P "421 4.4.2 idle too long\r\n"}, .no_quit = true,
		.out = START_C "[CLOSE 421 temp 4.4.2: 4.4.2 idle too long]\n"),
	C("unsolicited_reply_while_idle_is_protocol_error",
		.in = {START_P "250 surprise\r\n"}, .no_quit = true,
		.out = START_C "QUIT\r\n[CLOSE 0 temp: protocol error: unexpected "
			"reply 250 during idle time]\n"),
	/* -- 4xx/5xx at each stage -- */
	C("mail_4xx_is_result_for_all",
		.in = {START_B "451 4.3.0 local problem\r\n" BYE},
		.msgs = {&m_pair},
		.out = START_C MAIL1B "[DONE 451/4.3.0 no, 451/4.3.0 no]\n[READY]\n" QUIT_OK),
	C("data_refused_is_result_for_accepted_only",
		.in = {START_B MAIL_OK RCPT_OK UNKNOWN "451 4.3.0 no DATA now\r\n" BYE},
		.msgs = {&m_pair},
		.out = START_C MAIL1B "RCPT TO:<x@example.net>\r\nRCPT TO:<y@example.net>\r\n"
			"DATA\r\n[DONE 451/4.3.0 no, 550/5.1.1 no]\n[READY]\n" QUIT_OK),
	C("final_5xx_refuses_accepted",
		.in = {START_P MAIL_OK RCPT_OK UNKNOWN GO "554 5.6.0 content rejected\r\n"
			BYE},
		.msgs = {&m_pair},
		.out = START_C MAIL1 " SIZE=4\r\nRCPT TO:<x@example.net>\r\n"
			"RCPT TO:<y@example.net>\r\nDATA\r\n" BODY1
			"[DONE 554/5.6.0 no, 550/5.1.1 no]\n[READY]\n" QUIT_OK),
	C("final_4xx_is_temporary_result",
		.in = {START_P MAIL_OK RCPT_OK GO "452 4.3.1 disk full\r\n" BYE},
		.msgs = {&m_one},
		.out = START_C GROUP1 BODY1 "[DONE 452/4.3.1 no]\n[READY]\n" QUIT_OK),
	C("final_reply_after_failed_final_then_no_rset",
		.in = {START_P MAIL_OK RCPT_OK GO "554 5.6.0 no\r\n" MAIL_OK RCPT_OK GO
			QUEUED BYE},
		.msgs = {&m_one, &m_two},
		.out = START_C GROUP1 BODY1 "[DONE 554/5.6.0 no]\n[READY]\n"
			"MAIL FROM:<c@example.org> SIZE=8\r\nRCPT TO:<d@example.net>\r\n"
			"DATA\r\nsecond\r\n.\r\n[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("rcpt_421_mid_group_ends_session",
		.in = {START_P MAIL_OK RCPT_OK "421 4.3.2 shutting down\r\n"},
		.msgs = {&m_three},
		.out = START_C MAIL1 " SIZE=4\r\nRCPT TO:<x@example.net>\r\n"
			"RCPT TO:<y@example.net>\r\nRCPT TO:<z@example.net>\r\nDATA\r\n"
			"[DONE 421/4.3.2 no, 421/4.3.2 no, 421/4.3.2 no]\n"
			"[CLOSE 421 temp 4.3.2: 4.3.2 shutting down]\n"),
	C("data_3xx_other_than_354_is_protocol_error",
		.in = {START_B MAIL_OK RCPT_OK "334 huh\r\n"},
		.msgs = {&m_one},
		.out = START_C MAIL1B RCPT1 "DATA\r\nQUIT\r\n"
			"[DONE 0 no (protocol error: unexpected reply 334 during DATA)]\n"
			"[CLOSE 0 temp: protocol error: unexpected reply 334 during DATA]\n"),
	C("eof_mid_data_after_body",
		.in = {START_P MAIL_OK RCPT_OK GO}, .end = END_EOF,
		.msgs = {&m_one},
		.out = START_C GROUP1 BODY1
			"[DONE 0 no (connection closed by server during end of data)]\n"
			"[CLOSE 0 temp: connection closed by server during end of data]\n"),
	C("timeout_waiting_for_354",
		.in = {START_P MAIL_OK UNKNOWN RCPT_OK}, .end = END_TIMEOUT,
		.msgs = {&m_pair},
		.out = START_C MAIL1 " SIZE=4\r\nRCPT TO:<x@example.net>\r\n"
			"RCPT TO:<y@example.net>\r\nDATA\r\n"
			"[DONE 550/5.1.1 no, 0 no (timeout during DATA)]\n"
			"[CLOSE 0 temp: timeout during DATA]\n"),
	C("eof_mid_pipelined_group_keeps_refusals",
		.in = {START_P MAIL_OK UNKNOWN}, .end = END_EOF,
		.msgs = {&m_three},
		.out = START_C MAIL1 " SIZE=4\r\nRCPT TO:<x@example.net>\r\n"
			"RCPT TO:<y@example.net>\r\nRCPT TO:<z@example.net>\r\nDATA\r\n"
			"[DONE 550/5.1.1 no, 0 no (connection closed by server during RCPT), "
			"0 no (connection closed by server during RCPT)]\n"
			"[CLOSE 0 temp: connection closed by server during RCPT]\n"),
	/* -- malformed replies -- */
	C("reply_without_code_is_protocol_error",
		.in = {"hello there\r\n"},
		.out = "QUIT\r\n[CLOSE 0 temp: protocol error: reply line without a "
			"3-digit code]\n"),
	C("four_digit_code_is_protocol_error",
		.in = {"2200 hi\r\n"},
		.out = "QUIT\r\n[CLOSE 0 temp: protocol error: no space or hyphen "
			"after the reply code]\n"),
	C("code_out_of_range_is_protocol_error",
		.in = {"199 hi\r\n"},
		.out = "QUIT\r\n[CLOSE 0 temp: protocol error: reply code out of range]\n"),
	C("code_600_is_protocol_error",
		.in = {START_P "600 what\r\n"}, .no_quit = true,
		.out = START_C "QUIT\r\n[CLOSE 0 temp: protocol error: reply code out of range]\n"),
	C("short_line_is_protocol_error",
		.in = {"22\r\n"},
		.out = "QUIT\r\n[CLOSE 0 temp: protocol error: reply line without a "
			"3-digit code]\n"),
	C("mixed_codes_in_multiline_is_protocol_error",
		.in = {START_P MAIL_OK "250-2.1.5 one\r\n251 2.1.5 two\r\n"},
		.msgs = {&m_one},
		.out = START_C GROUP1 "QUIT\r\n"
			"[DONE 0 no (protocol error: mixed codes in a multiline reply)]\n"
			"[CLOSE 0 temp: protocol error: mixed codes in a multiline reply]\n"),
	C("over_long_reply_line_is_protocol_error",
		.max_reply_line = 32,
		.in = {"220 0123456789012345678901234567890123456789\r\n"},
		.out = "QUIT\r\n[CLOSE 0 temp: protocol error: reply line too long]\n"),
	C("reply_line_at_limit_is_taken",
		.max_reply_line = 20,
		.in = {"220 01234567890123\r\n" "250 mx.test\r\n" BYE},
		.out = START_C QUIT_OK),
	C("controls_in_text_are_replaced",
		.in = {"220 a\x01" "b\x7f" "c\xff\r\n" "250 mx.test\r\n" BYE},
		.out = START_C QUIT_OK,
		.log_has = "S: 220 a?b?c?"),
	/* -- enhanced status codes -- */
	C("multiline_reply_with_enhanced_codes",
		.in = {START_B "250-2.1.0 first line\r\n250 2.1.0 second line\r\n"
			RCPT_OK GO "250-2.6.0 <id@mx> queued\r\n250 2.0.0 really\r\n" BYE},
		.msgs = {&m_one},
		.out = START_C MAIL1B RCPT1 "DATA\r\n" BODY1
			"[DONE 250/2.6.0 ok]\n[READY]\n" QUIT_OK,
		.log_has = "S: 250 2.6.0 <id@mx> queued / 2.0.0 really"),
	C("status_with_three_digit_parts",
		.in = {START_B MAIL_OK "550 5.123.456 long\r\n" BYE},
		.msgs = {&m_one},
		.out = START_C MAIL1B RCPT1 "[DONE 550/5.123.456 no]\n[READY]\n" QUIT_OK),
	/* -- STARTTLS -- */
	C("starttls_then_ehlo_again_forgets_extensions",
		.starttls = true,
		.in = {GREET EHLO_TLS "220 2.0.0 go ahead\r\n",
			EHLO_BASIC MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_one},
		.out = EHLO "STARTTLS\r\n[STARTTLS]\n" EHLO "[READY]\n" MAIL1B RCPT1
			"DATA\r\n" BODY1 "[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK,
		.log_has = "TLS started"),
	C("starttls_bytes_after_220_are_discarded",
		.starttls = true,
		.in = {GREET EHLO_TLS "220 2.0.0 go ahead\r\n"
			"250-mx.test\r\n250 PIPELINING\r\n250 2.1.0 injected\r\n",
			"250 mx.test\r\n" BYE},
		.out = EHLO "STARTTLS\r\n[STARTTLS]\n" EHLO "[READY]\n" QUIT_OK),
	C("starttls_not_used_unless_configured",
		.in = {GREET EHLO_TLS BYE},
		.out = START_C QUIT_OK),
	C("starttls_refused_goes_on_in_clear",
		.starttls = true,
		.in = {GREET EHLO_TLS "454 4.7.0 TLS not available\r\n" BYE},
		.out = EHLO "STARTTLS\r\n[READY]\n" QUIT_OK),
	C("starttls_refused_when_required_is_temp",
		.starttls = true, .tls_required = true,
		.in = {GREET EHLO_TLS "454 4.7.0 TLS not available\r\n"},
		.msgs = {&m_one},
		.out = EHLO "STARTTLS\r\nQUIT\r\n[CLOSE 0 temp: TLS required but "
			"STARTTLS refused: 454 4.7.0 TLS not available]\n"),
	C("tls_required_not_offered_sends_no_mail",
		.tls_required = true,
		.in = {START_P BYE},
		.msgs = {&m_one},
		.out = EHLO "QUIT\r\n[CLOSE 0 temp: TLS required but the server does "
			"not offer STARTTLS]\n"),
	C("tls_required_after_helo_fallback",
		.tls_required = true,
		.in = {GREET "502 no\r\n250 mx.test\r\n"},
		.out = EHLO HELO "QUIT\r\n[CLOSE 0 temp: TLS required but the server "
			"does not offer STARTTLS]\n"),
	C("tls_required_satisfied_by_implicit_tls",
		.tls_required = true, .tls_active = true,
		.in = {START_B BYE},
		.out = START_C QUIT_OK),
	C("tls_handshake_failure_closes_without_quit",
		.starttls = true, .tls_fail = true,
		.in = {GREET EHLO_TLS "220 go\r\n"},
		.out = EHLO "STARTTLS\r\n[STARTTLS]\n[CLOSE 0 temp: TLS handshake failed]\n"),
	C("starttls_5xx_not_required_goes_on",
		.starttls = true,
		.in = {GREET EHLO_TLS "502 5.5.1 no\r\n" BYE},
		.out = EHLO "STARTTLS\r\n[READY]\n" QUIT_OK),
	/* -- AUTH -- */
	C("auth_plain_with_initial_response_redacted",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH LOGIN PLAIN\r\n"
			"235 2.7.0 Authentication successful\r\n" BYE},
		.out = EHLO "AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\n[READY]\n" QUIT_OK,
		.log_has = "C: AUTH PLAIN <redacted>"),
	C("auth_login_when_plain_not_offered",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH=LOGIN\r\n"
			"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 ok\r\n" BYE},
		.out = EHLO "AUTH LOGIN\r\ndXNlcg==\r\nczNjcmV0LXB3\r\n[READY]\n" QUIT_OK,
		.log_has = "C: <redacted>"),
	C("auth_after_starttls",
		.starttls = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET EHLO_TLS "220 go\r\n",
			"250-mx.test\r\n250 AUTH PLAIN\r\n235 ok\r\n" BYE},
		.out = EHLO "STARTTLS\r\n[STARTTLS]\n" EHLO
			"AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\n[READY]\n" QUIT_OK),
	C("auth_refused_5xx_is_permanent",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH PLAIN\r\n" "535 5.7.8 bad credentials\r\n"},
		.out = EHLO "AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\nQUIT\r\n"
			"[CLOSE 535 perm 5.7.8: 5.7.8 bad credentials]\n"),
	C("auth_4xx_is_temporary",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH PLAIN\r\n" "454 4.7.0 try later\r\n"},
		.out = EHLO "AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\nQUIT\r\n"
			"[CLOSE 454 temp 4.7.0: 4.7.0 try later]\n"),
	C("auth_login_refused_at_password",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH LOGIN\r\n"
			"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 no\r\n"},
		.out = EHLO "AUTH LOGIN\r\ndXNlcg==\r\nczNjcmV0LXB3\r\nQUIT\r\n"
			"[CLOSE 535 perm 5.7.8: 5.7.8 no]\n"),
	C("auth_login_refused_at_start",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH LOGIN\r\n" "504 5.5.4 no LOGIN\r\n"},
		.out = EHLO "AUTH LOGIN\r\nQUIT\r\n[CLOSE 504 perm 5.5.4: 5.5.4 no LOGIN]\n"),
	C("auth_never_in_clear_by_default",
		.user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH PLAIN\r\n"},
		.out = EHLO "QUIT\r\n[CLOSE 0 temp: AUTH not attempted: the session "
			"is not encrypted]\n"),
	C("auth_in_clear_when_allowed",
		.user = "user", .pass = "s3cret-pw", .plain_ok = true,
		.in = {GREET "250-mx.test\r\n250 AUTH PLAIN\r\n" "235 ok\r\n" BYE},
		.out = EHLO "AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\n[READY]\n" QUIT_OK),
	C("auth_without_usable_mechanism",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH CRAM-MD5 XOAUTH2\r\n"},
		.out = EHLO "QUIT\r\n[CLOSE 0 temp: AUTH required but the server "
			"offers neither PLAIN nor LOGIN]\n"),
	C("auth_echoed_secret_is_redacted",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH PLAIN\r\n"
			"535 5.7.8 bad: AHVzZXIAczNjcmV0LXB3\r\n"},
		.out = EHLO "AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\nQUIT\r\n"
			"[CLOSE 535 perm 5.7.8: <redacted>]\n",
		.log_has = "S: 535 <redacted>"),
	C("escaping_cannot_forge_a_secret_into_the_log",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		/* "\\" is logged as "\x5c": with "zNjcmV0LXB3" after it, that
		 * would spell base64("s3cret-pw") */
		.in = {"220 \\zNjcmV0LXB3\r\n250-mx.test\r\n250 AUTH PLAIN\r\n"
			"235 ok\r\n" BYE},
		.out = EHLO "AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\n[READY]\n" QUIT_OK,
		.log_has = "S: <redacted>"),
	C("auth_334_after_initial_response_is_cancelled",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH PLAIN\r\n" "334 \r\n"},
		.out = EHLO "AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\n*\r\nQUIT\r\n"
			"[CLOSE 0 temp: protocol error: unexpected reply 334 during AUTH]\n"),
	C("auth_then_transaction",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"
			"235 ok\r\n" MAIL_OK RCPT_OK GO QUEUED BYE},
		.msgs = {&m_one},
		.out = EHLO "AUTH PLAIN AHVzZXIAczNjcmV0LXB3\r\n[READY]\n" MAIL1 "\r\n"
			RCPT1 "DATA\r\n" BODY1 "[DONE 250/2.0.0 ok]\n[READY]\n" QUIT_OK),
	C("auth_eof_mid_exchange",
		.tls_active = true, .user = "user", .pass = "s3cret-pw",
		.in = {GREET "250-mx.test\r\n250 AUTH LOGIN\r\n" "334 VXNlcm5hbWU6\r\n"}, .end = END_EOF,
		.out = EHLO "AUTH LOGIN\r\ndXNlcg==\r\n"
			"[CLOSE 0 temp: connection closed by server during AUTH]\n"),
};

static void test_case(void **state)
{
	run_case(*state);
}

/* ---- hand-written cases ---- */

static struct smtp_client *new_client(const struct smtp_client_cfg *cfg)
{
	struct smtp_client *c = smtp_client_new(cfg);
	assert_non_null(c);
	return c;
}

/* Takes outputs into sent (SEND bytes) and returns the kinds seen as a
 * bit set. */
static unsigned take(struct smtp_client *c, struct buf *sent)
{
	unsigned kinds = 0;
	struct smtp_client_out o;
	while (smtp_client_next(c, &o)) {
		kinds |= 1u << o.kind;
		if (o.kind == SMTPC_OUT_SEND && sent)
			buf_append(sent, o.data, o.len);
	}
	return kinds;
}

/* The next output that is not a LOG. */
static bool next_item(struct smtp_client *c, struct smtp_client_out *o)
{
	while (smtp_client_next(c, o))
		if (o->kind != SMTPC_OUT_LOG)
			return true;
	return false;
}

static size_t feed_str(struct smtp_client *c, const char *s)
{
	return smtp_client_feed(c, (const uint8_t *)s, strlen(s));
}

/* Feeds s whole, taking outputs whenever feed stops. */
static void feed_all(struct smtp_client *c, const char *s, struct buf *sent)
{
	size_t len = strlen(s), off = 0;
	while (off < len) {
		size_t n = smtp_client_feed(c, (const uint8_t *)s + off, len - off);
		off += n;
		if (take(c, sent) == 0 && n == 0)
			break;
	}
}

static void test_feed_stops_while_output_waits(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	const char *in = GREET EHLO_PIPE;
	size_t n = feed_str(c, in);
	assert_int_equal(n, strlen(GREET));
	/* nothing taken: the EHLO is still waiting */
	assert_int_equal(feed_str(c, in + n), 0);
	assert_true(take(c, NULL) & (1u << SMTPC_OUT_SEND));
	assert_int_equal(feed_str(c, in + n), strlen(EHLO_PIPE));
	assert_true(take(c, NULL) & (1u << SMTPC_OUT_READY));
	assert_true(smtp_client_extensions(c)->pipelining);
	smtp_client_free(&c);
}

/* RFC 3207 4.2 / CVE-2011-0411: the 220 and anything after it in the same
 * read are one; what follows must never be taken as the server's. */
static void test_starttls_discards_buffered_input(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test", .starttls = true};
	struct smtp_client *c = new_client(&cfg);
	struct buf sent;
	buf_init(&sent, 0);
	feed_all(c, GREET EHLO_TLS, &sent);
	const char *evil = "220 go ahead\r\n250-mx.test\r\n250-AUTH PLAIN\r\n"
		"250 PIPELINING\r\n250 2.1.0 fake\r\n";
	assert_int_equal(feed_str(c, evil), strlen(evil));
	/* and whatever comes before the handshake ends */
	assert_int_equal(feed_str(c, "250 more\r\n"), 10);
	assert_true(take(c, &sent) & (1u << SMTPC_OUT_STARTTLS));
	assert_int_equal(feed_str(c, "250 yet more\r\n"), 14);
	assert_int_equal(smtp_client_timeout(c), 300);
	struct smtp_client_in in = {.kind = SMTPC_IN_TLS_OK};
	smtp_client_input(c, &in);
	assert_true(smtp_client_tls_active(c));
	/* old extensions forgotten at once */
	assert_false(smtp_client_extensions(c)->pipelining);
	assert_false(smtp_client_extensions(c)->starttls);
	take(c, &sent);
	feed_all(c, "250-mx.test\r\n250 8BITMIME\r\n", &sent);
	const struct smtp_client_ext *e = smtp_client_extensions(c);
	assert_true(e->esmtp);
	assert_true(e->eightbitmime);
	assert_false(e->pipelining);
	assert_false(e->auth_plain);
	assert_string_equal(buf_cstr(&sent), EHLO "STARTTLS\r\n" EHLO);
	buf_release(&sent);
	smtp_client_free(&c);
}

static void test_timeouts_follow_rfc5321(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	assert_int_equal(smtp_client_timeout(c), 300); /* greeting */
	feed_all(c, GREET, NULL);
	assert_int_equal(smtp_client_timeout(c), 300); /* EHLO */
	feed_all(c, EHLO_BASIC, NULL);
	assert_int_equal(smtp_client_timeout(c), 0);   /* READY */
	const char *rcpts[] = {"b@example.net"};
	static const char body[] = "hello\n";
	assert_true(smtp_client_start_message(c, "a@example.org", rcpts, 1,
		(const uint8_t *)body, sizeof body - 1, false));
	assert_int_equal(smtp_client_timeout(c), 300); /* MAIL */
	take(c, NULL);
	feed_all(c, MAIL_OK, NULL);
	assert_int_equal(smtp_client_timeout(c), 300); /* RCPT */
	feed_all(c, RCPT_OK, NULL);
	assert_int_equal(smtp_client_timeout(c), 120); /* DATA */
	assert_int_equal(feed_str(c, GO), strlen(GO));
	assert_int_equal(smtp_client_timeout(c), 180); /* body blocks */
	take(c, NULL);
	assert_int_equal(smtp_client_timeout(c), 600); /* after "." */
	feed_all(c, QUEUED, NULL);
	assert_int_equal(smtp_client_timeout(c), 0);
	struct smtp_client_in in = {.kind = SMTPC_IN_QUIT};
	smtp_client_input(c, &in);
	assert_int_equal(smtp_client_timeout(c), 300);
	feed_all(c, BYE, NULL);
	assert_int_equal(smtp_client_timeout(c), 0);
	smtp_client_free(&c);
}

static void test_start_message_only_at_ready(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	const char *rcpts[] = {"b@example.net"};
	const uint8_t body[] = "x\n";
	assert_false(smtp_client_start_message(c, "a@b", rcpts, 1, body, 2, false));
	feed_all(c, START_B, NULL);
	assert_true(smtp_client_start_message(c, "a@b", rcpts, 1, body, 2, false));
	assert_false(smtp_client_start_message(c, "a@b", rcpts, 1, body, 2, false));
	smtp_client_free(&c);
}

/* A message of many blocks: each SEND at most 64 KiB, bytes as expected,
 * a "." moved to a line start by the 998-octet break is doubled. */
static void test_big_body_goes_in_blocks(void **state)
{
	(void)state;
	size_t n = 300000;
	uint8_t *body = malloc(n);
	struct buf expect;
	buf_init(&expect, 0);
	for (size_t i = 0; i < n; i++)
		body[i] = i % 1500 == 1499 ? '\n' : (i % 1500 == 998 ? '.' : 'x');
	for (size_t i = 0; i < n; i += 1500) {
		/* 998 x, break, "." doubled, 500 x, CRLF */
		for (int k = 0; k < 998; k++)
			buf_append_byte(&expect, 'x');
		buf_append_str(&expect, "\r\n..");
		for (int k = 0; k < 500; k++)
			buf_append_byte(&expect, 'x');
		buf_append_str(&expect, "\r\n");
	}
	buf_append_str(&expect, ".\r\n");
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	feed_all(c, START_B, NULL);
	const char *rcpts[] = {"b@example.net"};
	assert_true(smtp_client_start_message(c, "a@b", rcpts, 1, body, n, false));
	feed_all(c, MAIL_OK RCPT_OK, NULL);
	feed_str(c, GO);
	struct buf sent;
	buf_init(&sent, 0);
	struct smtp_client_out o;
	size_t blocks = 0;
	while (smtp_client_next(c, &o)) {
		if (o.kind != SMTPC_OUT_SEND)
			continue;
		assert_true(o.len <= 64 * 1024);
		blocks++;
		buf_append(&sent, o.data, o.len);
	}
	assert_true(blocks >= 5);
	assert_int_equal(sent.len, expect.len);
	assert_memory_equal(sent.data, expect.data, expect.len);
	free(body);
	buf_release(&sent);
	buf_release(&expect);
	smtp_client_free(&c);
}

/* The declared SIZE counts CRLF line ends but not stuffing or the end. */
static void test_size_counts_crlf(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	feed_all(c, GREET "250-mx.test\r\n250 SIZE 1000\r\n", NULL);
	const char *rcpts[] = {"b@example.net"};
	static const char body[] = "a\n.b\r\nc";
	assert_true(smtp_client_start_message(c, "a@b", rcpts, 1,
		(const uint8_t *)body, sizeof body - 1, false));
	struct buf sent;
	buf_init(&sent, 0);
	take(c, &sent);
	/* "a\r\n.b\r\nc\r\n" */
	assert_string_equal(buf_cstr(&sent), "MAIL FROM:<a@b> SIZE=10\r\n");
	buf_release(&sent);
	smtp_client_free(&c);
}

/* The adapter's write failed mid-body: no more blocks, DONE then CLOSE. */
static void test_eof_while_body_blocks_pending(void **state)
{
	(void)state;
	size_t n = 200000;
	uint8_t *body = malloc(n);
	memset(body, 'y', n);
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	feed_all(c, START_B, NULL);
	const char *rcpts[] = {"b@example.net", "c@example.net"};
	assert_true(smtp_client_start_message(c, "a@b", rcpts, 2, body, n, false));
	feed_all(c, MAIL_OK RCPT_OK UNKNOWN, NULL);
	feed_str(c, GO);
	struct smtp_client_out o;
	do
		assert_true(smtp_client_next(c, &o));
	while (o.kind != SMTPC_OUT_SEND);
	/* body blocks are waiting: server bytes are not taken */
	assert_int_equal(feed_str(c, QUEUED), 0);
	struct smtp_client_in in = {.kind = SMTPC_IN_EOF};
	smtp_client_input(c, &in);
	assert_true(smtp_client_next(c, &o));
	assert_int_equal(o.kind, SMTPC_OUT_DONE);
	assert_int_equal(o.nresults, 2);
	assert_int_equal(o.results[0].reply.code, 0);
	assert_false(o.results[0].accepted);
	assert_string_equal(o.results[0].reply.text,
		"connection closed by server during message body");
	assert_int_equal(o.results[1].reply.code, 550);
	assert_true(smtp_client_next(c, &o));
	assert_int_equal(o.kind, SMTPC_OUT_CLOSE);
	assert_false(o.close_permanent);
	assert_false(smtp_client_next(c, &o));
	free(body);
	smtp_client_free(&c);
}

/* A server that never sends a line end costs at most max_reply_line. */
static void test_newline_less_flood_is_bounded(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	size_t n = 1 << 20;
	uint8_t *junk = malloc(n);
	memset(junk, '2', n);
	size_t took = smtp_client_feed(c, junk, n);
	assert_true(took <= 4096);
	struct smtp_client_out o;
	assert_true(next_item(c, &o)); /* QUIT */
	assert_int_equal(o.kind, SMTPC_OUT_SEND);
	assert_true(next_item(c, &o));
	assert_int_equal(o.kind, SMTPC_OUT_CLOSE);
	assert_string_equal(o.close_reply.text, "protocol error: reply line too long");
	assert_int_equal(smtp_client_feed(c, junk, n), 0);
	free(junk);
	smtp_client_free(&c);
}

static void test_more_than_100_lines_is_protocol_error(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	struct buf in;
	buf_init(&in, 0);
	for (int i = 0; i < 100; i++)
		buf_append_str(&in, "220-x\r\n");
	buf_append_str(&in, "220 x\r\n");
	feed_all(c, buf_cstr(&in), NULL);
	struct smtp_client_out o;
	assert_false(smtp_client_next(c, &o));
	assert_int_equal(smtp_client_timeout(c), 0);
	smtp_client_free(&c);
	/* exactly 100 lines is fine */
	c = new_client(&cfg);
	buf_clear(&in);
	for (int i = 0; i < 99; i++)
		buf_append_str(&in, "220-x\r\n");
	buf_append_str(&in, "220 x\r\n");
	struct buf sent;
	buf_init(&sent, 0);
	feed_all(c, buf_cstr(&in), &sent);
	assert_string_equal(buf_cstr(&sent), EHLO);
	buf_release(&sent);
	buf_release(&in);
	smtp_client_free(&c);
}

static void test_ehlo_keywords_parsed(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	feed_all(c, GREET "250-mx.test Hello PIPELINING SIZE 5\r\n"
		"250-pipelining\r\n250-size 35882577\r\n250-8bitmime\r\n"
		"250-AUTH=LOGIN\r\n250-auth cram-md5 plain\r\n250-STARTTLS\r\n"
		"250 X-UNKNOWN 1 2\r\n", NULL);
	const struct smtp_client_ext *e = smtp_client_extensions(c);
	assert_true(e->esmtp);
	assert_true(e->pipelining);
	assert_true(e->eightbitmime);
	assert_true(e->starttls);
	assert_true(e->auth_plain);
	assert_true(e->auth_login);
	assert_int_equal(e->size, 35882577);
	smtp_client_free(&c);
	c = new_client(&cfg);
	feed_all(c, GREET "250-mx.test\r\n250 SIZE 99999999999999999999999\r\n", NULL);
	assert_int_equal(smtp_client_extensions(c)->size, 0);
	assert_false(smtp_client_extensions(c)->pipelining);
	smtp_client_free(&c);
}

static void test_quit_outside_ready_aborts(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	feed_all(c, START_B, NULL);
	const char *rcpts[] = {"b@example.net"};
	const uint8_t body[] = "x\n";
	assert_true(smtp_client_start_message(c, "a@b", rcpts, 1, body, 2, false));
	take(c, NULL);
	struct smtp_client_in in = {.kind = SMTPC_IN_QUIT};
	smtp_client_input(c, &in);
	struct smtp_client_out o;
	assert_true(smtp_client_next(c, &o));
	assert_int_equal(o.kind, SMTPC_OUT_DONE);
	assert_int_equal(o.results[0].reply.code, 0);
	assert_true(smtp_client_next(c, &o));
	assert_int_equal(o.kind, SMTPC_OUT_CLOSE);
	assert_false(smtp_client_next(c, &o));
	smtp_client_free(&c);
}

static void test_bad_helo_name_not_sent(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "evil\r\nRSET"};
	struct smtp_client *c = new_client(&cfg);
	struct buf sent;
	buf_init(&sent, 0);
	feed_all(c, GREET, &sent);
	assert_string_equal(buf_cstr(&sent), "EHLO localhost\r\n");
	buf_release(&sent);
	smtp_client_free(&c);
}

/* A long password no longer fits a command line with the initial
 * response: "AUTH PLAIN", then the response after the 334. */
static void test_long_credentials_use_plain_without_initial_response(void **state)
{
	(void)state;
	char pass[600];
	memset(pass, 'p', sizeof pass - 1);
	pass[sizeof pass - 1] = '\0';
	struct smtp_client_cfg cfg = {.helo_name = "client.test", .tls_active = true,
		.auth_user = "u", .auth_password = pass};
	struct smtp_client *c = new_client(&cfg);
	struct buf sent;
	buf_init(&sent, 0);
	feed_all(c, GREET "250-mx.test\r\n250 AUTH PLAIN\r\n", &sent);
	assert_string_equal(buf_cstr(&sent), EHLO "AUTH PLAIN\r\n");
	buf_clear(&sent);
	feed_all(c, "334 \r\n", &sent);
	assert_true(sent.len > 512);
	assert_int_equal(sent.data[sent.len - 1], '\n');
	assert_null(memchr(sent.data, ' ', sent.len));
	feed_all(c, "235 ok\r\n", &sent);
	struct smtp_client_in in = {.kind = SMTPC_IN_QUIT};
	smtp_client_input(c, &in);
	assert_int_equal(smtp_client_timeout(c), 300);
	buf_release(&sent);
	smtp_client_free(&c);
}

static void test_oversized_addresses_refused_locally(void **state)
{
	(void)state;
	char lng[520];
	memset(lng, 'a', sizeof lng - 1);
	lng[sizeof lng - 1] = '\0';
	lng[10] = '@';
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	feed_all(c, START_P, NULL);
	const char *rcpts[] = {lng, "ok@example.net"};
	const uint8_t body[] = "x\n";
	assert_true(smtp_client_start_message(c, "a@b", rcpts, 2, body, 2, false));
	struct buf sent;
	buf_init(&sent, 0);
	take(c, &sent);
	assert_string_equal(buf_cstr(&sent),
		"MAIL FROM:<a@b> SIZE=3\r\nRCPT TO:<ok@example.net>\r\nDATA\r\n");
	buf_clear(&sent);
	feed_all(c, MAIL_OK RCPT_OK GO QUEUED, &sent);
	smtp_client_free(&c);
	/* a sender that fills the line on its own */
	c = new_client(&cfg);
	feed_all(c, START_P, NULL);
	assert_true(smtp_client_start_message(c, lng, rcpts + 1, 1, body, 2, false));
	struct smtp_client_out o;
	assert_true(smtp_client_next(c, &o));
	assert_int_equal(o.kind, SMTPC_OUT_DONE);
	assert_int_equal(o.results[0].reply.code, 553);
	assert_string_equal(o.results[0].reply.status, "5.1.7");
	buf_release(&sent);
	smtp_client_free(&c);
}

/* RFC 3463 2 / RFC 2034: x.y.z at the start of the text, class matching
 * the reply's, 1 to 3 digits for subject and detail. */
static void test_enhanced_status_parsing(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *status;
	} t[] = {
		{"554 5.1.1 x\r\n", "5.1.1"},
		{"554 5.1.10 x\r\n", "5.1.10"},
		{"554 5.123.456\r\n", "5.123.456"},
		{"554 5.1.1\n", "5.1.1"},
		{"554-5.7.1 first\r\n554 5.7.2 second\r\n", "5.7.1"},
		{"454 4.7.0 x\r\n", "4.7.0"},
		{"554 5.1234.1 x\r\n", ""},
		{"554 5.1.1x\r\n", ""},
		{"554 2.1.5 odd\r\n", ""},
		{"554 4.1.1 odd\r\n", ""},
		{"554 5..1 x\r\n", ""},
		{"554 5.1. x\r\n", ""},
		{"554 5.1\r\n", ""},
		{"554 x 5.1.1\r\n", ""},
		{"554  5.1.1 x\r\n", ""},
		{"554\r\n", ""},
	};
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct smtp_client *c = new_client(&cfg);
		feed_all(c, t[i].in, NULL);
		smtp_client_free(&c);
		c = new_client(&cfg);
		assert_int_equal(feed_str(c, t[i].in), strlen(t[i].in));
		struct smtp_client_out o;
		assert_true(smtp_client_next(c, &o)); /* LOG */
		assert_true(smtp_client_next(c, &o)); /* QUIT */
		assert_true(smtp_client_next(c, &o)); /* LOG */
		assert_true(smtp_client_next(c, &o));
		assert_int_equal(o.kind, SMTPC_OUT_CLOSE);
		assert_true(o.close_permanent == (t[i].in[0] == '5'));
		if (strcmp(o.close_reply.status, t[i].status) != 0) {
			print_error("%s: status \"%s\", expected \"%s\"\n", t[i].in,
				o.close_reply.status, t[i].status);
			fail();
		}
		smtp_client_free(&c);
	}
}

static void test_nul_in_reply_is_replaced(void **state)
{
	(void)state;
	struct smtp_client_cfg cfg = {.helo_name = "client.test"};
	struct smtp_client *c = new_client(&cfg);
	static const char in[] = "220 a\0b\r\n";
	assert_int_equal(smtp_client_feed(c, (const uint8_t *)in, sizeof in - 1),
		sizeof in - 1);
	struct smtp_client_out o;
	assert_true(smtp_client_next(c, &o));
	assert_int_equal(o.kind, SMTPC_OUT_LOG);
	assert_int_equal(o.len, strlen("S: 220 a?b"));
	assert_memory_equal(o.data, "S: 220 a?b", o.len);
	smtp_client_free(&c);
}

int main(void)
{
	enum { NCASES = sizeof cases / sizeof cases[0] };
	struct CMUnitTest table[NCASES];
	for (size_t i = 0; i < NCASES; i++) {
		struct CMUnitTest t = {cases[i].name, test_case, NULL, NULL,
			(void *)&cases[i]};
		table[i] = t;
	}
	int failed = _cmocka_run_group_tests("smtp_client_table", table, NCASES,
		NULL, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_feed_stops_while_output_waits),
		cmocka_unit_test(test_starttls_discards_buffered_input),
		cmocka_unit_test(test_timeouts_follow_rfc5321),
		cmocka_unit_test(test_start_message_only_at_ready),
		cmocka_unit_test(test_big_body_goes_in_blocks),
		cmocka_unit_test(test_size_counts_crlf),
		cmocka_unit_test(test_eof_while_body_blocks_pending),
		cmocka_unit_test(test_newline_less_flood_is_bounded),
		cmocka_unit_test(test_more_than_100_lines_is_protocol_error),
		cmocka_unit_test(test_ehlo_keywords_parsed),
		cmocka_unit_test(test_quit_outside_ready_aborts),
		cmocka_unit_test(test_bad_helo_name_not_sent),
		cmocka_unit_test(test_long_credentials_use_plain_without_initial_response),
		cmocka_unit_test(test_oversized_addresses_refused_locally),
		cmocka_unit_test(test_enhanced_status_parsing),
		cmocka_unit_test(test_nul_in_reply_is_replaced),
	};
	return failed + cmocka_run_group_tests(tests, NULL, NULL);
}
