/* Unit tests for src/proto/pop3_cmd: keyword + arguments of one line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/pop3_cmd.h"

struct cmd_case {
	const char *line;
	size_t len;                  /* 0: strlen(line) */
	enum pop3_cmd_result result;
	enum pop3_verb verb;         /* when POP3_CMD_OK */
	size_t nargs;
	const char *arg0, *arg1;
};

#define L(s) s, 0
static const struct cmd_case cases[] = {
	{ L("USER alice"), POP3_CMD_OK, POP3_VERB_USER, 1, "alice", NULL },
	{ L("user alice"), POP3_CMD_OK, POP3_VERB_USER, 1, "alice", NULL },
	{ L("uSeR Alice"), POP3_CMD_OK, POP3_VERB_USER, 1, "Alice", NULL },
	{ L("STAT"), POP3_CMD_OK, POP3_VERB_STAT, 0, NULL, NULL },
	{ L("stat "), POP3_CMD_OK, POP3_VERB_STAT, 0, NULL, NULL },
	{ L("LIST 1"), POP3_CMD_OK, POP3_VERB_LIST, 1, "1", NULL },
	{ L("LIST   2  "), POP3_CMD_OK, POP3_VERB_LIST, 1, "2", NULL },
	{ L("TOP 1 10"), POP3_CMD_OK, POP3_VERB_TOP, 2, "1", "10" },
	{ L("top 1 10"), POP3_CMD_OK, POP3_VERB_TOP, 2, "1", "10" },
	{ L("TOP 1 2 3"), POP3_CMD_TOO_MANY_ARGS, 0, 0, NULL, NULL },
	{ L("APOP mrose c4c9334bac560ecc979e58001b3e22fb"), POP3_CMD_OK,
	  POP3_VERB_APOP, 2, "mrose", "c4c9334bac560ecc979e58001b3e22fb" },
	{ L("CAPA"), POP3_CMD_OK, POP3_VERB_CAPA, 0, NULL, NULL },
	{ L("UIDL"), POP3_CMD_OK, POP3_VERB_UIDL, 0, NULL, NULL },
	{ L("NOOP"), POP3_CMD_OK, POP3_VERB_NOOP, 0, NULL, NULL },
	{ L("RSET"), POP3_CMD_OK, POP3_VERB_RSET, 0, NULL, NULL },
	{ L("QUIT"), POP3_CMD_OK, POP3_VERB_QUIT, 0, NULL, NULL },
	{ L("DELE 3"), POP3_CMD_OK, POP3_VERB_DELE, 1, "3", NULL },
	{ L("RETR 3"), POP3_CMD_OK, POP3_VERB_RETR, 1, "3", NULL },
	/* RFC 2595 4, RFC 5034 4. */
	{ L("STLS"), POP3_CMD_OK, POP3_VERB_STLS, 0, NULL, NULL },
	{ L("stls x"), POP3_CMD_OK, POP3_VERB_STLS, 1, "x", NULL },
	{ L("AUTH"), POP3_CMD_OK, POP3_VERB_AUTH, 0, NULL, NULL },
	{ L("auth plain"), POP3_CMD_OK, POP3_VERB_AUTH, 1, "plain", NULL },
	{ L("AUTH PLAIN ="), POP3_CMD_OK, POP3_VERB_AUTH, 2, "PLAIN", "=" },
	/* The initial response is bounded by the line only. */
	{ L("AUTH PLAIN AGFsaWNlQGxvY2FsaG9zdABzZWNyZXQtc2VjcmV0LXNlY3JldA=="),
	  POP3_CMD_OK, POP3_VERB_AUTH, 2, "PLAIN",
	  "AGFsaWNlQGxvY2FsaG9zdABzZWNyZXQtc2VjcmV0LXNlY3JldA==" },
	/* ... but not the mechanism, nor a third argument. */
	{ L("AUTH 01234567890123456789012345678901234567890 x"),
	  POP3_CMD_ARG_TOO_LONG, 0, 0, NULL, NULL },
	{ L("AUTH PLAIN abcd efgh"), POP3_CMD_TOO_MANY_ARGS, 0, 0, NULL, NULL },
	{ L("AUTH PLAIN ab\tcd"), POP3_CMD_BAD_CHAR, 0, 0, NULL, NULL },
	/* PASS: the rest of the line, spaces included (RFC 1939 7 notes). */
	{ L("PASS secret"), POP3_CMD_OK, POP3_VERB_PASS, 1, "secret", NULL },
	{ L("pass two words "), POP3_CMD_OK, POP3_VERB_PASS, 1, "two words ", NULL },
	{ L("PASS  lead"), POP3_CMD_OK, POP3_VERB_PASS, 1, " lead", NULL },
	{ L("PASS a\tb"), POP3_CMD_OK, POP3_VERB_PASS, 1, "a\tb", NULL },
	{ L("PASS"), POP3_CMD_OK, POP3_VERB_PASS, 0, NULL, NULL },
	{ L("PASS "), POP3_CMD_OK, POP3_VERB_PASS, 0, NULL, NULL },
	{ L("PASS 0123456789012345678901234567890123456789012345678901234567890"),
	  POP3_CMD_OK, POP3_VERB_PASS, 1,
	  "0123456789012345678901234567890123456789012345678901234567890", NULL },
	{ "PASS a\0b", 8, POP3_CMD_BAD_CHAR, 0, 0, NULL, NULL },
	/* Unknown and malformed. */
	{ L(""), POP3_CMD_UNKNOWN, 0, 0, NULL, NULL },
	{ L(" "), POP3_CMD_UNKNOWN, 0, 0, NULL, NULL },
	{ L(" STAT"), POP3_CMD_UNKNOWN, 0, 0, NULL, NULL },
	{ L("STATS"), POP3_CMD_UNKNOWN, 0, 0, NULL, NULL },
	{ L("ST"), POP3_CMD_UNKNOWN, 0, 0, NULL, NULL },
	{ L("STARTTLS"), POP3_CMD_UNKNOWN, 0, 0, NULL, NULL },
	{ L("HELO x"), POP3_CMD_UNKNOWN, 0, 0, NULL, NULL },
	{ L("RETR\t1"), POP3_CMD_BAD_CHAR, 0, 0, NULL, NULL },
	{ L("USER a\rb"), POP3_CMD_BAD_CHAR, 0, 0, NULL, NULL },
	{ L("USER a\x7f"), POP3_CMD_BAD_CHAR, 0, 0, NULL, NULL },
	{ "STAT\0", 5, POP3_CMD_BAD_CHAR, 0, 0, NULL, NULL },
	{ L("USER \xc3\xa9t\xc3\xa9"), POP3_CMD_OK, POP3_VERB_USER, 1,
	  "\xc3\xa9t\xc3\xa9", NULL },
	/* RFC 1939 3: arguments up to 40 characters. */
	{ L("USER 0123456789012345678901234567890123456789"), POP3_CMD_OK,
	  POP3_VERB_USER, 1, "0123456789012345678901234567890123456789", NULL },
	{ L("USER 01234567890123456789012345678901234567890"),
	  POP3_CMD_ARG_TOO_LONG, 0, 0, NULL, NULL },
	{ L("RETR 00000000000000000000000000000000000000001"),
	  POP3_CMD_ARG_TOO_LONG, 0, 0, NULL, NULL },
};

static void test_cmd_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cmd_case *t = &cases[i];
		size_t len = t->len ? t->len : strlen(t->line);
		struct pop3_cmd c;
		enum pop3_cmd_result r = pop3_cmd_parse((const uint8_t *)t->line, len, &c);
		if (r != t->result) {
			print_error("case %zu \"%s\": result %d, want %d\n", i, t->line,
				    (int)r, (int)t->result);
			fail();
		}
		if (r != POP3_CMD_OK)
			continue;
		assert_int_equal(c.verb, t->verb);
		assert_int_equal(c.nargs, t->nargs);
		const char *want[2] = { t->arg0, t->arg1 };
		for (size_t a = 0; a < c.nargs; a++) {
			assert_int_equal(c.args[a].len, strlen(want[a]));
			assert_memory_equal(c.args[a].p, want[a], c.args[a].len);
		}
	}
}

static void test_verb_names(void **state)
{
	(void)state;
	assert_string_equal(pop3_verb_name(POP3_VERB_TOP), "TOP");
	assert_string_equal(pop3_verb_name(POP3_VERB_CAPA), "CAPA");
	assert_string_equal(pop3_verb_name(POP3_VERB_STLS), "STLS");
	assert_string_equal(pop3_verb_name(POP3_VERB_AUTH), "AUTH");
	assert_string_equal(pop3_verb_name(POP3_VERB_COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_parse_table),
		cmocka_unit_test(test_verb_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
