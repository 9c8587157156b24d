/* Unit tests for the probe's report (src/probe/report.c): steps and
 * verdicts, escaping of server text, the text rendering and the JSON
 * rendering (string escaping per RFC 8259 7, exact output). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/report.h"

static void test_json_string(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{ "plain", 5, "\"plain\"" },
		{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
		{ "\r\n\t", 3, "\"\\r\\n\\t\"" },
		{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"" },
		{ "\xc3\xa9", 2, "\"\\u00c3\\u00a9\"" },
		{ "nul\0x", 5, "\"nul\\u0000x\"" },
		{ "", 0, "\"\"" },
		{ "</script>", 9, "\"</script>\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_true(json_string(&b, cases[i].in, cases[i].len));
		assert_string_equal(buf_cstr(&b), cases[i].out);
		buf_release(&b);
	}
}

/* A small report: two steps, a hostile server line, one security entry. */
static void build(struct report *r)
{
	report_init(r);
	report_set_title(r, "probe \"test\"");
	report_begin(r, "smtp.greeting");
	report_line(r, 1.25, DIR_SERVER, "220 mx\x1b[31m", 11, 13, false);
	report_end(r, VERDICT_PASS, "greeting %d", 220);
	report_detail(r, "detail %s", "one");
	report_begin(r, "smtp.auth");
	report_line(r, 2.5, DIR_CLIENT, "AUTH PLAIN <masked>", 19, 57, false);
	report_line(r, 3, DIR_SERVER, "535 no", 6, 7, true);
	report_line(r, 3.5, DIR_NOTE, "closed", 6, 0, false);
	report_end(r, VERDICT_FAIL, "refused");
	struct report_sec *x = report_sec(r, "SMTP", "AUTH PLAIN", "plaintext", EXPOSE_CLEAR);
	assert_non_null(x);
	snprintf(x->note, sizeof x->note, "base64");
	assert_ptr_equal(report_sec(r, "SMTP", "AUTH PLAIN", "plaintext", EXPOSE_CLEAR), x);
	x->used = true;
	snprintf(x->result, sizeof x->result, "refused");
}

static void test_steps_and_counts(void **state)
{
	(void)state;
	struct report r;
	build(&r);
	assert_int_equal(r.nsteps, 2);
	assert_int_equal(report_count(&r, VERDICT_PASS), 1);
	assert_int_equal(report_count(&r, VERDICT_FAIL), 1);
	assert_int_equal(r.steps[0].ndetails, 1);
	/* A begin while a step is open closes it as INFO. */
	report_begin(&r, "a");
	report_begin(&r, "b");
	report_end(&r, VERDICT_WARN, "w");
	assert_int_equal(r.steps[2].verdict, VERDICT_INFO);
	assert_int_equal(r.steps[3].verdict, VERDICT_WARN);
	/* Lines with no open step go to a "note" step. */
	report_line(&r, 9, DIR_NOTE, "x", 1, 0, false);
	assert_string_equal(r.steps[4].name, "note");
	assert_false(r.oom);
	report_free(&r);
	assert_int_equal(r.nsteps, 0);
}

static void test_text(void **state)
{
	(void)state;
	struct report r;
	build(&r);
	struct buf b;
	buf_init(&b, 0);
	assert_true(report_format_text(&r, &b));
	const char *t = buf_cstr(&b);
	assert_non_null(strstr(t, "\n== smtp.greeting\n"));
	/* The escape byte of the server's line never reaches the terminal. */
	assert_null(strchr(t, 0x1b));
	assert_non_null(strstr(t, "     +1.2ms S: 220 mx\\x1b[31m  (13 bytes)\n"));
	assert_non_null(strstr(t, "     +2.5ms C: AUTH PLAIN <masked>  (57 bytes)\n"));
	assert_non_null(strstr(t, "S: 535 no  (7 bytes, bare LF)\n"));
	assert_non_null(strstr(t, "     +3.5ms *  closed\n"));
	assert_non_null(strstr(t, "  PASS  greeting 220\n        detail one\n"));
	assert_non_null(strstr(t, "  FAIL  refused\n"));
	assert_non_null(strstr(t, "SMTP  AUTH PLAIN       plaintext        YES  base64  "
				  "[used by the probe: refused]\n"));
	assert_non_null(strstr(t, "result: FAIL: 1 passed, 1 failed, 0 warnings\n"));
	buf_clear(&b);
	assert_true(report_format_transcript(&r, &b));
	assert_null(strstr(buf_cstr(&b), "=="));
	assert_non_null(strstr(buf_cstr(&b), "AUTH PLAIN <masked>"));
	buf_release(&b);
	report_free(&r);
}

static void test_json(void **state)
{
	(void)state;
	struct report r;
	build(&r);
	struct buf b;
	buf_init(&b, 0);
	assert_true(report_format_json(&r, &b));
	static const char want[] =
		"{\"tool\":\"facteur probe\",\"title\":\"probe \\\"test\\\"\",\"result\":\"FAIL\","
		"\"counts\":{\"PASS\":1,\"FAIL\":1,\"WARN\":0,\"INFO\":0},\"steps\":["
		"{\"name\":\"smtp.greeting\",\"verdict\":\"PASS\",\"reason\":\"greeting 220\","
		"\"details\":[\"detail one\"],\"transcript\":[{\"t_ms\":1.250,\"dir\":\"S\","
		"\"text\":\"220 mx\\\\x1b[31m\",\"bytes\":13,\"bare_lf\":false}]},"
		"{\"name\":\"smtp.auth\",\"verdict\":\"FAIL\",\"reason\":\"refused\",\"details\":[],"
		"\"transcript\":[{\"t_ms\":2.500,\"dir\":\"C\",\"text\":\"AUTH PLAIN <masked>\","
		"\"bytes\":57,\"bare_lf\":false},{\"t_ms\":3.000,\"dir\":\"S\",\"text\":\"535 no\","
		"\"bytes\":7,\"bare_lf\":true},{\"t_ms\":3.500,\"dir\":\"note\",\"text\":\"closed\","
		"\"bytes\":0,\"bare_lf\":false}]}],"
		"\"security\":[{\"protocol\":\"SMTP\",\"method\":\"AUTH PLAIN\",\"channel\":"
		"\"plaintext\",\"secret_in_clear\":true,\"exposure\":\"clear\",\"used\":true,"
		"\"result\":\"refused\",\"note\":\"base64\"}]}\n";
	assert_string_equal(buf_cstr(&b), want);
	buf_release(&b);
	report_free(&r);

	/* An empty report is still one valid object. */
	report_init(&r);
	buf_init(&b, 0);
	assert_true(report_format_json(&r, &b));
	assert_string_equal(buf_cstr(&b),
			    "{\"tool\":\"facteur probe\",\"title\":null,\"result\":\"PASS\",\"counts\":"
			    "{\"PASS\":0,\"FAIL\":0,\"WARN\":0,\"INFO\":0},\"steps\":[],"
			    "\"security\":[]}\n");
	buf_release(&b);
	report_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_steps_and_counts),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
