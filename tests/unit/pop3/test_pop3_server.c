/* Unit tests for src/proto/pop3_server: every command in every state,
 * hostile numbers and lines, pipelining, requests and their answers.
 * Table cases run three ways: whole, one byte at a time, random splits
 * with a fixed seed; the recorded output must be identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_driver.h"
#include "proto/limits.h"

enum cfg_kind { CFG_PLAIN, CFG_APOP, CFG_FEW_ERRORS };

static struct pop3_server_cfg make_cfg(enum cfg_kind k)
{
	struct pop3_server_cfg c = {
		.hostname = "mx.test",
		.apop_unique = "1.2.3",
		.apop_enabled = false,
		.max_cmd_line = LIMIT_POP3_CMD_LINE,
		.max_errors = LIMIT_POP3_ERRORS,
		.implementation = "facteur 0.1.0",
		/* As the adapter sets it for a loopback client; the cleartext
		 * refusal and TLS are test_pop3_auth.c's. */
		.plaintext_auth_ok = true,
	};
	switch (k) {
	case CFG_PLAIN:
		break;
	case CFG_APOP:
		c.hostname = "dbc.mtview.ca.us";
		c.apop_unique = "1896.697170952";
		c.apop_enabled = true;
		break;
	case CFG_FEW_ERRORS:
		c.max_errors = 3;
		/* so that the error limit is reached first */
		c.max_auth_failures = 10;
		break;
	}
	return c;
}

#define GREET "+OK facteur POP3 server ready\r\n"
#define GREET_APOP "+OK facteur POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
#define LOGIN "USER alice\r\nPASS secret\r\n"
#define LOGGED_IN "+OK send PASS\r\n{AUTH alice secret}" \
	"+OK maildrop has 3 messages (370 octets)\r\n"
#define NOSUCH "-ERR no such message\r\n"
#define BADNUM "-ERR invalid message number\r\n"
#define BADSTATE "-ERR command not valid in this state\r\n"
#define UNKNOWN "-ERR unknown command\r\n"
#define BYE_AUTH "+OK facteur POP3 server signing off\r\n{CLOSE}"
#define BYE(n) "{UPDATE}+OK facteur POP3 server signing off (" #n " messages left)\r\n{CLOSE}"
#define CAPA_REPLY "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\n" \
	"RESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nIMPLEMENTATION facteur 0.1.0\r\n.\r\n"
#define LIST_ALL "+OK 3 messages (370 octets)\r\n1 120\r\n2 200\r\n3 50\r\n.\r\n"
#define UIDL_ALL "+OK unique-id listing follows\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n" \
	"2 QhdPYR:00WBw1Ph7x7\r\n3 u3\r\n.\r\n"

struct srv_case {
	const char *name;
	enum cfg_kind cfg;
	const char *in;
	const char *out;    /* after the greeting */
	int update_result;
};

static const struct srv_case cases[] = {
	/* ---- AUTHORIZATION ---- */
	{ "quit_in_authorization_closes_without_update", CFG_PLAIN, "QUIT\r\n",
	  BYE_AUTH, 0 },
	{ "commands_are_case_insensitive", CFG_PLAIN, "user alice\r\npAsS secret\r\nsTaT\r\n",
	  LOGGED_IN "+OK 3 370\r\n", 0 },
	{ "bare_lf_ends_a_line", CFG_PLAIN, "USER alice\nPASS secret\nSTAT\n",
	  LOGGED_IN "+OK 3 370\r\n", 0 },
	{ "user_pass_login", CFG_PLAIN, LOGIN, LOGGED_IN, 0 },
	{ "login_as_full_address", CFG_PLAIN, "USER alice@localhost\r\nPASS secret\r\n",
	  "+OK send PASS\r\n{AUTH alice@localhost secret}"
	  "+OK maildrop has 3 messages (370 octets)\r\n", 0 },
	{ "pass_keeps_spaces", CFG_PLAIN, "USER alice\r\nPASS  my secret \r\n",
	  "+OK send PASS\r\n{AUTH alice  my secret }-ERR [AUTH] Invalid credentials\r\n", 0 },
	{ "pass_without_user_is_err", CFG_PLAIN, "PASS secret\r\n",
	  "-ERR USER first\r\n", 0 },
	{ "pass_without_password_is_err", CFG_PLAIN,
	  "USER alice\r\nPASS\r\nPASS \r\nPASS secret\r\n",
	  "+OK send PASS\r\n-ERR missing password\r\n-ERR missing password\r\n"
	  "{AUTH alice secret}+OK maildrop has 3 messages (370 octets)\r\n", 0 },
	{ "wrong_password_then_user_again", CFG_PLAIN,
	  "USER alice\r\nPASS wrong\r\nPASS secret\r\nUSER alice\r\nPASS secret\r\n",
	  "+OK send PASS\r\n{AUTH alice wrong}-ERR [AUTH] Invalid credentials\r\n"
	  "-ERR USER first\r\n" LOGGED_IN, 0 },
	{ "unknown_user_same_text_as_wrong_password", CFG_PLAIN,
	  "USER nobody\r\nPASS secret\r\n",
	  "+OK send PASS\r\n{AUTH nobody secret}-ERR [AUTH] Invalid credentials\r\n", 0 },
	{ "locked_maildrop_is_in_use", CFG_PLAIN, "USER locked\r\nPASS secret\r\nQUIT\r\n",
	  "+OK send PASS\r\n{AUTH locked secret}-ERR [IN-USE] Maildrop already locked\r\n"
	  BYE_AUTH, 0 },
	{ "tempfail_is_sys_temp", CFG_PLAIN, "USER broken\r\nPASS secret\r\n",
	  "+OK send PASS\r\n{AUTH broken secret}"
	  "-ERR [SYS/TEMP] Unable to open maildrop, try again later\r\n", 0 },
	{ "second_user_replaces_first", CFG_PLAIN, "USER bob\r\nUSER alice\r\nPASS secret\r\n",
	  "+OK send PASS\r\n" LOGGED_IN, 0 },
	{ "user_without_name_is_err", CFG_PLAIN, "USER\r\n",
	  "-ERR wrong number of arguments for USER\r\n", 0 },
	{ "user_with_two_names_is_err", CFG_PLAIN, "USER a b\r\n",
	  "-ERR wrong number of arguments for USER\r\n", 0 },
	{ "user_name_over_40_is_err", CFG_PLAIN,
	  "USER 01234567890123456789012345678901234567890\r\n", "-ERR argument too long\r\n", 0 },
	{ "transaction_commands_in_authorization", CFG_PLAIN,
	  "STAT\r\nLIST\r\nLIST 1\r\nRETR 1\r\nDELE 1\r\nNOOP\r\nRSET\r\nTOP 1 1\r\n"
	  "UIDL\r\nUIDL 1\r\n",
	  BADSTATE BADSTATE BADSTATE BADSTATE BADSTATE BADSTATE BADSTATE BADSTATE
	  BADSTATE BADSTATE, 0 },
	{ "capa_in_authorization", CFG_PLAIN, "CAPA\r\n", CAPA_REPLY, 0 },
	{ "capa_with_argument_is_err", CFG_PLAIN, "CAPA x\r\n",
	  "-ERR wrong number of arguments for CAPA\r\n", 0 },
	{ "unknown_commands", CFG_PLAIN, "HELO x\r\nEHLO\r\nSTARTTLS\r\n\r\nXYZZY\r\n",
	  UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN, 0 },
	/* Not configured, not implemented: in any state (RFC 2449 5). */
	{ "stls_and_auth_not_offered_are_unknown", CFG_PLAIN,
	  "STLS\r\nAUTH\r\nAUTH PLAIN\r\n" LOGIN "STLS\r\nAUTH PLAIN\r\n",
	  UNKNOWN UNKNOWN UNKNOWN LOGGED_IN UNKNOWN UNKNOWN, 0 },
	{ "control_characters_are_err", CFG_PLAIN, "US\x01R a\r\nRETR\t1\r\n",
	  "-ERR invalid character in command\r\n-ERR invalid character in command\r\n", 0 },
	{ "apop_disabled_is_err", CFG_PLAIN,
	  "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", "-ERR APOP not available\r\n", 0 },
	/* ---- APOP (RFC 1939 7) ---- */
	{ "apop_login", CFG_APOP, "APOP mrose " DRV_MROSE_DIGEST "\r\nSTAT\r\n",
	  "{APOP mrose " DRV_MROSE_DIGEST "}+OK maildrop has 2 messages (320 octets)\r\n"
	  "+OK 2 320\r\n", 0 },
	{ "apop_digest_upper_case_is_lowered", CFG_APOP,
	  "APOP mrose C4C9334BAC560ECC979E58001B3E22FB\r\n",
	  "{APOP mrose " DRV_MROSE_DIGEST "}+OK maildrop has 2 messages (320 octets)\r\n", 0 },
	{ "apop_wrong_digest", CFG_APOP, "APOP mrose 00000000000000000000000000000000\r\n",
	  "{APOP mrose 00000000000000000000000000000000}-ERR [AUTH] Invalid credentials\r\n", 0 },
	{ "apop_bad_digest_syntax", CFG_APOP,
	  "APOP mrose c4c9334bac560ecc979e58001b3e22f\r\n"
	  "APOP mrose c4c9334bac560ecc979e58001b3e22fbb\r\n"
	  "APOP mrose g4c9334bac560ecc979e58001b3e22fb\r\nAPOP mrose\r\n",
	  "-ERR invalid APOP digest\r\n-ERR invalid APOP digest\r\n"
	  "-ERR invalid APOP digest\r\n-ERR wrong number of arguments for APOP\r\n", 0 },
	/* ---- TRANSACTION ---- */
	{ "stat", CFG_PLAIN, LOGIN "STAT\r\n", LOGGED_IN "+OK 3 370\r\n", 0 },
	{ "list_all", CFG_PLAIN, LOGIN "LIST\r\n", LOGGED_IN LIST_ALL, 0 },
	{ "list_one", CFG_PLAIN, LOGIN "LIST 2\r\nlist 3\r\n",
	  LOGGED_IN "+OK 2 200\r\n+OK 3 50\r\n", 0 },
	{ "uidl_all", CFG_PLAIN, LOGIN "UIDL\r\n", LOGGED_IN UIDL_ALL, 0 },
	{ "uidl_one", CFG_PLAIN, LOGIN "UIDL 2\r\n", LOGGED_IN "+OK 2 QhdPYR:00WBw1Ph7x7\r\n", 0 },
	{ "retr_sends_message", CFG_PLAIN, LOGIN "RETR 1\r\nRETR 3\r\n",
	  LOGGED_IN "+OK 120 octets\r\n{SEND 0 -1}+OK 50 octets\r\n{SEND 2 -1}", 0 },
	{ "top_sends_lines", CFG_PLAIN, LOGIN "TOP 2 0\r\nTOP 2 10\r\n",
	  LOGGED_IN "+OK top of message follows\r\n{SEND 1 0}"
	  "+OK top of message follows\r\n{SEND 1 10}", 0 },
	{ "noop", CFG_PLAIN, LOGIN "NOOP\r\n", LOGGED_IN "+OK\r\n", 0 },
	{ "capa_in_transaction", CFG_PLAIN, LOGIN "CAPA\r\n", LOGGED_IN CAPA_REPLY, 0 },
	{ "dele_marks_and_hides", CFG_PLAIN,
	  LOGIN "DELE 1\r\nSTAT\r\nLIST\r\nUIDL\r\nLIST 1\r\nUIDL 1\r\nRETR 1\r\nTOP 1 1\r\n",
	  LOGGED_IN "+OK message 1 deleted\r\n+OK 2 250\r\n"
	  "+OK 2 messages (250 octets)\r\n2 200\r\n3 50\r\n.\r\n"
	  "+OK unique-id listing follows\r\n2 QhdPYR:00WBw1Ph7x7\r\n3 u3\r\n.\r\n"
	  NOSUCH NOSUCH NOSUCH NOSUCH, 0 },
	{ "dele_twice_is_err", CFG_PLAIN, LOGIN "DELE 2\r\nDELE 2\r\n",
	  LOGGED_IN "+OK message 2 deleted\r\n-ERR already deleted\r\n", 0 },
	{ "rset_unmarks", CFG_PLAIN, LOGIN "DELE 1\r\nDELE 3\r\nRSET\r\nSTAT\r\nQUIT\r\n",
	  LOGGED_IN "+OK message 1 deleted\r\n+OK message 3 deleted\r\n"
	  "+OK maildrop has 3 messages (370 octets)\r\n+OK 3 370\r\n" BYE(3), 0 },
	{ "quit_updates_deleted", CFG_PLAIN, LOGIN "DELE 1\r\nDELE 3\r\nQUIT\r\n",
	  LOGGED_IN "+OK message 1 deleted\r\n+OK message 3 deleted\r\n"
	  "{UPDATE 0,2}+OK facteur POP3 server signing off (1 messages left)\r\n{CLOSE}", 0 },
	{ "quit_without_deletions_still_updates", CFG_PLAIN, LOGIN "QUIT\r\n",
	  LOGGED_IN BYE(3), 0 },
	{ "quit_update_failure", CFG_PLAIN, LOGIN "DELE 2\r\nQUIT\r\n",
	  LOGGED_IN "+OK message 2 deleted\r\n{UPDATE 1}"
	  "-ERR [SYS/TEMP] some deleted messages not removed\r\n{CLOSE}", -1 },
	{ "authorization_commands_in_transaction", CFG_PLAIN,
	  LOGIN "USER alice\r\nPASS secret\r\nAPOP a " DRV_MROSE_DIGEST "\r\n",
	  LOGGED_IN BADSTATE BADSTATE BADSTATE, 0 },
	{ "empty_maildrop", CFG_PLAIN, "USER empty\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\n"
	  "RETR 1\r\nQUIT\r\n",
	  "+OK send PASS\r\n{AUTH empty secret}+OK maildrop has 0 messages (0 octets)\r\n"
	  "+OK 0 0\r\n+OK 0 messages (0 octets)\r\n.\r\n"
	  "+OK unique-id listing follows\r\n.\r\n" NOSUCH BYE(0), 0 },
	/* ---- hostile numbers (RFC 1939 5: strict message numbers) ---- */
	{ "message_number_zero", CFG_PLAIN, LOGIN "RETR 0\r\nLIST 0\r\nDELE 0\r\n",
	  LOGGED_IN NOSUCH NOSUCH NOSUCH, 0 },
	{ "message_number_past_end", CFG_PLAIN, LOGIN "RETR 4\r\nUIDL 4\r\nTOP 4 1\r\n",
	  LOGGED_IN NOSUCH NOSUCH NOSUCH, 0 },
	{ "message_number_wraps_not", CFG_PLAIN,
	  LOGIN "LIST 4294967297\r\nLIST 18446744073709551617\r\n"
	  "RETR 99999999999999999999999999\r\nDELE 4294967296\r\n",
	  LOGGED_IN NOSUCH NOSUCH NOSUCH NOSUCH, 0 },
	{ "message_number_junk", CFG_PLAIN,
	  LOGIN "RETR -1\r\nRETR 1x\r\nRETR +1\r\nRETR 0x1\r\nLIST a\r\nDELE 1.0\r\n",
	  LOGGED_IN BADNUM BADNUM BADNUM BADNUM BADNUM BADNUM, 0 },
	{ "message_number_missing_or_extra", CFG_PLAIN,
	  LOGIN "RETR\r\nDELE\r\nTOP 1\r\nTOP\r\nLIST 1 2\r\nSTAT 1\r\n",
	  LOGGED_IN "-ERR wrong number of arguments for RETR\r\n"
	  "-ERR wrong number of arguments for DELE\r\n"
	  "-ERR wrong number of arguments for TOP\r\n"
	  "-ERR wrong number of arguments for TOP\r\n"
	  "-ERR wrong number of arguments for LIST\r\n"
	  "-ERR wrong number of arguments for STAT\r\n", 0 },
	{ "top_line_count_strict", CFG_PLAIN,
	  LOGIN "TOP 1 -1\r\nTOP 1 x\r\nTOP 1 99999999999999999999\r\nTOP 1 1 1\r\n",
	  LOGGED_IN "-ERR invalid number of lines\r\n-ERR invalid number of lines\r\n"
	  "-ERR invalid number of lines\r\n-ERR too many arguments\r\n", 0 },
	{ "leading_zeros_are_numbers", CFG_PLAIN, LOGIN "LIST 002\r\n",
	  LOGGED_IN "+OK 2 200\r\n", 0 },
	/* ---- errors and limits ---- */
	{ "too_many_errors_closes", CFG_FEW_ERRORS, "A\r\nB\r\nC\r\nD\r\nQUIT\r\n",
	  UNKNOWN UNKNOWN UNKNOWN "-ERR too many errors\r\n{CLOSE}", 0 },
	{ "failed_logins_count_as_errors", CFG_FEW_ERRORS,
	  "USER a\r\nPASS b\r\nUSER a\r\nPASS b\r\nUSER a\r\nPASS b\r\nUSER a\r\nPASS b\r\n",
	  "+OK send PASS\r\n{AUTH a b}-ERR [AUTH] Invalid credentials\r\n"
	  "+OK send PASS\r\n{AUTH a b}-ERR [AUTH] Invalid credentials\r\n"
	  "+OK send PASS\r\n{AUTH a b}-ERR [AUTH] Invalid credentials\r\n"
	  "+OK send PASS\r\n{AUTH a b}-ERR too many errors\r\n{CLOSE}", 0 },
	{ "in_use_is_not_counted", CFG_FEW_ERRORS,
	  "USER locked\r\nPASS secret\r\nUSER locked\r\nPASS secret\r\n"
	  "USER locked\r\nPASS secret\r\nUSER locked\r\nPASS secret\r\n" LOGIN,
	  "+OK send PASS\r\n{AUTH locked secret}-ERR [IN-USE] Maildrop already locked\r\n"
	  "+OK send PASS\r\n{AUTH locked secret}-ERR [IN-USE] Maildrop already locked\r\n"
	  "+OK send PASS\r\n{AUTH locked secret}-ERR [IN-USE] Maildrop already locked\r\n"
	  "+OK send PASS\r\n{AUTH locked secret}-ERR [IN-USE] Maildrop already locked\r\n"
	  LOGGED_IN, 0 },
	{ "nothing_taken_after_quit", CFG_PLAIN, "QUIT\r\nUSER alice\r\n", BYE_AUTH, 0 },
	{ "nothing_taken_after_update", CFG_PLAIN, LOGIN "QUIT\r\nSTAT\r\n",
	  LOGGED_IN BYE(3), 0 },
	/* ---- pipelining (RFC 2449 6.6): answered in order ---- */
	{ "pipelined_group", CFG_PLAIN,
	  "CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nTOP 1 3\r\n"
	  "DELE 2\r\nNOOP\r\nQUIT\r\n",
	  CAPA_REPLY LOGGED_IN "+OK 3 370\r\n" LIST_ALL UIDL_ALL "+OK 200 octets\r\n{SEND 1 -1}"
	  "+OK top of message follows\r\n{SEND 0 3}+OK message 2 deleted\r\n+OK\r\n"
	  "{UPDATE 1}+OK facteur POP3 server signing off (2 messages left)\r\n{CLOSE}", 0 },
	{ "pipelined_errors_keep_order", CFG_PLAIN,
	  "STAT\r\nUSER alice\r\nPASS bad\r\nSTAT\r\nUSER alice\r\nPASS secret\r\n"
	  "RETR 9\r\nSTAT\r\n",
	  BADSTATE "+OK send PASS\r\n{AUTH alice bad}-ERR [AUTH] Invalid credentials\r\n"
	  BADSTATE LOGGED_IN NOSUCH "+OK 3 370\r\n", 0 },
	{ "mixed_line_ends_pipelined", CFG_PLAIN, "USER alice\nPASS secret\r\nNOOP\nNOOP\r\n",
	  LOGGED_IN "+OK\r\n+OK\r\n", 0 },
};

static const char *greeting(enum cfg_kind k)
{
	return k == CFG_APOP ? GREET_APOP : GREET;
}

static void run_case(const struct srv_case *c, enum drv_mode mode, uint32_t seed)
{
	static const char *const modes[] = { "whole", "bytes", "random" };
	struct pop3_server_cfg cfg = make_cfg(c->cfg);
	struct drv d;
	drv_init(&d, &cfg, seed);
	d.update_result = c->update_result;
	drv_feed(&d, c->in, strlen(c->in), mode);
	struct buf want;
	buf_init(&want, 0);
	buf_append_str(&want, greeting(c->cfg));
	buf_append_str(&want, c->out);
	if (d.stalled || d.got.len != want.len || memcmp(d.got.data, want.data, want.len) != 0) {
		print_error("case %s (%s, seed %u)%s\n--- want:\n%s\n--- got:\n%s\n", c->name,
			    modes[mode], seed, d.stalled ? " STALLED" : "", buf_cstr(&want),
			    buf_cstr(&d.got));
		fail();
	}
	buf_release(&want);
	drv_clear(&d);
}

static void test_table_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], DRV_WHOLE, 1);
}

static void test_table_byte_by_byte(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], DRV_BYTES, 1);
}

static void test_table_random_splits(void **state)
{
	(void)state;
	for (uint32_t seed = 1; seed <= 20; seed++)
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			run_case(&cases[i], DRV_RANDOM, seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_whole),
		cmocka_unit_test(test_table_byte_by_byte),
		cmocka_unit_test(test_table_random_splits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
