/* Unit tests for the DATA filter (src/proto/smtp_data.c): end detection,
 * unstuffing, line ends, limits and the smuggling sequences. Every case
 * runs whole, one byte at a time and in random splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_data.h"

struct dcase {
	const char *name;
	const char *in;
	size_t len;
	bool done;
	size_t consumed;  /* when done: bytes up to the end mark */
	enum smtp_data_result res;
	const char *body; /* when OK */
	size_t body_len;
	uint64_t size;    /* RFC 1870 size; UINT64_MAX: don't check */
};

#define END(n, i, r, b, sz) {n, i, sizeof(i) - 1, true, sizeof(i) - 1, r, \
	b, sizeof(b) - 1, sz}
/* input with trailing bytes after the end mark (tail not consumed) */
#define ENDT(n, i, tail, r, b) {n, i tail, sizeof(i tail) - 1, true, \
	sizeof(i) - 1, r, b, sizeof(b) - 1, UINT64_MAX}
#define OPEN(n, i) {n, i, sizeof(i) - 1, false, 0, SMTP_DATA_OK, "", 0, \
	UINT64_MAX}

static const struct dcase cases[] = {
	END("empty message", ".\r\n", SMTP_DATA_OK, "", 0),
	END("one line", "hello\r\n.\r\n", SMTP_DATA_OK, "hello\n", 7),
	END("empty lines kept", "\r\n\r\na\r\n\r\n.\r\n", SMTP_DATA_OK,
		"\n\na\n\n", 9),
	END("double dot unstuffed", "..\r\n.\r\n", SMTP_DATA_OK, ".\n", 3),
	END("dot text unstuffed", "..foo\r\n.bar\r\n...\r\n.\r\n", SMTP_DATA_OK,
		".foo\nbar\n..\n", 15),
	END("dot inside line untouched", "a.b\r\na..\r\n.\r\n", SMTP_DATA_OK,
		"a.b\na..\n", 10),
	END("dot space line", ". \r\n.\r\n", SMTP_DATA_OK, " \n", 3),
	END("nul and 8-bit are data", "\0\xff\x80\r\n.\r\n", SMTP_DATA_OK,
		"\0\xff\x80\n", 5),
	ENDT("bytes after the end are not consumed", "x\r\n.\r\n",
		"MAIL FROM:<a@b>\r\n", SMTP_DATA_OK, "x\n"),
	ENDT("end right away leaves the rest", ".\r\n", "QUIT\r\n",
		SMTP_DATA_OK, ""),
	/* smuggling: none of these is an end; a bare CR/LF taints */
	OPEN("lf dot lf", "a\n.\n"),
	OPEN("lf dot crlf", "a\n.\r\n"),
	OPEN("cr dot cr", "a\r.\r"),
	OPEN("cr dot lf", "a\r.\n"),
	OPEN("crlf dot lf", "a\r\n.\n"),
	OPEN("crlf dot cr", "a\r\n.\r"),
	OPEN("crlf dot cr x", "a\r\n.\rx"),
	OPEN("crlf nul dot crlf", "a\r\n\0.\r\n"),
	OPEN("crlf space dot crlf", "a\r\n .\r\n"),
	OPEN("lf dot lf at start", "\n.\n"),
	OPEN("bare lf then dot crlf", "\n.\r\n"),
	OPEN("cr cr lf dot cr lf", "a\r\r\n"),
	END("lf dot lf then real end", "a\n.\nb\r\n.\r\n",
		SMTP_DATA_BARE_NEWLINE, "", UINT64_MAX),
	END("lf dot crlf then real end", "a\n.\r\nb\r\n.\r\n",
		SMTP_DATA_BARE_NEWLINE, "", UINT64_MAX),
	END("cr dot cr then real end", "a\r.\rb\r\n.\r\n",
		SMTP_DATA_BARE_NEWLINE, "", UINT64_MAX),
	END("cr dot lf then real end", "a\r.\nb\r\n.\r\n",
		SMTP_DATA_BARE_NEWLINE, "", UINT64_MAX),
	END("crlf dot lf then real end", "a\r\n.\nb\r\n.\r\n",
		SMTP_DATA_BARE_NEWLINE, "", UINT64_MAX),
	END("crlf dot cr then real end", "a\r\n.\rb\r\n.\r\n",
		SMTP_DATA_BARE_NEWLINE, "", UINT64_MAX),
	END("crlf dot cr cr lf then end", "a\r\n.\r\r\n.\r\n",
		SMTP_DATA_BARE_NEWLINE, "", UINT64_MAX),
	END("bare cr before crlf", "a\r\r\n.\r\n", SMTP_DATA_BARE_NEWLINE, "",
		UINT64_MAX),
	END("crlf nul dot crlf then end", "a\r\n\0.\r\nb\r\n.\r\n", SMTP_DATA_OK,
		"a\n\0.\nb\n", 10),
};

static void run(const struct dcase *c, int mode, unsigned seed)
{
	struct smtp_data d;
	smtp_data_init(&d, 1000, 1000);
	size_t pos = 0;
	unsigned rng = seed;
	while (pos < c->len && !smtp_data_done(&d)) {
		size_t want = c->len - pos;
		if (mode == 1) {
			want = 1;
		} else if (mode == 2) {
			rng = rng * 1103515245u + 12345u;
			size_t r = 1 + (rng >> 16) % 7;
			want = r < want ? r : want;
		}
		size_t n = smtp_data_feed(&d, (const uint8_t *)c->in + pos, want);
		assert_true(n <= want);
		if (n < want)
			assert_true(smtp_data_done(&d));
		pos += n;
	}
	if (smtp_data_done(&d) != c->done)
		fail_msg("%s (mode %d): done=%d", c->name, mode, smtp_data_done(&d));
	/* nothing more once done */
	if (smtp_data_done(&d))
		assert_int_equal(smtp_data_feed(&d, (const uint8_t *)"x", 1), 0);
	if (!c->done) {
		/* an open case must still end at a real <CRLF>.<CRLF>;
		 * test_smuggling_sequences_taint checks the verdicts */
		smtp_data_feed(&d, (const uint8_t *)"\r\n.\r\n", 5);
		assert_true(smtp_data_done(&d));
		smtp_data_clear(&d);
		return;
	}
	assert_int_equal(pos, c->consumed);
	enum smtp_data_result r = smtp_data_result(&d);
	if (r != c->res)
		fail_msg("%s (mode %d): result %d, want %d", c->name, mode, (int)r,
			(int)c->res);
	if (c->size != UINT64_MAX && d.size != c->size)
		fail_msg("%s: size %llu, want %llu", c->name,
			(unsigned long long)d.size, (unsigned long long)c->size);
	if (r == SMTP_DATA_OK) {
		size_t blen;
		uint8_t *b = smtp_data_take(&d, &blen);
		assert_non_null(b);
		assert_int_equal(blen, c->body_len);
		assert_memory_equal(b, c->body, blen);
		free(b);
	} else {
		assert_null(d.body);
	}
	smtp_data_clear(&d);
}

static void test_data_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run(&cases[i], 0, 0);
		run(&cases[i], 1, 0);
		run(&cases[i], 2, 1);
		run(&cases[i], 2, 99);
	}
}

/* Every smuggling prefix, completed with a real end, is rejected (or is
 * plain data when the odd byte is a NUL or a space). */
static void test_smuggling_sequences_taint(void **state)
{
	(void)state;
	static const char *const seqs[] = {
		"\n.\n", "\n.\r\n", "\r.\r", "\r.\n", "\r\n.\n", "\r\n.\r",
	};
	for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
		struct smtp_data d;
		smtp_data_init(&d, 1000, 1000);
		const char *parts[] = {"hi", seqs[i],
			"MAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\n", "\r\n.\r\n"};
		for (size_t k = 0; k < 4; k++) {
			size_t n = strlen(parts[k]);
			assert_int_equal(smtp_data_feed(&d, (const uint8_t *)parts[k], n),
				n);
			assert_int_equal(smtp_data_done(&d), k == 3);
		}
		assert_int_equal(smtp_data_result(&d), SMTP_DATA_BARE_NEWLINE);
		smtp_data_clear(&d);
	}
}

static void test_line_limit(void **state)
{
	(void)state;
	/* max_line 10: 8 chars + CRLF = 10 ok; the stuffing dot not
	 * counted (RFC 5321 4.5.3.1.6); 9 + CRLF = 11 too long */
	struct smtp_data d;
	smtp_data_init(&d, 1000, 10);
	static const char ok[] = "12345678\r\n.12345678\r\n.\r\n";
	assert_int_equal(smtp_data_feed(&d, (const uint8_t *)ok, sizeof ok - 1),
		sizeof ok - 1);
	assert_int_equal(smtp_data_result(&d), SMTP_DATA_OK);
	smtp_data_clear(&d);
	smtp_data_init(&d, 1000, 10);
	static const char bad[] = "123456789\r\n.\r\n";
	smtp_data_feed(&d, (const uint8_t *)bad, sizeof bad - 1);
	assert_true(smtp_data_done(&d));
	assert_int_equal(smtp_data_result(&d), SMTP_DATA_LINE_TOO_LONG);
	assert_null(d.body);
	smtp_data_clear(&d);
}

static void test_size_limit(void **state)
{
	(void)state;
	/* RFC 1870 size counts CRLF as 2, not the end mark or stuffing */
	struct smtp_data d;
	smtp_data_init(&d, 10, 1000);
	static const char ok[] = "1234\r\n..2\r\n.\r\n"; /* 6 + 4 = 10 */
	smtp_data_feed(&d, (const uint8_t *)ok, sizeof ok - 1);
	assert_int_equal(smtp_data_result(&d), SMTP_DATA_OK);
	assert_true(d.size == 10);
	assert_true(d.cap <= 10);
	smtp_data_clear(&d);
	smtp_data_init(&d, 10, 1000);
	static const char big[] = "1234\r\n..23\r\n.\r\n";
	smtp_data_feed(&d, (const uint8_t *)big, sizeof big - 1);
	assert_true(smtp_data_done(&d));
	assert_int_equal(smtp_data_result(&d), SMTP_DATA_TOO_BIG);
	assert_null(d.body);
	smtp_data_clear(&d);
}

/* 8 MiB through a 64 KiB limit: the allocation never passes the limit. */
static void test_memory_bounded(void **state)
{
	(void)state;
	struct smtp_data d;
	smtp_data_init(&d, 65536, 1000);
	uint8_t line[100];
	memset(line, 'y', sizeof line);
	line[98] = '\r';
	line[99] = '\n';
	for (int i = 0; i < 80 * 1024; i++) {
		assert_int_equal(smtp_data_feed(&d, line, sizeof line), sizeof line);
		assert_true(d.cap <= 65536);
	}
	assert_false(smtp_data_done(&d));
	smtp_data_feed(&d, (const uint8_t *)".\r\n", 3);
	assert_int_equal(smtp_data_result(&d), SMTP_DATA_TOO_BIG);
	assert_true(d.size == 80u * 1024 * 100);
	smtp_data_clear(&d);
}

/* The order of the enum decides which problem is reported. */
static void test_result_priority(void **state)
{
	(void)state;
	struct smtp_data d;
	smtp_data_init(&d, 5, 4);
	static const char in[] = "123456\n\r\n.\r\n";
	smtp_data_feed(&d, (const uint8_t *)in, sizeof in - 1);
	assert_int_equal(smtp_data_result(&d), SMTP_DATA_BARE_NEWLINE);
	smtp_data_clear(&d);
	smtp_data_init(&d, 5, 4);
	static const char in2[] = "123456\r\n.\r\n";
	smtp_data_feed(&d, (const uint8_t *)in2, sizeof in2 - 1);
	assert_int_equal(smtp_data_result(&d), SMTP_DATA_TOO_BIG);
	smtp_data_clear(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_table),
		cmocka_unit_test(test_smuggling_sequences_taint),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_memory_bounded),
		cmocka_unit_test(test_result_priority),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
