/* Unit tests for the SMTP command splitter (src/proto/smtp_cmd.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_cmd.h"

struct ccase {
	const char *line;
	size_t len;
	enum smtp_cmd_result res;
	enum smtp_verb verb;
	const char *args;
};

#define OK(l, v, a) {l, sizeof(l) - 1, SMTP_CMD_OK, SMTP_VERB_##v, a}
#define BAD(l, r) {l, sizeof(l) - 1, SMTP_CMD_##r, SMTP_VERB_HELO, NULL}

static const struct ccase cases[] = {
	OK("HELO x", HELO, "x"),
	OK("ehlo client.example", EHLO, "client.example"),
	OK("MaIl FROM:<a@b>", MAIL, "FROM:<a@b>"),
	OK("MAIL  FROM:<a@b> SIZE=1  ", MAIL, "FROM:<a@b> SIZE=1"),
	OK("RCPT TO:<b@c>\t", RCPT, "TO:<b@c>"),
	OK("DATA", DATA, ""),
	OK("data   ", DATA, ""),
	OK("RSET", RSET, ""),
	OK("NOOP anything at all", NOOP, "anything at all"),
	OK("QUIT", QUIT, ""),
	OK("HELP", HELP, ""),
	OK("VRFY bob", VRFY, "bob"),
	OK("EXPN list", EXPN, "list"),
	OK("STARTTLS", STARTTLS, ""),
	OK("auth PLAIN AGFsaWNlAHNlY3JldA==", AUTH, "PLAIN AGFsaWNlAHNlY3JldA=="),
	OK("BDAT 100 LAST", BDAT, "100 LAST"),
	OK("ETRN x", ETRN, "x"),
	OK("TURN", TURN, ""),
	OK("SEND FROM:<a@b>", SEND, "FROM:<a@b>"),
	OK("SOML FROM:<a@b>", SOML, "FROM:<a@b>"),
	OK("SAML FROM:<a@b>", SAML, "FROM:<a@b>"),
	BAD("", EMPTY),
	BAD("   \t ", EMPTY),
	BAD("MAILX FROM:<a@b>", UNKNOWN),
	BAD("MAI", UNKNOWN),
	BAD(" MAIL FROM:<a@b>", UNKNOWN),
	BAD("MAIL\tFROM:<a@b>", UNKNOWN),
	BAD("MAIL:FROM:<a@b>", UNKNOWN),
	BAD("GET / HTTP/1.1", UNKNOWN),
	BAD("%s%s%s%n", UNKNOWN),
	BAD("\xc3\x89HLO x", UNKNOWN),
	BAD("NOOP\0", NUL),
	BAD("\0NOOP", NUL),
	BAD("RCPT TO:<a\0@b>", NUL),
};

static void test_cmd_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct ccase *c = &cases[i];
		struct smtp_cmd cmd;
		enum smtp_cmd_result r = smtp_cmd_parse((const uint8_t *)c->line,
			c->len, &cmd);
		if (r != c->res)
			fail_msg("case %zu \"%s\": result %d, want %d", i, c->line,
				(int)r, (int)c->res);
		if (r != SMTP_CMD_OK)
			continue;
		assert_int_equal(cmd.verb, c->verb);
		assert_int_equal(cmd.args_len, strlen(c->args));
		assert_memory_equal(cmd.args, c->args, cmd.args_len);
	}
}

static void test_verb_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_cmd_verb_name(SMTP_VERB_MAIL), "MAIL");
	assert_string_equal(smtp_cmd_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_cmd_verb_name((enum smtp_verb)1000), "?");
	/* every name parses back to its verb */
	for (size_t v = 0; v < SMTP_VERB_COUNT; v++) {
		const char *n = smtp_cmd_verb_name((enum smtp_verb)v);
		struct smtp_cmd cmd;
		assert_int_equal(smtp_cmd_parse((const uint8_t *)n, strlen(n), &cmd),
			SMTP_CMD_OK);
		assert_int_equal(cmd.verb, v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_table),
		cmocka_unit_test(test_verb_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
