/* Unit tests for src/proto/dsn: every notification is parsed back as
 * MIME (RFC 2046 multipart, RFC 6522 report, RFC 3464 fields) and checked
 * for 7-bit text, the line limit, the status of each recipient, the
 * returned header section without the body, and a boundary that hostile
 * content cannot collide with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "proto/dsn.h"

/* 1700000000 is Tue, 14 Nov 2023 22:13:20 UTC. */
#define T_NOW 1700000000
#define T_NOW_STR "Tue, 14 Nov 2023 22:13:20 +0000"
#define T_ARRIVAL 1699990000
#define T_ARRIVAL_STR "Tue, 14 Nov 2023 19:26:40 +0000"

static const char original[] =
	"Received: from client.example.net\r\n"
	"\tby mx.example.org; Tue, 14 Nov 2023 19:26:40 +0000\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.net\r\n"
	"Subject: hello\r\n"
	"Message-ID: <m1@example.org>\r\n"
	"\r\n"
	"SECRET BODY LINE\r\n"
	"Subject: not a header, part of the body\r\n";

/* ---- a small MIME reader, for the tests only ---- */

struct part {
	char *hdr;  /* header section, NUL-terminated, LF line ends */
	char *body; /* content up to the delimiter's line end */
};

struct mail {
	char *hdr;
	char boundary[128];
	struct part parts[8];
	size_t nparts;
};

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		abort();
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Every line ends in LF, is at most 998 octets, and holds printable ASCII
 * or tabs only (no CR, no 8-bit, no other control). */
static void assert_wire_clean(const struct buf *b)
{
	size_t col = 0;
	assert_true(b->len > 0);
	assert_int_equal(b->data[b->len - 1], '\n');
	for (size_t i = 0; i < b->len; i++) {
		uint8_t c = b->data[i];
		if (c == '\n') {
			col = 0;
			continue;
		}
		assert_true((c >= 0x20 && c < 0x7f) || c == '\t');
		assert_true(++col <= 998);
	}
}

/* The value of field name in a header section, unfolded; NULL when absent.
 * Fails the test when the field appears twice. */
static char *field(const char *hdr, const char *name)
{
	size_t n = strlen(name);
	char *found = NULL;
	for (const char *l = hdr; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		if (len > n && strncasecmp(l, name, n) == 0 && l[n] == ':') {
			if (found) {
				free(found);
				fail_msg("field %s appears twice", name);
			}
			struct buf v;
			buf_init(&v, 0);
			const char *s = l + n + 1;
			while (*s == ' ')
				s++;
			buf_append(&v, s, (size_t)(l + len - s));
			for (const char *c = e ? e + 1 : l + len; *c == ' ' || *c == '\t';) {
				const char *ce = strchr(c, '\n');
				size_t cl = ce ? (size_t)(ce - c) : strlen(c);
				buf_append(&v, c, cl);
				c = ce ? ce + 1 : c + cl;
			}
			found = dup_n(buf_cstr(&v), v.len);
			buf_release(&v);
		}
		l = e ? e + 1 : l + len;
	}
	return found;
}

static void assert_field(const char *hdr, const char *name, const char *want)
{
	char *v = field(hdr, name);
	if (!v)
		fail_msg("field %s missing", name);
	assert_string_equal(v, want);
	free(v);
}

static void assert_no_field(const char *hdr, const char *name)
{
	char *v = field(hdr, name);
	if (v)
		fail_msg("field %s present: %s", name, v);
}

static void split_header(const char *s, size_t len, char **hdr, char **body)
{
	const char *sep = strstr(s, "\n\n");
	assert_non_null(sep);
	assert_true((size_t)(sep - s) < len);
	*hdr = dup_n(s, (size_t)(sep - s) + 1);
	*body = dup_n(sep + 2, len - (size_t)(sep + 2 - s));
}

/* RFC 2046 5.1.1: the body is a preamble, parts each opened by
 * LF "--" boundary LF, and LF "--" boundary "--" at the end. */
static void mail_parse(struct mail *m, const struct buf *b)
{
	memset(m, 0, sizeof *m);
	char *text = dup_n((const char *)b->data, b->len);
	char *body;
	split_header(text, b->len, &m->hdr, &body);
	char *ct = field(m->hdr, "Content-Type");
	assert_non_null(ct);
	assert_non_null(strstr(ct, "multipart/report;"));
	assert_non_null(strstr(ct, "report-type=delivery-status"));
	const char *bp = strstr(ct, "boundary=\"");
	assert_non_null(bp);
	bp += 10;
	const char *be = strchr(bp, '"');
	assert_non_null(be);
	assert_true(be > bp && be - bp <= 70);
	memcpy(m->boundary, bp, (size_t)(be - bp));
	free(ct);

	char delim[160], close[160];
	snprintf(delim, sizeof delim, "\n--%s\n", m->boundary);
	snprintf(close, sizeof close, "\n--%s--\n", m->boundary);
	size_t blen = strlen(body), clen = strlen(close);
	assert_true(blen > clen);
	assert_string_equal(body + blen - clen, close);
	body[blen - clen] = '\0'; /* the LF before "--" is the delimiter's */
	char *p = strstr(body, delim);
	assert_non_null(p);
	while (p) {
		char *start = p + strlen(delim);
		char *next = strstr(start, delim);
		size_t n = next ? (size_t)(next - start) : strlen(start);
		assert_true(m->nparts < 8);
		char *chunk = dup_n(start, n);
		struct part *pt = &m->parts[m->nparts++];
		split_header(chunk, n, &pt->hdr, &pt->body);
		free(chunk);
		p = next;
	}
	free(body);
	free(text);
}

static void mail_free(struct mail *m)
{
	free(m->hdr);
	for (size_t i = 0; i < m->nparts; i++) {
		free(m->parts[i].hdr);
		free(m->parts[i].body);
	}
}

/* The groups of a message/delivery-status body (RFC 3464 2.1): group 0 is
 * per-message, the others per-recipient, separated by empty lines. */
static size_t status_groups(const char *body, char **groups, size_t max)
{
	size_t n = 0;
	const char *s = body;
	for (;;) {
		const char *e = strstr(s, "\n\n");
		size_t len = e ? (size_t)(e - s) + 1 : strlen(s);
		if (len > 0 && strcmp(s, "\n") != 0) {
			assert_true(n < max);
			groups[n++] = dup_n(s, len);
		}
		if (!e)
			return n;
		s = e + 2;
	}
}

static void free_groups(char **groups, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(groups[i]);
}

static struct dsn_info base_info(const struct dsn_rcpt *r, size_t n)
{
	return (struct dsn_info){
		.reporting_mta = "mx.example.org",
		.queue_id = "Q1a2b3c",
		.sender = "alice@example.org",
		.arrival = T_ARRIVAL,
		.now = T_NOW,
		.rcpts = r,
		.nrcpts = n,
		.original = (const uint8_t *)original,
		.original_len = sizeof original - 1,
	};
}

static void build(struct buf *b, const struct dsn_info *in, struct mail *m)
{
	buf_init(b, 0);
	assert_true(dsn_build(b, in));
	assert_wire_clean(b);
	mail_parse(m, b);
}

/* ---- tests ---- */

static void bounce_has_every_required_field(void **state)
{
	(void)state;
	const struct dsn_rcpt r[] = {
		{ .addr = "Bob@example.net", .orcpt = "bobby@example.org", .failed = true,
		  .status = "5.1.1", .code = 550, .remote_mta = "mx.example.net",
		  .diagnostic = "5.1.1 <Bob@example.net>: user unknown",
		  .last_attempt = T_NOW - 60 },
		{ .addr = "carol@example.com", .failed = true, .code = 0,
		  .diagnostic = "connect to mx.example.com: Connection refused" },
	};
	struct dsn_info in = base_info(r, 2);
	struct buf b;
	struct mail m;
	build(&b, &in, &m);

	assert_field(m.hdr, "From", "Mail Delivery System <MAILER-DAEMON@mx.example.org>");
	assert_field(m.hdr, "To", "<alice@example.org>");
	assert_field(m.hdr, "Subject", "Undelivered Mail Returned to Sender");
	assert_field(m.hdr, "Date", T_NOW_STR);
	assert_field(m.hdr, "Message-ID", "<Q1a2b3c.dsn@mx.example.org>");
	assert_field(m.hdr, "Auto-Submitted", "auto-replied");
	assert_field(m.hdr, "MIME-Version", "1.0");
	assert_int_equal(m.nparts, 3);

	assert_non_null(strstr(m.parts[0].hdr, "Content-Type: text/plain; charset=us-ascii\n"));
	const char *h = m.parts[0].body;
	assert_non_null(strstr(h, "<Bob@example.net>:\n    host mx.example.net said: 550 5.1.1"));
	assert_non_null(strstr(h, "<carol@example.com>:\n    connect to mx.example.com"));
	assert_non_null(strstr(h, "could not be delivered"));
	assert_null(strstr(h, "still trying"));
	assert_non_null(strstr(h, "\nThe facteur mail system at mx.example.org\n"));

	assert_field(m.parts[1].hdr, "Content-Type", "message/delivery-status");
	char *g[8] = { 0 };
	size_t ng = status_groups(m.parts[1].body, g, 8);
	assert_int_equal(ng, 3);
	assert_field(g[0], "Reporting-MTA", "dns; mx.example.org");
	assert_field(g[0], "Arrival-Date", T_ARRIVAL_STR);
	assert_field(g[0], "X-Facteur-Queue-ID", "Q1a2b3c");
	assert_field(g[1], "Original-Recipient", "rfc822; bobby@example.org");
	assert_field(g[1], "Final-Recipient", "rfc822; Bob@example.net");
	assert_field(g[1], "Action", "failed");
	assert_field(g[1], "Status", "5.1.1");
	assert_field(g[1], "Remote-MTA", "dns; mx.example.net");
	assert_field(g[1], "Diagnostic-Code",
		     "smtp; 550 5.1.1 <Bob@example.net>: user unknown");
	assert_field(g[1], "Last-Attempt-Date", "Tue, 14 Nov 2023 22:12:20 +0000");
	assert_no_field(g[1], "Will-Retry-Until");
	assert_no_field(g[2], "Original-Recipient");
	assert_field(g[2], "Final-Recipient", "rfc822; carol@example.com");
	assert_field(g[2], "Action", "failed");
	assert_field(g[2], "Status", "5.0.0");
	assert_no_field(g[2], "Remote-MTA");
	assert_field(g[2], "Diagnostic-Code",
		     "X-Facteur; connect to mx.example.com: Connection refused");
	assert_no_field(g[2], "Last-Attempt-Date");
	free_groups(g, ng);

	assert_field(m.parts[2].hdr, "Content-Type", "text/rfc822-headers");
	assert_string_equal(m.parts[2].body,
			    "Received: from client.example.net\n"
			    "\tby mx.example.org; Tue, 14 Nov 2023 19:26:40 +0000\n"
			    "From: Alice <alice@example.org>\n"
			    "To: bob@example.net\n"
			    "Subject: hello\n"
			    "Message-ID: <m1@example.org>\n");
	assert_null(memmem(b.data, b.len, "SECRET BODY", 11));
	assert_null(memmem(b.data, b.len, "not a header", 12));
	mail_free(&m);
	buf_release(&b);
}

static void delay_warning_says_still_trying(void **state)
{
	(void)state;
	const struct dsn_rcpt r[] = {
		{ .addr = "bob@example.net", .failed = false, .code = 451,
		  .remote_mta = "mx.example.net", .diagnostic = "4.7.1 greylisted",
		  .last_attempt = T_NOW },
		{ .addr = "dan@example.net", .failed = false },
	};
	struct dsn_info in = base_info(r, 2);
	in.delay_warning = true;
	in.retry_until = "Sun, 19 Nov 2023 19:26:40 +0000";
	struct buf b;
	struct mail m;
	build(&b, &in, &m);
	assert_field(m.hdr, "Subject", "Delayed Mail (still being retried)");
	assert_field(m.hdr, "Message-ID", "<Q1a2b3c.warn@mx.example.org>");
	assert_field(m.hdr, "Auto-Submitted", "auto-replied");
	const char *h = m.parts[0].body;
	assert_non_null(strstr(h, "still trying"));
	assert_non_null(strstr(h, "until Sun, 19 Nov 2023 19:26:40 +0000"));
	assert_non_null(strstr(h, "do not need to send the message again"));
	assert_null(strstr(h, "given up"));
	assert_non_null(strstr(h, "The facteur mail system at mx.example.org"));
	char *g[8] = { 0 };
	size_t ng = status_groups(m.parts[1].body, g, 8);
	assert_int_equal(ng, 3);
	for (size_t i = 1; i < 3; i++) {
		assert_field(g[i], "Action", "delayed");
		assert_field(g[i], "Status", "4.0.0");
		assert_field(g[i], "Will-Retry-Until", "Sun, 19 Nov 2023 19:26:40 +0000");
	}
	assert_field(g[1], "Diagnostic-Code", "smtp; 451 4.7.1 greylisted");
	assert_no_field(g[2], "Diagnostic-Code");
	assert_no_field(g[2], "Remote-MTA");
	free_groups(g, ng);
	assert_int_equal(m.nparts, 3);
	mail_free(&m);
	buf_release(&b);

	/* without a date the warning still reads well, and no field lies */
	in.retry_until = NULL;
	build(&b, &in, &m);
	assert_null(strstr(m.parts[0].body, "until"));
	ng = status_groups(m.parts[1].body, g, 8);
	assert_no_field(g[1], "Will-Retry-Until");
	free_groups(g, ng);
	mail_free(&m);
	buf_release(&b);
}

static void status_comes_from_code_when_missing_or_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *status;
		unsigned code;
		bool failed;
		const char *want;
	} cases[] = {
		{ NULL, 550, true, "5.0.0" },
		{ "", 554, true, "5.0.0" },
		{ NULL, 421, true, "4.0.0" },  /* expired after temporary errors */
		{ "", 452, false, "4.0.0" },
		{ NULL, 0, true, "5.0.0" },
		{ NULL, 0, false, "4.0.0" },
		{ NULL, 250, true, "5.0.0" },  /* no failure code: the action decides */
		{ "5.1.1", 550, true, "5.1.1" },
		{ "4.4.7", 0, true, "4.4.7" },
		{ "5.7.26", 550, true, "5.7.26" },
		{ "2.0.0", 250, false, "2.0.0" },
		{ "bogus", 550, true, "5.0.0" },
		{ "5.01.1", 550, true, "5.0.0" },  /* RFC 3464 2.3.4: no leading zero */
		{ "3.1.1", 450, false, "4.0.0" },  /* no class 3 */
		{ "5.1.1000", 550, true, "5.0.0" },
		{ "5.1", 550, true, "5.0.0" },
		{ "5.1.1 ", 550, true, "5.0.0" },
		{ "5.1.1\nX: y", 550, true, "5.0.0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dsn_rcpt r = { .addr = "bob@example.net", .failed = cases[i].failed,
				      .status = cases[i].status, .code = cases[i].code };
		struct dsn_info in = base_info(&r, 1);
		struct buf b;
		struct mail m;
		build(&b, &in, &m);
		char *g[4] = { 0 };
		size_t ng = status_groups(m.parts[1].body, g, 4);
		assert_int_equal(ng, 2);
		assert_field(g[1], "Status", cases[i].want);
		assert_field(g[1], "Action", cases[i].failed ? "failed" : "delayed");
		free_groups(g, ng);
		mail_free(&m);
		buf_release(&b);
	}
}

/* Control characters, 8-bit bytes and over-long values from a remote
 * reply or an envelope never reach the wire as they are. */
static void hostile_values_are_cleaned_and_cut(void **state)
{
	(void)state;
	char longdiag[5000];
	memset(longdiag, 'x', sizeof longdiag - 1);
	longdiag[sizeof longdiag - 1] = '\0';
	const struct dsn_rcpt r[] = {
		{ .addr = "bob@example.net\r\nBcc: victim@example.com", .failed = true,
		  .code = 550, .remote_mta = "mx\n.evil", .diagnostic = "bad \xff\xfe\x01 reply\r\nX-Injected: 1" },
		{ .addr = "carol@example.net", .orcpt = "c\xc3\xa9@example.org", .failed = true,
		  .code = 550, .diagnostic = longdiag },
	};
	struct dsn_info in = base_info(r, 2);
	in.sender = "alice@example.org>\nBcc: x@example.com";
	in.queue_id = "Q1\n<>";
	struct buf b;
	struct mail m;
	build(&b, &in, &m);
	assert_null(memmem(b.data, b.len, "\nBcc:", 5));
	assert_null(memmem(b.data, b.len, "\nX-Injected", 11));
	assert_field(m.hdr, "Message-ID", "<Q1___.dsn@mx.example.org>");
	char *g[4] = { 0 };
	size_t ng = status_groups(m.parts[1].body, g, 4);
	assert_int_equal(ng, 3);
	assert_field(g[1], "Final-Recipient", "rfc822; bob@example.net??Bcc: victim@example.com");
	assert_field(g[1], "Remote-MTA", "dns; mx?.evil");
	assert_field(g[1], "Diagnostic-Code", "smtp; 550 bad ??? reply??X-Injected: 1");
	assert_field(g[2], "Original-Recipient", "rfc822; c??@example.org");
	char *d = field(g[2], "Diagnostic-Code");
	assert_non_null(d);
	assert_true(strlen(d) < 998);
	assert_string_equal(d + strlen(d) - 4, "x...");
	free(d);
	free_groups(g, ng);
	mail_free(&m);
	buf_release(&b);
}

static void original_header_section_only(void **state)
{
	(void)state;
	const struct dsn_rcpt r = { .addr = "bob@example.net", .failed = true, .code = 550 };
	struct dsn_info in = base_info(&r, 1);
	struct buf b;
	struct mail m;

	/* LF line ends, a 2000-octet line cut to 998, 8-bit text cleaned */
	struct buf o;
	buf_init(&o, 0);
	buf_append_str(&o, "Subject: gr\xc3\xbc\xc3\x9f" "e\nX-Long: ");
	for (int i = 0; i < 2000; i++)
		buf_append_byte(&o, 'a' + i % 26);
	buf_append_str(&o, "\nX-Ctl: a\x01" "b\x7f" "c\n\nbody\n");
	in.original = o.data;
	in.original_len = o.len;
	build(&b, &in, &m);
	assert_int_equal(m.nparts, 3);
	const char *h = m.parts[2].body;
	assert_non_null(strstr(h, "Subject: gr????e\n"));
	assert_non_null(strstr(h, "\nX-Ctl: a?b?c\n"));
	const char *xl = strstr(h, "X-Long: ");
	assert_non_null(xl);
	assert_int_equal(strchr(xl, '\n') - xl, 998);
	assert_null(strstr(h, "body"));
	mail_free(&m);
	buf_release(&b);

	/* no empty line: the first line that is no header field ends it */
	static const char noblank[] = "Subject: x\nFrom: a@b\nthis is the body\nTo: c@d\n";
	in.original = (const uint8_t *)noblank;
	in.original_len = sizeof noblank - 1;
	build(&b, &in, &m);
	assert_string_equal(m.parts[2].body, "Subject: x\nFrom: a@b\n");
	mail_free(&m);
	buf_release(&b);

	/* a message that is all body returns an empty header part */
	static const char allbody[] = "\nSubject: in the body\n";
	in.original = (const uint8_t *)allbody;
	in.original_len = sizeof allbody - 1;
	build(&b, &in, &m);
	assert_int_equal(m.nparts, 3);
	assert_string_equal(m.parts[2].body, "");
	assert_null(memmem(b.data, b.len, "in the body", 11));
	mail_free(&m);
	buf_release(&b);

	/* a last header line without a line end is kept */
	static const char noeol[] = "Subject: end";
	in.original = (const uint8_t *)noeol;
	in.original_len = sizeof noeol - 1;
	build(&b, &in, &m);
	assert_string_equal(m.parts[2].body, "Subject: end\n");
	mail_free(&m);
	buf_release(&b);

	/* no original at all: the report has two parts */
	in.original = NULL;
	in.original_len = 0;
	build(&b, &in, &m);
	assert_int_equal(m.nparts, 2);
	mail_free(&m);
	buf_release(&b);

	/* a huge header section is cut at a line, not mid-line */
	buf_clear(&o);
	for (int i = 0; i < 5000; i++)
		buf_printf(&o, "X-H%d: %0100d\n", i, i);
	buf_append_str(&o, "\nbody\n");
	in.original = o.data;
	in.original_len = o.len;
	build(&b, &in, &m);
	size_t hl = strlen(m.parts[2].body);
	assert_true(hl > 32 * 1024 && hl <= 64 * 1024);
	assert_int_equal(m.parts[2].body[hl - 1], '\n');
	mail_free(&m);
	buf_release(&b);
	buf_release(&o);
}

static bool parts_contain(const struct mail *m, const char *s)
{
	for (size_t i = 0; i < m->nparts; i++)
		if (strstr(m->parts[i].body, s) || strstr(m->parts[i].hdr, s))
			return true;
	return false;
}

/* Someone who knows the queue id writes our boundary into the original:
 * the report must choose another one, and parse to the same parts. */
static void boundary_never_occurs_in_content(void **state)
{
	(void)state;
	const struct dsn_rcpt r = { .addr = "bob@example.net", .failed = true, .code = 550,
				    .diagnostic = "no" };
	struct dsn_info in = base_info(&r, 1);
	struct buf b;
	struct mail m;
	build(&b, &in, &m);
	char first[128];
	snprintf(first, sizeof first, "%s", m.boundary);
	assert_non_null(strstr(first, "Q1a2b3c"));
	mail_free(&m);
	buf_release(&b);

	char evil[1024];
	snprintf(evil, sizeof evil,
		 "Subject: x\n"
		 "X-Evil: --%s\n"
		 "X-Evil2: --%s--\n"
		 "\n"
		 "--%s\nContent-Type: message/delivery-status\n\nAction: delivered\n",
		 first, first, first);
	in.original = (const uint8_t *)evil;
	in.original_len = strlen(evil);
	build(&b, &in, &m);
	assert_string_not_equal(m.boundary, first);
	assert_false(parts_contain(&m, m.boundary));
	assert_int_equal(m.nparts, 3);
	assert_non_null(strstr(m.parts[2].body, "X-Evil2: --"));
	assert_null(memmem(b.data, b.len, "Action: delivered", 17));
	mail_free(&m);
	buf_release(&b);

	/* the same through a remote server's reply text */
	char diag[256];
	snprintf(diag, sizeof diag, "--%s--", first);
	struct dsn_rcpt r2 = r;
	r2.diagnostic = diag;
	in = base_info(&r2, 1);
	build(&b, &in, &m);
	assert_string_not_equal(m.boundary, first);
	assert_false(parts_contain(&m, m.boundary));
	assert_int_equal(m.nparts, 3);
	mail_free(&m);
	buf_release(&b);
}

static void unusable_info_builds_nothing(void **state)
{
	(void)state;
	const struct dsn_rcpt r = { .addr = "bob@example.net", .failed = true, .code = 550 };
	const struct dsn_rcpt noaddr = { .addr = NULL, .failed = true };
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, "keep");
	struct dsn_info in = base_info(&r, 1);
	in.sender = "";
	assert_false(dsn_build(&b, &in)); /* RFC 3464 2: never bounce the null path */
	in = base_info(&r, 1);
	in.sender = NULL;
	assert_false(dsn_build(&b, &in));
	in = base_info(&r, 0);
	assert_false(dsn_build(&b, &in));
	in = base_info(&r, 1);
	in.reporting_mta = "";
	assert_false(dsn_build(&b, &in));
	in = base_info(&r, 1);
	in.queue_id = NULL;
	assert_false(dsn_build(&b, &in));
	in = base_info(&noaddr, 1);
	assert_false(dsn_build(&b, &in));
	assert_int_equal(b.len, 4);
	buf_release(&b);
}

/* A buffer limit hit halfway leaves the output as it was. */
static void full_buffer_leaves_output_unchanged(void **state)
{
	(void)state;
	const struct dsn_rcpt r = { .addr = "bob@example.net", .failed = true, .code = 550 };
	struct dsn_info in = base_info(&r, 1);
	struct buf b;
	buf_init(&b, 600);
	buf_append_str(&b, "prefix\n");
	assert_false(dsn_build(&b, &in));
	assert_int_equal(b.len, 7);
	buf_release(&b);

	/* and appends after what is there when it fits */
	buf_init(&b, 0);
	buf_append_str(&b, "prefix\n");
	assert_true(dsn_build(&b, &in));
	assert_memory_equal(b.data, "prefix\nFrom: ", 13);
	buf_release(&b);
}

/* Pure: the same input gives the same bytes (no clock, no randomness). */
static void output_is_deterministic(void **state)
{
	(void)state;
	const struct dsn_rcpt r = { .addr = "bob@example.net", .failed = true, .code = 550 };
	struct dsn_info in = base_info(&r, 1);
	struct buf a, b;
	buf_init(&a, 0);
	buf_init(&b, 0);
	assert_true(dsn_build(&a, &in));
	assert_true(dsn_build(&b, &in));
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	buf_release(&a);
	buf_release(&b);
}

static void many_recipients_and_mixed_actions(void **state)
{
	(void)state;
	struct dsn_rcpt r[200];
	char addrs[200][32];
	for (size_t i = 0; i < 200; i++) {
		snprintf(addrs[i], sizeof addrs[i], "user%zu@example.net", i);
		r[i] = (struct dsn_rcpt){ .addr = addrs[i], .failed = i % 2 == 0,
					  .code = i % 2 ? 451 : 550 };
	}
	struct dsn_info in = base_info(r, 200);
	in.retry_until = "Sun, 19 Nov 2023 19:26:40 +0000";
	struct buf b;
	struct mail m;
	build(&b, &in, &m);
	char *g[256] = { 0 };
	size_t ng = status_groups(m.parts[1].body, g, 256);
	assert_int_equal(ng, 201);
	for (size_t i = 0; i < 200; i++) {
		char want[64];
		snprintf(want, sizeof want, "rfc822; user%zu@example.net", i);
		assert_field(g[i + 1], "Final-Recipient", want);
		assert_field(g[i + 1], "Action", i % 2 ? "delayed" : "failed");
		assert_field(g[i + 1], "Status", i % 2 ? "4.0.0" : "5.0.0");
		/* RFC 3464 2.3.9: for "delayed" only */
		if (i % 2)
			assert_field(g[i + 1], "Will-Retry-Until", in.retry_until);
		else
			assert_no_field(g[i + 1], "Will-Retry-Until");
	}
	free_groups(g, ng);
	/* a bounce that also lists recipients still being tried says both */
	assert_non_null(strstr(m.parts[0].body, "given up"));
	assert_non_null(strstr(m.parts[0].body, "not been delivered yet to these"));
	mail_free(&m);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bounce_has_every_required_field),
		cmocka_unit_test(delay_warning_says_still_trying),
		cmocka_unit_test(status_comes_from_code_when_missing_or_malformed),
		cmocka_unit_test(hostile_values_are_cleaned_and_cut),
		cmocka_unit_test(original_header_section_only),
		cmocka_unit_test(boundary_never_occurs_in_content),
		cmocka_unit_test(unusable_info_builds_nothing),
		cmocka_unit_test(full_buffer_leaves_output_unchanged),
		cmocka_unit_test(output_is_deterministic),
		cmocka_unit_test(many_recipients_and_mixed_actions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
