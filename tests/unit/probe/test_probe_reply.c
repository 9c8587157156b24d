/* Unit tests for the client-side parsers (src/probe/lines.c, reply.c,
 * hostport.c): the line splitter, SMTP replies with enhanced codes, EHLO
 * keywords, POP3 status lines, multi-line unstuffing, LIST/UIDL/CAPA,
 * APOP timestamps. Byte streams are fed three ways: whole, one byte at a
 * time, and in random pieces (fixed seed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/hostport.h"
#include "probe/lines.h"
#include "probe/reply.h"

#define LEN(s) (sizeof(s) - 1)

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };
#define NSPLITS 3

static uint32_t rng = 12345;

static size_t next_piece(enum split how, size_t left)
{
	if (how == SPLIT_WHOLE)
		return left;
	if (how == SPLIT_BYTES)
		return 1;
	rng = rng * 1103515245u + 12345u;
	size_t n = 1 + (rng >> 16) % 7;
	return n < left ? n : left;
}

/* ---- lines ------------------------------------------------------------- */

static void test_lines_crlf_lf_and_bare_lf(void **state)
{
	(void)state;
	static const char in[] = "220 a\r\n250-b\n\r\n.\r\nx";
	static const struct {
		const char *text;
		size_t bytes;
		bool bare;
	} want[] = { { "220 a", 7, false }, { "250-b", 6, true }, { "", 2, false }, { ".", 3, false } };
	for (int how = 0; how < NSPLITS; how++) {
		struct probe_lines l;
		probe_lines_init(&l);
		size_t off = 0, got = 0;
		while (off < LEN(in)) {
			size_t n = next_piece((enum split)how, LEN(in) - off);
			assert_true(probe_lines_feed(&l, (const uint8_t *)in + off, n));
			off += n;
			struct probe_line line;
			while (probe_lines_next(&l, &line) == LINES_LINE) {
				assert_true(got < 4);
				assert_int_equal(line.len, strlen(want[got].text));
				assert_memory_equal(line.text, want[got].text, line.len);
				assert_int_equal(line.bytes, want[got].bytes);
				assert_int_equal(line.bare_lf, want[got].bare);
				got++;
			}
		}
		assert_int_equal(got, 4);
		assert_int_equal(probe_lines_pending(&l), 1);
		probe_lines_discard(&l);
		assert_int_equal(probe_lines_pending(&l), 0);
		probe_lines_clear(&l);
	}
}

static void test_lines_too_long(void **state)
{
	(void)state;
	struct probe_lines l;
	probe_lines_init(&l);
	char *big = malloc(PROBE_LINE_MAX);
	assert_non_null(big);
	memset(big, 'a', PROBE_LINE_MAX);
	struct probe_line line;
	assert_true(probe_lines_feed(&l, (const uint8_t *)big, PROBE_LINE_MAX - 1));
	assert_int_equal(probe_lines_next(&l, &line), LINES_MORE);
	assert_true(probe_lines_feed(&l, (const uint8_t *)big, 1));
	assert_int_equal(probe_lines_next(&l, &line), LINES_TOO_LONG);
	free(big);
	probe_lines_clear(&l);
}

/* ---- SMTP replies ------------------------------------------------------ */

struct rcase {
	const char *in;       /* one or more CRLF lines */
	enum reply_result res;
	int code;
	const char *enhanced;
	size_t nlines;
};

static const struct rcase rcases[] = {
	{ "220 mx.test ESMTP facteur\r\n", REPLY_DONE, 220, "", 1 },
	{ "250-mx\r\n250-SIZE 100\r\n250 8BITMIME\r\n", REPLY_DONE, 250, "", 3 },
	{ "250\r\n", REPLY_DONE, 250, "", 1 },
	{ "250-\r\n250 \r\n", REPLY_DONE, 250, "", 2 },
	{ "250 2.1.0 Ok\r\n", REPLY_DONE, 250, "2.1.0", 1 },
	{ "550 5.1.1 User unknown\r\n", REPLY_DONE, 550, "5.1.1", 1 },
	{ "451 4.3.0\r\n", REPLY_DONE, 451, "4.3.0", 1 },
	{ "535-5.7.8 first\r\n535 5.7.8 second\r\n", REPLY_DONE, 535, "5.7.8", 2 },
	{ "250 5.1.1 class mismatch\r\n", REPLY_DONE, 250, "", 1 },
	{ "250 2.1000.0 too long\r\n", REPLY_DONE, 250, "", 1 },
	{ "250 2.1.0x\r\n", REPLY_DONE, 250, "", 1 },
	{ "250 2..0 empty\r\n", REPLY_DONE, 250, "", 1 },
	{ "250-a\r\n251 b\r\n", REPLY_BAD, 250, "", 1 },
	{ "hello\r\n", REPLY_BAD, 0, "", 0 },
	{ "25\r\n", REPLY_BAD, 0, "", 0 },
	{ "2500 x\r\n", REPLY_BAD, 0, "", 0 },
	{ "600 x\r\n", REPLY_BAD, 0, "", 0 },
	{ "160 x\r\n", REPLY_BAD, 0, "", 0 },
	{ "260 x\r\n", REPLY_BAD, 0, "", 0 },
	{ "250_x\r\n", REPLY_BAD, 0, "", 0 },
	{ "-250 x\r\n", REPLY_BAD, 0, "", 0 },
};

/* Feeds a case through the splitter and the parser. */
static enum reply_result run_reply(const char *in, enum split how, struct smtp_reply *r)
{
	struct probe_lines l;
	probe_lines_init(&l);
	smtp_reply_init(r);
	size_t off = 0, len = strlen(in);
	enum reply_result res = REPLY_MORE;
	while (off < len && res == REPLY_MORE) {
		size_t n = next_piece(how, len - off);
		assert_true(probe_lines_feed(&l, (const uint8_t *)in + off, n));
		off += n;
		struct probe_line line;
		while (res == REPLY_MORE && probe_lines_next(&l, &line) == LINES_LINE)
			res = smtp_reply_line(r, line.text, line.len);
	}
	probe_lines_clear(&l);
	return res;
}

static void test_smtp_reply_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rcases / sizeof rcases[0]; i++) {
		const struct rcase *c = &rcases[i];
		for (int how = 0; how < NSPLITS; how++) {
			struct smtp_reply r;
			enum reply_result res = run_reply(c->in, (enum split)how, &r);
			if (res != c->res)
				fail_msg("case %zu (%s) split %d: result %d, want %d", i, c->in, how,
					 (int)res, (int)c->res);
			if (res == REPLY_BAD)
				assert_non_null(r.why);
			assert_int_equal(r.code, c->code);
			assert_string_equal(r.enhanced, c->enhanced);
			assert_int_equal(r.nlines, c->nlines);
			smtp_reply_clear(&r);
		}
	}
}

static void test_smtp_reply_too_many_lines(void **state)
{
	(void)state;
	struct smtp_reply r;
	smtp_reply_init(&r);
	for (int i = 0; i < SMTP_REPLY_MAX_LINES; i++)
		assert_int_equal(smtp_reply_line(&r, "250-x", 5), REPLY_MORE);
	assert_int_equal(smtp_reply_line(&r, "250 x", 5), REPLY_BAD);
	smtp_reply_clear(&r);
}

static void test_smtp_reply_texts(void **state)
{
	(void)state;
	struct smtp_reply r;
	assert_int_equal(run_reply("250-one\r\n250-\r\n250 three\r\n", SPLIT_BYTES, &r), REPLY_DONE);
	size_t pos = 0, len;
	const char *t;
	const char *want[] = { "one", "", "three" };
	for (int i = 0; i < 3; i++) {
		assert_true(smtp_reply_next_text(&r, &pos, &t, &len));
		assert_int_equal(len, strlen(want[i]));
		assert_memory_equal(t, want[i], len);
	}
	assert_false(smtp_reply_next_text(&r, &pos, &t, &len));
	smtp_reply_clear(&r);
}

/* ---- EHLO -------------------------------------------------------------- */

static void test_ehlo_parse_and_describe(void **state)
{
	(void)state;
	struct smtp_reply r;
	assert_int_equal(run_reply("250-mx.test greets [127.0.0.1]\r\n250-SIZE 26214400\r\n"
				   "250-pipelining\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=LOGIN\r\n"
				   "250-X-FROB\r\n250-FUTURE-EXT a b\r\n250 SIZE\r\n",
				   SPLIT_RANDOM, &r), REPLY_DONE);
	struct ehlo_info *e = calloc(1, sizeof *e);
	assert_non_null(e);
	ehlo_parse(&r, e);
	assert_string_equal(e->domain, "mx.test");
	assert_int_equal(e->n, 7);
	assert_string_equal(e->ext[0].keyword, "SIZE");
	assert_string_equal(e->ext[0].params, "26214400");
	assert_non_null(ehlo_find(e, "PIPELINING"));
	assert_null(ehlo_find(e, "STARTTLS"));
	const struct ehlo_ext *a = ehlo_find(e, "auth");
	assert_non_null(a);
	assert_true(words_has(a->params, "PLAIN"));
	assert_true(words_has(a->params, "login"));
	assert_false(words_has(a->params, "PLAI"));
	assert_false(words_has(a->params, "CRAM-MD5"));
	assert_false(e->ext[3].valid); /* "AUTH=LOGIN" */
	assert_true(e->ext[4].valid);

	char d[300];
	ehlo_describe(&e->ext[0], d, sizeof d);
	assert_non_null(strstr(d, "26214400 bytes (25.0 MiB)"));
	ehlo_describe(&e->ext[6], d, sizeof d); /* SIZE without a number */
	assert_non_null(strstr(d, "no fixed"));
	ehlo_describe(&e->ext[2], d, sizeof d);
	assert_non_null(strstr(d, "PLAIN LOGIN"));
	ehlo_describe(&e->ext[3], d, sizeof d);
	assert_non_null(strstr(d, "Outlook"));
	ehlo_describe(&e->ext[4], d, sizeof d);
	assert_non_null(strstr(d, "private"));
	ehlo_describe(&e->ext[5], d, sizeof d);
	assert_non_null(strstr(d, "does not know"));
	free(e);
	smtp_reply_clear(&r);
}

static void test_ehlo_too_many_extensions(void **state)
{
	(void)state;
	struct smtp_reply r;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_line(&r, "250-mx", 6), REPLY_MORE);
	for (int i = 0; i < EHLO_MAX_EXT + 5; i++)
		assert_int_equal(smtp_reply_line(&r, "250-X", 5), REPLY_MORE);
	char long_line[700];
	memset(long_line, 'A', sizeof long_line);
	memcpy(long_line, "250 ", 4);
	assert_int_equal(smtp_reply_line(&r, long_line, sizeof long_line), REPLY_DONE);
	struct ehlo_info *e = calloc(1, sizeof *e);
	assert_non_null(e);
	ehlo_parse(&r, e);
	assert_int_equal(e->n, EHLO_MAX_EXT);
	assert_int_equal(e->dropped, 6);
	free(e);
	smtp_reply_clear(&r);
}

/* ---- POP3 -------------------------------------------------------------- */

static void test_pop3_status(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		enum pop3_status st;
		const char *text;
	} cases[] = {
		{ "+OK", POP3_ST_OK, "" },
		{ "+OK ", POP3_ST_OK, "" },
		{ "+OK 2 320", POP3_ST_OK, "2 320" },
		{ "-ERR", POP3_ST_ERR, "" },
		{ "-ERR [IN-USE] locked", POP3_ST_ERR, "[IN-USE] locked" },
		{ "+OKAY", POP3_ST_BAD, NULL },
		{ "-ERROR x", POP3_ST_BAD, NULL },
		{ "+ok x", POP3_ST_BAD, NULL },
		{ "+ x", POP3_ST_BAD, NULL },
		{ "", POP3_ST_BAD, NULL },
		{ " +OK", POP3_ST_BAD, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *t = NULL;
		size_t tl = 0;
		enum pop3_status st = pop3_status_parse(cases[i].line, strlen(cases[i].line), &t, &tl);
		if (st != cases[i].st)
			fail_msg("case %zu \"%s\": %d, want %d", i, cases[i].line, (int)st,
				 (int)cases[i].st);
		if (cases[i].text) {
			assert_int_equal(tl, strlen(cases[i].text));
			assert_memory_equal(t, cases[i].text, tl);
		}
	}
	char code[32];
	assert_true(pop3_resp_code("[IN-USE] x", 10, code, sizeof code));
	assert_string_equal(code, "IN-USE");
	assert_true(pop3_resp_code("[SYS/TEMP] x", 12, code, sizeof code));
	assert_string_equal(code, "SYS/TEMP");
	assert_false(pop3_resp_code("[] x", 4, code, sizeof code));
	assert_false(pop3_resp_code("[IN USE] x", 10, code, sizeof code));
	assert_false(pop3_resp_code("IN-USE", 6, code, sizeof code));
	assert_false(pop3_resp_code("[unterminated", 13, code, sizeof code));
	assert_false(pop3_resp_code("[0123456789012345678901234567890123456789]", 42, code,
				    sizeof code));
}

static void test_apop_timestamp(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *ts;
	} cases[] = {
		{ "POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
		  "<1896.697170952@dbc.mtview.ca.us>" },
		{ "ready <a@b> and <c@d>", "<a@b>" },
		{ "ready", NULL },
		{ "ready <no-at-sign>", NULL },
		{ "ready <a@b", NULL },
		{ "ready <a b@c>", NULL },
		{ "ready <>", NULL },
		{ "ready <a\x01@b>", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[64];
		bool ok = pop3_apop_timestamp(cases[i].text, strlen(cases[i].text), out, sizeof out);
		if (ok != (cases[i].ts != NULL))
			fail_msg("case %zu \"%s\": %d", i, cases[i].text, ok);
		if (ok)
			assert_string_equal(out, cases[i].ts);
	}
	char small[8];
	assert_false(pop3_apop_timestamp("<abcdef@gh>", 11, small, sizeof small));
}

static void test_pop3_multi_unstuffs(void **state)
{
	(void)state;
	static const char in[] = "Subject: x\r\n\r\n..dot\r\n...two\r\n.\r\n";
	static const char want[] = "Subject: x\r\n\r\n.dot\r\n..two\r\n";
	for (int how = 0; how < NSPLITS; how++) {
		struct probe_lines l;
		probe_lines_init(&l);
		struct pop3_multi m;
		pop3_multi_init(&m, 0);
		size_t off = 0;
		enum reply_result res = REPLY_MORE;
		while (off < LEN(in)) {
			size_t n = next_piece((enum split)how, LEN(in) - off);
			probe_lines_feed(&l, (const uint8_t *)in + off, n);
			off += n;
			struct probe_line line;
			while (res == REPLY_MORE && probe_lines_next(&l, &line) == LINES_LINE)
				res = pop3_multi_line(&m, line.text, line.len);
		}
		assert_int_equal(res, REPLY_DONE);
		assert_true(m.done);
		assert_int_equal(m.nlines, 4);
		assert_int_equal(m.body.len, LEN(want));
		assert_memory_equal(m.body.data, want, LEN(want));
		size_t pos = 0, len;
		const char *ln;
		assert_true(pop3_multi_next(&m, &pos, &ln, &len));
		assert_int_equal(len, 10);
		assert_true(pop3_multi_next(&m, &pos, &ln, &len));
		assert_int_equal(len, 0);
		assert_true(pop3_multi_next(&m, &pos, &ln, &len));
		assert_memory_equal(ln, ".dot", 4);
		assert_true(pop3_multi_next(&m, &pos, &ln, &len));
		assert_false(pop3_multi_next(&m, &pos, &ln, &len));
		pop3_multi_clear(&m);
		probe_lines_clear(&l);
	}
}

static void test_pop3_multi_limit(void **state)
{
	(void)state;
	struct pop3_multi m;
	pop3_multi_init(&m, 10);
	assert_int_equal(pop3_multi_line(&m, "12345678", 8), REPLY_MORE);
	assert_int_equal(pop3_multi_line(&m, "x", 1), REPLY_BAD);
	pop3_multi_clear(&m);
}

static void test_pop3_scan_pair_and_uidl(void **state)
{
	(void)state;
	uint64_t a, b;
	assert_true(pop3_scan_pair("1 320", 5, &a, &b));
	assert_true(a == 1 && b == 320);
	assert_true(pop3_scan_pair("2 5 octets", 10, &a, &b));
	assert_true(a == 2 && b == 5);
	assert_true(pop3_scan_pair("18446744073709551615 0", 22, &a, &b));
	assert_false(pop3_scan_pair("18446744073709551616 0", 22, &a, &b));
	assert_false(pop3_scan_pair("1", 1, &a, &b));
	assert_false(pop3_scan_pair("1 ", 2, &a, &b));
	assert_false(pop3_scan_pair("-1 2", 4, &a, &b));
	assert_false(pop3_scan_pair("1  2", 4, &a, &b));
	assert_false(pop3_scan_pair("1 2x", 4, &a, &b));
	assert_false(pop3_scan_pair("messages 2", 10, &a, &b));

	const char *uid;
	size_t ul;
	assert_true(pop3_uidl_line("1 whqtswO00WBw418f9t5JxYwZ", 26, &a, &uid, &ul));
	assert_true(a == 1 && ul == 24);
	char line[80];
	memset(line, 'u', sizeof line);
	memcpy(line, "7 ", 2);
	assert_true(pop3_uidl_line(line, 72, &a, &uid, &ul)); /* 70 chars */
	assert_false(pop3_uidl_line(line, 73, &a, &uid, &ul)); /* 71 */
	assert_false(pop3_uidl_line("1 ", 2, &a, &uid, &ul));
	assert_false(pop3_uidl_line("1 a b", 5, &a, &uid, &ul));
	assert_false(pop3_uidl_line("1 a\x7f", 4, &a, &uid, &ul));
	assert_false(pop3_uidl_line("x abc", 5, &a, &uid, &ul));
}

static void test_pop3_capa(void **state)
{
	(void)state;
	struct pop3_multi m;
	pop3_multi_init(&m, 0);
	const char *lines[] = { "TOP", "USER", "SASL PLAIN LOGIN", "STLS", "USERX", "IMPLEMENTATION x y" };
	for (size_t i = 0; i < 6; i++)
		pop3_multi_line(&m, lines[i], strlen(lines[i]));
	const char *args;
	size_t al;
	assert_true(pop3_capa_find(&m, "sasl", &args, &al));
	assert_int_equal(al, 11);
	assert_memory_equal(args, "PLAIN LOGIN", 11);
	assert_true(pop3_capa_find(&m, "USER", &args, &al));
	assert_int_equal(al, 0);
	assert_true(pop3_capa_find(&m, "IMPLEMENTATION", &args, &al));
	assert_memory_equal(args, "x y", 3);
	assert_false(pop3_capa_find(&m, "UIDL", &args, &al));
	assert_false(pop3_capa_find(&m, "US", &args, &al));
	assert_non_null(pop3_capa_describe("STLS", 4));
	assert_non_null(pop3_capa_describe("resp-codes", 10));
	assert_null(pop3_capa_describe("X-FOO", 5));
	pop3_multi_clear(&m);
}

/* ---- hostport ---------------------------------------------------------- */

static void test_hostport(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *host, *port;
	} cases[] = {
		{ "127.0.0.1:2525", "127.0.0.1", "2525" },
		{ "mx.example.org", "mx.example.org", "25" },
		{ "[::1]:1100", "::1", "1100" },
		{ "[::1]", "::1", "25" },
		{ "::1", "::1", "25" },
		{ "fe80::1:2", "fe80::1:2", "25" },
		{ "h:65535", "h", "65535" },
		{ "h:0", NULL, NULL },
		{ "h:65536", NULL, NULL },
		{ "h:", NULL, NULL },
		{ "h:x", NULL, NULL },
		{ ":25", NULL, NULL },
		{ "[::1", NULL, NULL },
		{ "[::1]x", NULL, NULL },
		{ "a b:25", NULL, NULL },
		{ "", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char h[64], p[8];
		bool ok = hostport_split(cases[i].in, "25", h, sizeof h, p, sizeof p);
		if (ok != (cases[i].host != NULL))
			fail_msg("case %zu \"%s\": %d", i, cases[i].in, ok);
		if (ok) {
			assert_string_equal(h, cases[i].host);
			assert_string_equal(p, cases[i].port);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_crlf_lf_and_bare_lf),
		cmocka_unit_test(test_lines_too_long),
		cmocka_unit_test(test_smtp_reply_table),
		cmocka_unit_test(test_smtp_reply_too_many_lines),
		cmocka_unit_test(test_smtp_reply_texts),
		cmocka_unit_test(test_ehlo_parse_and_describe),
		cmocka_unit_test(test_ehlo_too_many_extensions),
		cmocka_unit_test(test_pop3_status),
		cmocka_unit_test(test_apop_timestamp),
		cmocka_unit_test(test_pop3_multi_unstuffs),
		cmocka_unit_test(test_pop3_multi_limit),
		cmocka_unit_test(test_pop3_scan_pair_and_uidl),
		cmocka_unit_test(test_pop3_capa),
		cmocka_unit_test(test_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
