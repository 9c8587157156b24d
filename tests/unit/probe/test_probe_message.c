/* Unit tests for messages on the client side (src/probe/message.c,
 * addrlist.c, submit.c): header fields, CRLF normalisation, dot-stuffing,
 * the read-back comparison, address lists and sendmail's preparation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/addrlist.h"
#include "probe/message.h"
#include "probe/submit.h"

#define U(s) ((const uint8_t *)(s))

static void test_headers(void **state)
{
	(void)state;
	static const char m[] = "From: a@b\r\nSubject: one\r\n\ttwo\r\n X\r\nMessage-ID:<id@x>\r\n"
				"\r\nBody: not a header\r\n";
	size_t pos = 0;
	struct header_field f;
	assert_true(header_next(U(m), strlen(m), &pos, &f));
	assert_int_equal(f.namelen, 4);
	assert_true(header_next(U(m), strlen(m), &pos, &f));
	assert_memory_equal(f.name, "Subject", 7);
	assert_int_equal(f.valuelen, strlen(" one\r\n\ttwo\r\n X"));
	char out[64];
	header_unfold(f.value, f.valuelen, out, sizeof out);
	assert_string_equal(out, "one two X");
	assert_true(header_next(U(m), strlen(m), &pos, &f));
	assert_false(header_next(U(m), strlen(m), &pos, &f)); /* the blank line */
	assert_memory_equal(m + pos, "\r\nBody", 6);
	assert_true(header_find(U(m), strlen(m), "message-id", &f));
	header_unfold(f.value, f.valuelen, out, sizeof out);
	assert_string_equal(out, "<id@x>");
	assert_false(header_find(U(m), strlen(m), "Body", &f));

	static const char *bad[] = { " cont: x\r\n", "no colon\r\n", ": empty\r\n", "Na me: x\r\n",
				     "", "X" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		pos = 0;
		assert_false(header_next(U(bad[i]), strlen(bad[i]), &pos, &f));
	}
	/* A field at the very end without CRLF. */
	pos = 0;
	assert_true(header_next(U("A: b"), 4, &pos, &f));
	assert_int_equal(f.valuelen, 2);
	assert_int_equal(f.end, 4);
}

static void test_crlf_normalize(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
		bool final;
	} cases[] = {
		{ "a\r\nb\r\n", "a\r\nb\r\n", true },
		{ "a\nb\n", "a\r\nb\r\n", true },
		{ "a\rb\r", "a\r\nb\r\n", true },
		{ "a\r\r\nb", "a\r\n\r\nb\r\n", true },
		{ "a\n\rb", "a\r\n\r\nb", false },
		{ "no end", "no end\r\n", true },
		{ "no end", "no end", false },
		{ "", "", true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_true(crlf_normalize(U(cases[i].in), strlen(cases[i].in), cases[i].final, &b));
		if (b.len != strlen(cases[i].out) || (b.len && memcmp(b.data, cases[i].out, b.len)))
			fail_msg("case %zu", i);
		buf_release(&b);
	}
}

static void test_dot_stuff(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "a\r\n.b\r\n..c\r\n", "a\r\n..b\r\n...c\r\n.\r\n" },
		{ ".\r\n", "..\r\n.\r\n" },
		{ "x", "x\r\n.\r\n" },
		{ "", ".\r\n" },
		{ "a\r\n.", "a\r\n..\r\n.\r\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_true(smtp_dot_stuff(U(cases[i].in), strlen(cases[i].in), &b));
		if (b.len != strlen(cases[i].out) || (b.len && memcmp(b.data, cases[i].out, b.len)))
			fail_msg("case %zu: got %.*s", i, (int)b.len, (const char *)b.data);
		buf_release(&b);
	}
}

static void test_compare(void **state)
{
	(void)state;
	static const char sent[] = "From: a@b\r\nSubject: s\r\n\r\nline 1\r\nline 2\r\n";
	struct msg_cmp c;
	message_compare(U(sent), strlen(sent), U(sent), strlen(sent), &c);
	assert_true(c.same);
	assert_int_equal(c.added, 0);

	static const char traced[] = "Return-Path: <a@b>\r\nReceived: from x\r\n\tby y\r\n"
				     "Delivered-To: c@d\r\n"
				     "From: a@b\r\nSubject: s\r\n\r\nline 1\r\nline 2\r\n";
	message_compare(U(sent), strlen(sent), U(traced), strlen(traced), &c);
	assert_true(c.same);
	assert_int_equal(c.added, 3);
	assert_string_equal(c.added_names, "Return-Path, Received, Delivered-To");

	static const char changed[] = "Return-Path: <a@b>\r\n"
				      "From: a@b\r\nSubject: s\r\n\r\nline 1\r\nline X\r\n";
	message_compare(U(sent), strlen(sent), U(changed), strlen(changed), &c);
	assert_false(c.same);
	assert_int_equal(c.line, 5);
	assert_string_equal(c.want, "line 2");
	assert_string_equal(c.got, "line X");

	static const char shorter[] = "From: a@b\r\nSubject: s\r\n\r\nline 1\r\n";
	message_compare(U(sent), strlen(sent), U(shorter), strlen(shorter), &c);
	assert_false(c.same);
	assert_int_equal(c.line, 5);
	assert_string_equal(c.got, "(end of message)");

	static const char longer[] = "From: a@b\r\nSubject: s\r\n\r\nline 1\r\nline 2\r\nmore\r\n";
	message_compare(U(sent), strlen(sent), U(longer), strlen(longer), &c);
	assert_false(c.same);
	assert_int_equal(c.line, 6);
	assert_string_equal(c.want, "(end of message)");

	static const char other[] = "Subject: nothing like it\r\n\r\nbody\r\n";
	message_compare(U(sent), strlen(sent), U(other), strlen(other), &c);
	assert_false(c.same);
	assert_int_equal(c.line, 1);
	assert_string_equal(c.want, "From: a@b");

	static const char junk_before[] = "not a field\r\nFrom: a@b\r\nSubject: s\r\n\r\n"
					  "line 1\r\nline 2\r\n";
	message_compare(U(sent), strlen(sent), U(junk_before), strlen(junk_before), &c);
	assert_false(c.same);
}

static void test_display_escape(void **state)
{
	(void)state;
	char out[32];
	display_escape("a\\b\t\x01\xff\"", 7, out, sizeof out);
	assert_string_equal(out, "a\\\\b\\t\\x01\\xff\"");
	display_escape("0123456789012345678901234567890123456789", 40, out, 16);
	assert_string_equal(out, "012345678901...");
	display_escape("", 0, out, sizeof out);
	assert_string_equal(out, "");
}

/* ---- address lists ---------------------------------------------------- */

static void test_addrlist(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int n;
		const char *addrs; /* '|'-separated */
	} cases[] = {
		{ "a@b", 1, "a@b" },
		{ " a@b , c@d ", 2, "a@b|c@d" },
		{ "Alice <alice@x>, \"Bob, Jr.\" <bob@y>", 2, "alice@x|bob@y" },
		{ "carol@z (Carol (the) Third)", 1, "carol@z" },
		{ "team: a@b, c@d;, e@f", 3, "a@b|c@d|e@f" },
		{ "undisclosed-recipients:;", 0, "" },
		{ "<@relay.x,@r2:dave@w>", 1, "dave@w" },
		{ "\"john doe\"@x", 1, "\"john doe\"@x" },
		{ "a@b,,c@d", 2, "a@b|c@d" },
		{ "Folded\r\n <f@g>", 1, "f@g" },
		{ "root", 1, "root" },
		{ "<>", 0, "" },
		{ "", 0, "" },
		{ "\"unterminated <a@b>", -1, NULL },
		{ "Name <a@b", -1, NULL },
		{ "a@b)", -1, NULL },
		{ "(open a@b", -1, NULL },
		{ "John Smith", -1, NULL },
		{ "<a@b> <c@d>", -1, NULL },
		{ "a@b;", -1, NULL },
		{ "a:b: c@d;", -1, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf out;
		buf_init(&out, 0);
		int n = addrlist_parse(cases[i].in, strlen(cases[i].in), &out);
		if (n != cases[i].n)
			fail_msg("case %zu \"%s\": %d addresses, want %d", i, cases[i].in, n,
				 cases[i].n);
		if (n > 0) {
			char joined[200] = "";
			size_t j = 0;
			for (size_t off = 0; off < out.len; off++)
				joined[j++] = out.data[off] ? (char)out.data[off] : '|';
			joined[j - 1] = '\0';
			assert_string_equal(joined, cases[i].addrs);
		}
		buf_release(&out);
	}
	char huge[400];
	memset(huge, 'a', sizeof huge);
	huge[200] = '@';
	struct buf out;
	buf_init(&out, 0);
	assert_int_equal(addrlist_parse(huge, sizeof huge, &out), -1);
	buf_release(&out);
}

/* ---- sendmail's preparation ------------------------------------------- */

static const struct submit_in si_default = {
	.from_addr = "me@localhost", .from_name = NULL, .date = "Thu, 1 Jan 2026 00:00:00 +0000",
	.message_id = "<1.2@host>", .domain = "localhost", .extract = false,
};

static char *prepare(const char *in, const struct submit_in *si, struct submit_out *out)
{
	buf_init(&out->message, 0);
	buf_init(&out->rcpts, 0);
	assert_true(submit_prepare(U(in), strlen(in), si, out));
	return (char *)buf_cstr(&out->message);
}

static void release(struct submit_out *out)
{
	buf_release(&out->message);
	buf_release(&out->rcpts);
}

static void test_submit_adds_missing_fields(void **state)
{
	(void)state;
	struct submit_out out;
	assert_string_equal(prepare("Subject: hi\n\nbody\n", &si_default, &out),
			    "Subject: hi\r\nFrom: me@localhost\r\nDate: Thu, 1 Jan 2026 00:00:00 "
			    "+0000\r\nMessage-ID: <1.2@host>\r\n\r\nbody\r\n");
	release(&out);
	assert_string_equal(prepare("From: x@y\nDate: d\nMessage-Id: <m>\n\nb", &si_default, &out),
			    "From: x@y\r\nDate: d\r\nMessage-Id: <m>\r\n\r\nb\r\n");
	release(&out);
	/* All body: a blank line is put between the added fields and it. */
	assert_string_equal(prepare("just text\n", &si_default, &out),
			    "From: me@localhost\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
			    "Message-ID: <1.2@host>\r\n\r\njust text\r\n");
	release(&out);
	/* An mbox "From " line is dropped. */
	assert_memory_equal(prepare("From me Thu Jan 1\nSubject: x\n\nb\n", &si_default, &out),
			    "Subject: x\r\nFrom: me@localhost\r\n", 32);
	release(&out);
	struct submit_in named = si_default;
	named.from_name = "Jane Q. \"JQ\" Public";
	assert_non_null(strstr(prepare("\n", &named, &out),
			       "From: \"Jane Q. \\\"JQ\\\" Public\" <me@localhost>\r\n"));
	release(&out);
	named.from_name = "Jane Public";
	assert_non_null(strstr(prepare("\n", &named, &out), "From: Jane Public <me@localhost>\r\n"));
	release(&out);
	assert_false(prepare("caf\xc3\xa9\n", &si_default, &out) == NULL);
	assert_true(out.eight_bit);
	release(&out);
}

static void test_submit_extracts_and_removes_bcc(void **state)
{
	(void)state;
	struct submit_in si = si_default;
	si.extract = true;
	struct submit_out out;
	const char *m = prepare("To: A <a@x>, b@y\r\nCc: root\r\nBcc: secret@z,\r\n a@x\r\n"
				"Subject: s\r\n\r\nBcc: in the body stays\r\n", &si, &out);
	assert_null(strstr(m, "secret"));
	assert_non_null(strstr(m, "\r\nBcc: in the body stays\r\n"));
	assert_int_equal(out.nrcpts, 4);
	const char *r = (const char *)out.rcpts.data;
	assert_string_equal(r, "a@x");
	r += strlen(r) + 1;
	assert_string_equal(r, "b@y");
	r += strlen(r) + 1;
	assert_string_equal(r, "root@localhost");
	r += strlen(r) + 1;
	assert_string_equal(r, "secret@z");
	release(&out);

	/* Without -t, Bcc is still removed and nothing is extracted. */
	m = prepare("To: a@x\nBcc: s@z\n\nb\n", &si_default, &out);
	assert_null(strstr(m, "s@z"));
	assert_int_equal(out.nrcpts, 0);
	release(&out);

	buf_init(&out.message, 0);
	buf_init(&out.rcpts, 0);
	assert_false(submit_prepare(U("To: \"broken\n\n"), 13, &si, &out));
	assert_non_null(strstr(out.err, "To"));
	release(&out);
}

static void test_submit_rcpt_dedup(void **state)
{
	(void)state;
	struct buf l;
	buf_init(&l, 0);
	size_t n = 0;
	assert_true(submit_add_rcpt(&l, &n, "a@b", 3, "d"));
	assert_true(submit_add_rcpt(&l, &n, "A@B", 3, "d"));
	assert_true(submit_add_rcpt(&l, &n, "bob", 3, "d"));
	assert_true(submit_add_rcpt(&l, &n, "bob@d", 5, "d"));
	assert_int_equal(n, 2);
	char big[300];
	memset(big, 'x', sizeof big);
	assert_false(submit_add_rcpt(&l, &n, big, sizeof big, "d"));
	buf_release(&l);
}

static void test_submit_dot_line(void **state)
{
	(void)state;
	static const char a[] = "line\n.\nafter\n";
	assert_int_equal(submit_dot_line(U(a), strlen(a), 0), 5);
	static const char b[] = "line\r\n.\r\n";
	assert_int_equal(submit_dot_line(U(b), strlen(b), 0), 6);
	static const char c[] = "..\n.x\n .\n";
	assert_int_equal(submit_dot_line(U(c), strlen(c), 0), strlen(c));
	static const char d[] = ".\n";
	assert_int_equal(submit_dot_line(U(d), strlen(d), 0), 0);
	static const char e[] = "x\n.";
	assert_int_equal(submit_dot_line(U(e), strlen(e), 0), strlen(e)); /* not yet a line */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_crlf_normalize),
		cmocka_unit_test(test_dot_stuff),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_display_escape),
		cmocka_unit_test(test_addrlist),
		cmocka_unit_test(test_submit_adds_missing_fields),
		cmocka_unit_test(test_submit_extracts_and_removes_bcc),
		cmocka_unit_test(test_submit_rcpt_dedup),
		cmocka_unit_test(test_submit_dot_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
