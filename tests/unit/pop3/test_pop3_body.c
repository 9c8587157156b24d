/* Unit tests for src/proto/pop3_body: the RETR/TOP wire form and the
 * CRLF size. Every case runs whole, split at every position, split at
 * every pair of positions and one byte at a time: the output must not
 * depend on the chunking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "proto/pop3_body.h"

struct body_case {
	const char *name;
	const char *in;
	long top;           /* -1: RETR */
	const char *out;    /* including ".\r\n" */
	uint64_t crlf_size; /* of in, chunk-independent */
};

static const struct body_case cases[] = {
	{ "empty", "", -1, ".\r\n", 0 },
	{ "lf_to_crlf", "a\nb\n", -1, "a\r\nb\r\n.\r\n", 6 },
	{ "crlf_stays", "a\r\nb\r\n", -1, "a\r\nb\r\n.\r\n", 6 },
	{ "mixed_ends", "a\r\nb\nc\r\n", -1, "a\r\nb\r\nc\r\n.\r\n", 9 },
	{ "lone_cr_passes", "a\rb\n", -1, "a\rb\r\n.\r\n", 5 },
	{ "cr_cr_lf", "a\r\r\n", -1, "a\r\r\n.\r\n", 4 },
	{ "unterminated_last_line", "a\nbc", -1, "a\r\nbc\r\n.\r\n", 5 },
	{ "trailing_lone_cr", "a\r", -1, "a\r\r\n.\r\n", 2 },
	{ "dot_line_stuffed", "a\n.\nb\n", -1, "a\r\n..\r\nb\r\n.\r\n", 9 },
	{ "dot_start_stuffed", ".hidden\n..two\n", -1,
	  "..hidden\r\n...two\r\n.\r\n", 16 },
	{ "dot_inside_not_stuffed", "a.b\n x.\n", -1, "a.b\r\n x.\r\n.\r\n", 10 },
	{ "dot_after_cr_line", "\r.\n", -1, "\r.\r\n.\r\n", 4 },
	{ "dot_unterminated", "x\n.", -1, "x\r\n..\r\n.\r\n", 4 },
	{ "only_newlines", "\n\n", -1, "\r\n\r\n.\r\n", 4 },
	/* TOP: headers, the blank line, then n body lines (RFC 1939 7). */
	{ "top0", "H: 1\nH: 2\n\nb1\nb2\n", 0, "H: 1\r\nH: 2\r\n\r\n.\r\n", 22 },
	{ "top1", "H: 1\n\nb1\nb2\n", 1, "H: 1\r\n\r\nb1\r\n.\r\n", 16 },
	{ "top2_crlf", "H: 1\r\n\r\nb1\r\n.b2\r\nb3\r\n", 2,
	  "H: 1\r\n\r\nb1\r\n..b2\r\n.\r\n", 21 },
	{ "top_more_than_body", "H: 1\n\nb1\n", 10, "H: 1\r\n\r\nb1\r\n.\r\n", 12 },
	{ "top_no_body", "H: 1\nH: 2\n", 0, "H: 1\r\nH: 2\r\n.\r\n", 12 },
	{ "top_unterminated_body", "H: 1\n\nb1", 5, "H: 1\r\n\r\nb1\r\n.\r\n", 10 },
	{ "top_cr_blank_line", "H: 1\r\n\r\nb1\nb2\n", 1, "H: 1\r\n\r\nb1\r\n.\r\n", 16 },
	/* "\r\r\n" is a line holding a CR, not the blank separator. */
	{ "top_cr_cr_not_blank", "H\n\r\r\n\nb\n", 0, "H\r\n\r\r\n\r\n.\r\n", 11 },
	{ "top_dot_in_header", ".H: x\n\nb\n", 0, "..H: x\r\n\r\n.\r\n", 12 },
	{ "top0_empty_body_blank_first", "\nb1\n", 0, "\r\n.\r\n", 6 },
};

/* Encodes in, split at the given positions (sorted, may repeat). */
static void encode_split(const struct body_case *c, size_t len, const size_t *cuts,
			 size_t ncuts, struct buf *out, uint64_t *size)
{
	struct pop3_body_enc e;
	pop3_body_init(&e, c->top);
	bool prev_cr = false;
	*size = 0;
	size_t start = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		const uint8_t *p = (const uint8_t *)c->in + start;
		assert_true(pop3_body_encode(&e, p, end - start, out));
		*size += pop3_crlf_size(p, end - start, &prev_cr);
		start = end;
	}
	assert_true(pop3_body_finish(&e, out));
}

static void check(const struct body_case *c, const char *how, const struct buf *out,
		  uint64_t size)
{
	size_t want = strlen(c->out);
	if (out->len != want || memcmp(out->data, c->out, want) != 0 ||
	    size != c->crlf_size) {
		print_error("case %s (%s): got %zu bytes, size %llu\n", c->name, how,
			    out->len, (unsigned long long)size);
		fail();
	}
}

static size_t case_len(const struct body_case *c)
{
	return strlen(c->in);
}

static void test_body_every_split(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
		const struct body_case *c = &cases[n];
		size_t len = case_len(c);
		struct buf out;
		uint64_t size;
		buf_init(&out, 0);

		encode_split(c, len, NULL, 0, &out, &size);
		check(c, "whole", &out, size);

		for (size_t i = 0; i <= len; i++) {
			for (size_t j = i; j <= len; j++) {
				size_t cuts[2] = { i, j };
				buf_clear(&out);
				encode_split(c, len, cuts, 2, &out, &size);
				check(c, "two cuts", &out, size);
			}
		}

		size_t *all = calloc(len + 1, sizeof(*all));
		assert_non_null(all);
		for (size_t i = 0; i < len; i++)
			all[i] = i;
		buf_clear(&out);
		encode_split(c, len, all, len, &out, &size);
		check(c, "byte by byte", &out, size);
		free(all);
		buf_release(&out);
	}
}

/* What LIST reports must be what RETR sends minus the stuffed dots and
 * the terminator (RFC 1939 11), for terminated content. */
static void test_crlf_size_matches_retr_minus_stuffing(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
		const struct body_case *c = &cases[n];
		size_t len = case_len(c);
		if (c->top >= 0 || len == 0 || c->in[len - 1] != '\n')
			continue;
		size_t stuffed = 0;
		bool start = true;
		for (size_t i = 0; i < len; i++) {
			if (start && c->in[i] == '.')
				stuffed++;
			start = c->in[i] == '\n';
		}
		struct buf out;
		uint64_t size;
		buf_init(&out, 0);
		encode_split(c, len, NULL, 0, &out, &size);
		assert_int_equal(out.len - 3 - stuffed, size);
		buf_release(&out);
	}
}

static void test_body_top_done_ignores_rest(void **state)
{
	(void)state;
	struct pop3_body_enc e;
	struct buf out;
	buf_init(&out, 0);
	pop3_body_init(&e, 0);
	assert_true(pop3_body_encode(&e, (const uint8_t *)"H: 1\n\n", 6, &out));
	assert_true(e.done);
	assert_true(pop3_body_encode(&e, (const uint8_t *)"more\n", 5, &out));
	assert_true(pop3_body_finish(&e, &out));
	assert_int_equal(out.len, 11);
	assert_memory_equal(out.data, "H: 1\r\n\r\n.\r\n", 11);
	buf_release(&out);
}

static void test_body_nul_passes(void **state)
{
	(void)state;
	struct pop3_body_enc e;
	struct buf out;
	buf_init(&out, 0);
	pop3_body_init(&e, -1);
	assert_true(pop3_body_encode(&e, (const uint8_t *)"a\0b\n", 4, &out));
	assert_true(pop3_body_finish(&e, &out));
	assert_int_equal(out.len, 8);
	assert_memory_equal(out.data, "a\0b\r\n.\r\n", 8);
	bool cr = false;
	assert_int_equal(pop3_crlf_size((const uint8_t *)"a\0b\n", 4, &cr), 5);
	buf_release(&out);
}

static void test_body_output_limit_fails(void **state)
{
	(void)state;
	struct pop3_body_enc e;
	struct buf out;
	buf_init(&out, 4);
	pop3_body_init(&e, -1);
	assert_false(pop3_body_encode(&e, (const uint8_t *)"abcdef\n", 7, &out));
	buf_release(&out);
}

/* A 1 MiB body in 4 KiB chunks equals the same body in one piece. */
static void test_body_large_chunked(void **state)
{
	(void)state;
	size_t len = 1u << 20;
	uint8_t *in = malloc(len);
	assert_non_null(in);
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		static const char alphabet[] = "ab.\n\r\n.x\n";
		in[i] = (uint8_t)alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
	}
	struct buf a, b;
	buf_init(&a, 0);
	buf_init(&b, 0);
	struct pop3_body_enc e1, e2;
	pop3_body_init(&e1, -1);
	pop3_body_init(&e2, -1);
	bool cr1 = false, cr2 = false;
	uint64_t s1 = pop3_crlf_size(in, len, &cr1), s2 = 0;
	assert_true(pop3_body_encode(&e1, in, len, &a));
	for (size_t off = 0; off < len; off += 4093) {
		size_t n = len - off < 4093 ? len - off : 4093;
		assert_true(pop3_body_encode(&e2, in + off, n, &b));
		s2 += pop3_crlf_size(in + off, n, &cr2);
	}
	assert_true(pop3_body_finish(&e1, &a));
	assert_true(pop3_body_finish(&e2, &b));
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(s1, s2);
	buf_release(&a);
	buf_release(&b);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_every_split),
		cmocka_unit_test(test_crlf_size_matches_retr_minus_stuffing),
		cmocka_unit_test(test_body_top_done_ignores_rest),
		cmocka_unit_test(test_body_nul_passes),
		cmocka_unit_test(test_body_output_limit_fails),
		cmocka_unit_test(test_body_large_chunked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
