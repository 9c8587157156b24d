/* Unit tests for STLS (RFC 2595 4), AUTH (RFC 5034) and the cleartext
 * policy of src/proto/pop3_server (pop3_auth.c): CAPA in every mode,
 * refusals before TLS, every SASL exchange shape, failed-login limits,
 * the CVE-2011-0411 discard, timeouts around the handshake, secrets.
 * Table cases run whole, one byte at a time and in random splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base64.h"
#include "pop3_driver.h"
#include "proto/limits.h"

enum cfg_kind {
	CFG_LOOPBACK,  /* TLS configured, plaintext logins allowed */
	CFG_STRICT,    /* TLS configured, no login before TLS */
	CFG_NO_TLS,    /* no TLS configured, no plaintext logins */
	CFG_POP3S,     /* implicit TLS */
	CFG_APOP,      /* CFG_STRICT with APOP (RFC 1939's timestamp) */
	CFG_NO_SASL,   /* CFG_STRICT without AUTH */
	CFG_FAIL2,     /* POP3S, max_auth_failures 2 */
	CFG_FEW_ERRORS, /* POP3S, max_errors 2 */
	CFG_TLS_FAILS, /* CFG_STRICT, and the handshake fails */
};

static struct pop3_server_cfg make_cfg(enum cfg_kind k)
{
	struct pop3_server_cfg c = {
		.hostname = "mx.test",
		.apop_unique = "1.2.3",
		.max_cmd_line = LIMIT_POP3_CMD_LINE,
		.max_errors = LIMIT_POP3_ERRORS,
		.implementation = "facteur 0.1.0",
		.stls_offered = true,
		.sasl_offered = true,
	};
	switch (k) {
	case CFG_LOOPBACK:
		c.plaintext_auth_ok = true;
		break;
	case CFG_STRICT:
		break;
	case CFG_NO_TLS:
		c.stls_offered = false;
		break;
	case CFG_POP3S:
		c.tls_active = true;
		break;
	case CFG_APOP:
		c.hostname = "dbc.mtview.ca.us";
		c.apop_unique = "1896.697170952";
		c.apop_enabled = true;
		break;
	case CFG_NO_SASL:
		c.sasl_offered = false;
		break;
	case CFG_FAIL2:
		c.tls_active = true;
		c.max_auth_failures = 2;
		break;
	case CFG_FEW_ERRORS:
		c.tls_active = true;
		c.max_errors = 2;
		break;
	case CFG_TLS_FAILS:
		break;
	}
	return c;
}

#define GREET "+OK facteur POP3 server ready\r\n"
#define GREET_APOP "+OK facteur POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
#define LOGIN "USER alice\r\nPASS secret\r\n"
#define MAILDROP "+OK maildrop has 3 messages (370 octets)\r\n"
#define LOGGED_IN "+OK send PASS\r\n{AUTH alice secret}" MAILDROP
#define BADSTATE "-ERR command not valid in this state\r\n"
#define UNKNOWN "-ERR unknown command\r\n"
#define INVALID "-ERR [AUTH] Invalid credentials\r\n"
#define CLEAR_STLS "-ERR [AUTH] Cleartext authentication not allowed, use STLS\r\n"
#define CLEAR "-ERR [AUTH] Cleartext authentication not allowed\r\n"
#define BEGIN_TLS "+OK Begin TLS negotiation\r\n{STLS}"
#define BYE_AUTH "+OK facteur POP3 server signing off\r\n{CLOSE}"

/* CAPA in each mode: USER and SASL only where a login may happen, STLS
 * only in AUTHORIZATION before TLS. */
#define CAPA_HEAD "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
#define CAPA_MID "RESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
#define CAPA_TAIL "IMPLEMENTATION facteur 0.1.0\r\n.\r\n"
#define CAPA_LOOPBACK CAPA_HEAD "USER\r\n" CAPA_MID "SASL PLAIN LOGIN\r\nSTLS\r\n" CAPA_TAIL
#define CAPA_STRICT CAPA_HEAD CAPA_MID "STLS\r\n" CAPA_TAIL
#define CAPA_NO_TLS CAPA_HEAD CAPA_MID CAPA_TAIL
#define CAPA_TLS CAPA_HEAD "USER\r\n" CAPA_MID "SASL PLAIN LOGIN\r\n" CAPA_TAIL
#define CAPA_TLS_NO_SASL CAPA_HEAD "USER\r\n" CAPA_MID CAPA_TAIL

/* base64 of SASL messages (RFC 4616 2; LOGIN's plain fields). */
#define B64_ALICE_SECRET "AGFsaWNlAHNlY3JldA=="         /* "\0alice\0secret" */
#define B64_AUTHZ_ALICE "YWxpY2UAYWxpY2UAc2VjcmV0"       /* "alice\0alice\0secret" */
#define B64_AUTHZ_BOB "Ym9iAGFsaWNlAHNlY3JldA=="         /* "bob\0alice\0secret" */
#define B64_ALICE_WRONG "AGFsaWNlAHdyb25n"               /* "\0alice\0wrong" */
#define B64_FULL_ADDR "AGFsaWNlQGxvY2FsaG9zdABzZWNyZXQ=" /* "\0alice@localhost\0secret" */
#define B64_NO_PASS "AGFsaWNlAA=="                       /* "\0alice\0" */
#define B64_LOCKED "AGxvY2tlZABzZWNyZXQ="                /* "\0locked\0secret" */
#define B64_ALICE "YWxpY2U="
#define B64_SECRET "c2VjcmV0"
#define B64_WRONG "d3Jvbmc="
#define CH_USERNAME "+ VXNlcm5hbWU6\r\n" /* "Username:" */
#define CH_PASSWORD "+ UGFzc3dvcmQ6\r\n" /* "Password:" */
#define CH_EMPTY "+ \r\n"

struct auth_case {
	const char *name;
	enum cfg_kind cfg;
	const char *in;
	const char *out; /* after the greeting */
};

static const struct auth_case cases[] = {
	/* ---- CAPA in every mode ---- */
	{ "capa_loopback_lists_everything", CFG_LOOPBACK, "CAPA\r\n", CAPA_LOOPBACK },
	{ "capa_before_tls_hides_logins", CFG_STRICT, "CAPA\r\n", CAPA_STRICT },
	{ "capa_without_tls_configured", CFG_NO_TLS, "CAPA\r\n", CAPA_NO_TLS },
	{ "capa_pop3s", CFG_POP3S, "CAPA\r\n", CAPA_TLS },
	{ "capa_after_stls_lists_logins_not_stls", CFG_STRICT, "CAPA\r\nSTLS\r\nCAPA\r\n",
	  CAPA_STRICT BEGIN_TLS CAPA_TLS },
	{ "capa_without_sasl", CFG_NO_SASL, "CAPA\r\nSTLS\r\nCAPA\r\n",
	  CAPA_HEAD CAPA_MID "STLS\r\n" CAPA_TAIL BEGIN_TLS CAPA_TLS_NO_SASL },
	/* RFC 2449 5 / RFC 5034 3: USER and SASL stay listed after login;
	 * RFC 2595 4: STLS is not permitted there, so not listed. */
	{ "capa_in_transaction_loopback", CFG_LOOPBACK, LOGIN "CAPA\r\n",
	  LOGGED_IN CAPA_TLS },
	{ "capa_in_transaction_after_stls", CFG_STRICT, "STLS\r\n" LOGIN "CAPA\r\n",
	  BEGIN_TLS LOGGED_IN CAPA_TLS },
	{ "capa_in_transaction_pop3s", CFG_POP3S, LOGIN "CAPA\r\n", LOGGED_IN CAPA_TLS },

	/* ---- STLS (RFC 2595 4) ---- */
	{ "stls_then_login", CFG_STRICT, "STLS\r\n" LOGIN "STAT\r\n",
	  BEGIN_TLS LOGGED_IN "+OK 3 370\r\n" },
	{ "stls_lower_case", CFG_STRICT, "stls\r\n", BEGIN_TLS },
	{ "stls_twice_is_err", CFG_STRICT, "STLS\r\nSTLS\r\n",
	  BEGIN_TLS "-ERR TLS already active\r\n" },
	{ "stls_under_implicit_tls_is_err", CFG_POP3S, "STLS\r\n",
	  "-ERR TLS already active\r\n" },
	{ "stls_with_argument_is_err", CFG_STRICT, "STLS now\r\nSTLS\r\n",
	  "-ERR wrong number of arguments for STLS\r\n" BEGIN_TLS },
	{ "stls_in_transaction_is_err", CFG_LOOPBACK, LOGIN "STLS\r\n",
	  LOGGED_IN BADSTATE },
	{ "stls_in_transaction_under_tls_is_err", CFG_POP3S, LOGIN "STLS\r\n",
	  LOGGED_IN BADSTATE },
	{ "stls_not_configured_is_unknown", CFG_NO_TLS, "STLS\r\n", UNKNOWN },
	{ "stls_forgets_the_user_name", CFG_LOOPBACK, "USER alice\r\nSTLS\r\nPASS secret\r\n",
	  "+OK send PASS\r\n" BEGIN_TLS "-ERR USER first\r\n" },
	{ "stls_handshake_failure_closes_silently", CFG_TLS_FAILS, "STLS\r\nUSER alice\r\n",
	  BEGIN_TLS "{CLOSE}" },

	/* ---- no passwords in the clear (RFC 2595 2.3, RFC 8314) ---- */
	{ "cleartext_logins_refused_before_tls", CFG_STRICT,
	  "USER alice\r\nPASS secret\r\nAUTH PLAIN " B64_ALICE_SECRET "\r\nAUTH\r\n"
	  "AUTH LOGIN\r\nQUIT\r\n",
	  CLEAR_STLS CLEAR_STLS CLEAR_STLS CLEAR_STLS CLEAR_STLS BYE_AUTH },
	{ "cleartext_refusal_without_stls_does_not_mention_it", CFG_NO_TLS,
	  "USER alice\r\nPASS secret\r\nAUTH PLAIN " B64_ALICE_SECRET "\r\n",
	  CLEAR CLEAR CLEAR },
	{ "apop_refused_before_tls", CFG_APOP,
	  "APOP mrose " DRV_MROSE_DIGEST "\r\nSTLS\r\nAPOP mrose " DRV_MROSE_DIGEST "\r\n",
	  CLEAR_STLS BEGIN_TLS "{APOP mrose " DRV_MROSE_DIGEST "}"
	  "+OK maildrop has 2 messages (320 octets)\r\n" },
	{ "refusals_are_not_failed_logins", CFG_STRICT,
	  "USER a\r\nPASS b\r\nUSER a\r\nPASS b\r\nUSER a\r\nPASS b\r\nSTLS\r\n" LOGIN,
	  CLEAR_STLS CLEAR_STLS CLEAR_STLS CLEAR_STLS CLEAR_STLS CLEAR_STLS BEGIN_TLS LOGGED_IN },
	{ "plaintext_allowed_on_loopback", CFG_LOOPBACK,
	  "AUTH PLAIN " B64_ALICE_SECRET "\r\n", "{AUTH PLAIN alice secret}" MAILDROP },
	{ "implicit_tls_allows_logins", CFG_POP3S, LOGIN, LOGGED_IN },

	/* ---- AUTH PLAIN (RFC 5034 4, RFC 4616) ---- */
	{ "auth_plain_initial_response", CFG_POP3S,
	  "AUTH PLAIN " B64_ALICE_SECRET "\r\nSTAT\r\n",
	  "{AUTH PLAIN alice secret}" MAILDROP "+OK 3 370\r\n" },
	{ "auth_plain_empty_challenge", CFG_POP3S, "AUTH PLAIN\r\n" B64_ALICE_SECRET "\r\n",
	  CH_EMPTY "{AUTH PLAIN alice secret}" MAILDROP },
	{ "auth_plain_equals_is_empty_response", CFG_POP3S, "AUTH PLAIN =\r\n",
	  "-ERR malformed authentication data\r\n" },
	{ "auth_plain_authzid_equal_to_authcid", CFG_POP3S, "AUTH PLAIN " B64_AUTHZ_ALICE "\r\n",
	  "{AUTH PLAIN alice secret}" MAILDROP },
	{ "auth_plain_authzid_other_is_invalid", CFG_POP3S, "AUTH PLAIN " B64_AUTHZ_BOB "\r\n",
	  INVALID },
	{ "auth_plain_full_address", CFG_POP3S, "AUTH PLAIN " B64_FULL_ADDR "\r\n",
	  "{AUTH PLAIN alice@localhost secret}" MAILDROP },
	{ "auth_plain_empty_password_is_malformed", CFG_POP3S, "AUTH PLAIN " B64_NO_PASS "\r\n",
	  "-ERR malformed authentication data\r\n" },
	{ "auth_plain_wrong_password", CFG_POP3S, "AUTH PLAIN " B64_ALICE_WRONG "\r\n",
	  "{AUTH PLAIN alice wrong}" INVALID },
	{ "auth_mechanism_case_insensitive", CFG_POP3S, "auth plain " B64_ALICE_SECRET "\r\n",
	  "{AUTH PLAIN alice secret}" MAILDROP },
	{ "auth_empty_response_line", CFG_POP3S, "AUTH PLAIN\r\n\r\n",
	  CH_EMPTY "-ERR malformed authentication data\r\n" },
	{ "auth_in_use", CFG_POP3S, "AUTH PLAIN " B64_LOCKED "\r\n",
	  "{AUTH PLAIN locked secret}-ERR [IN-USE] Maildrop already locked\r\n" },

	/* ---- AUTH LOGIN ---- */
	{ "auth_login", CFG_POP3S, "AUTH LOGIN\r\n" B64_ALICE "\r\n" B64_SECRET "\r\n",
	  CH_USERNAME CH_PASSWORD "{AUTH LOGIN alice secret}" MAILDROP },
	{ "auth_login_initial_response", CFG_POP3S,
	  "AUTH LOGIN " B64_ALICE "\r\n" B64_SECRET "\r\n",
	  CH_PASSWORD "{AUTH LOGIN alice secret}" MAILDROP },
	{ "auth_login_wrong_password", CFG_POP3S, "AUTH LOGIN " B64_ALICE "\r\n" B64_WRONG "\r\n",
	  CH_PASSWORD "{AUTH LOGIN alice wrong}" INVALID },

	/* ---- cancel, garbage, unknown ---- */
	{ "auth_cancel", CFG_POP3S,
	  "AUTH PLAIN\r\n*\r\nAUTH LOGIN\r\n*\r\nAUTH LOGIN " B64_ALICE "\r\n*\r\nSTAT\r\n",
	  CH_EMPTY "-ERR AUTH cancelled\r\n" CH_USERNAME "-ERR AUTH cancelled\r\n"
	  CH_PASSWORD "-ERR AUTH cancelled\r\n" BADSTATE },
	{ "auth_bad_base64", CFG_POP3S,
	  "AUTH PLAIN AGFsaWNl$\r\nAUTH PLAIN\r\n=AAA\r\nAUTH PLAIN\r\nAGFsaWNlAHNlY3JldA\r\n"
	  "AUTH LOGIN\r\n" B64_ALICE "\r\nc2VjcmV0=\r\n",
	  "-ERR malformed base64\r\n" CH_EMPTY "-ERR malformed base64\r\n"
	  CH_EMPTY "-ERR malformed base64\r\n" CH_USERNAME CH_PASSWORD
	  "-ERR malformed base64\r\n" },
	{ "auth_unknown_mechanism", CFG_POP3S,
	  "AUTH CRAM-MD5\r\nAUTH SCRAM-SHA-256 biwsbj11c2VyLHI9\r\nAUTH " B64_ALICE_SECRET "\r\n",
	  "-ERR Unrecognized authentication type\r\n-ERR Unrecognized authentication type\r\n"
	  "-ERR Unrecognized authentication type\r\n" },
	{ "auth_bare_lists_mechanisms", CFG_POP3S, "AUTH\r\n",
	  "+OK SASL mechanisms follow\r\nPLAIN\r\nLOGIN\r\n.\r\n" },
	{ "auth_too_many_arguments", CFG_POP3S, "AUTH PLAIN a b\r\n",
	  "-ERR too many arguments\r\n" },
	{ "auth_in_transaction_is_err", CFG_POP3S, LOGIN "AUTH PLAIN " B64_ALICE_SECRET "\r\nAUTH\r\n",
	  LOGGED_IN BADSTATE BADSTATE },
	{ "auth_after_auth_is_err", CFG_POP3S,
	  "AUTH PLAIN " B64_ALICE_SECRET "\r\nAUTH PLAIN " B64_ALICE_SECRET "\r\n",
	  "{AUTH PLAIN alice secret}" MAILDROP BADSTATE },
	{ "auth_not_configured_is_unknown", CFG_NO_SASL, "STLS\r\nAUTH PLAIN x\r\nAUTH\r\n",
	  BEGIN_TLS UNKNOWN UNKNOWN },
	/* Lines during the exchange are responses, not commands ("QUIT"
	 * is even valid base64). */
	{ "auth_response_that_looks_like_a_command", CFG_POP3S,
	  "AUTH PLAIN\r\nQUIT\r\nAUTH LOGIN\r\nRETR 1\r\nNOOP\r\n",
	  CH_EMPTY "-ERR malformed authentication data\r\n" CH_USERNAME
	  "-ERR malformed base64\r\n" BADSTATE },
	{ "auth_pipelined_with_bare_lf", CFG_POP3S,
	  "AUTH LOGIN\n" B64_ALICE "\n" B64_SECRET "\nSTAT\nQUIT\n",
	  CH_USERNAME CH_PASSWORD "{AUTH LOGIN alice secret}" MAILDROP "+OK 3 370\r\n"
	  "{UPDATE}+OK facteur POP3 server signing off (3 messages left)\r\n{CLOSE}" },
	{ "auth_after_failed_user_pass", CFG_POP3S,
	  "USER alice\r\nPASS wrong\r\nAUTH PLAIN " B64_ALICE_SECRET "\r\n",
	  "+OK send PASS\r\n{AUTH alice wrong}" INVALID "{AUTH PLAIN alice secret}" MAILDROP },

	/* ---- failed logins (PASS, APOP, AUTH) ---- */
	{ "third_failed_login_closes", CFG_POP3S,
	  "USER alice\r\nPASS wrong\r\nAUTH PLAIN " B64_ALICE_WRONG "\r\n"
	  "AUTH LOGIN " B64_ALICE "\r\n" B64_WRONG "\r\n" LOGIN,
	  "+OK send PASS\r\n{AUTH alice wrong}" INVALID "{AUTH PLAIN alice wrong}" INVALID
	  CH_PASSWORD "{AUTH LOGIN alice wrong}" INVALID "{CLOSE}" },
	{ "authzid_mismatch_counts_as_failure", CFG_FAIL2,
	  "AUTH PLAIN " B64_AUTHZ_BOB "\r\nAUTH PLAIN " B64_ALICE_WRONG "\r\n" LOGIN,
	  INVALID "{AUTH PLAIN alice wrong}" INVALID "{CLOSE}" },
	{ "apop_failures_count", CFG_APOP,
	  "STLS\r\nAPOP mrose 00000000000000000000000000000000\r\n"
	  "APOP mrose 00000000000000000000000000000000\r\n"
	  "APOP mrose 00000000000000000000000000000000\r\nQUIT\r\n",
	  BEGIN_TLS "{APOP mrose 00000000000000000000000000000000}" INVALID
	  "{APOP mrose 00000000000000000000000000000000}" INVALID
	  "{APOP mrose 00000000000000000000000000000000}" INVALID "{CLOSE}" },
	{ "in_use_is_not_a_failed_login", CFG_FAIL2,
	  "AUTH PLAIN " B64_LOCKED "\r\nAUTH PLAIN " B64_LOCKED "\r\nAUTH PLAIN " B64_LOCKED
	  "\r\n" LOGIN,
	  "{AUTH PLAIN locked secret}-ERR [IN-USE] Maildrop already locked\r\n"
	  "{AUTH PLAIN locked secret}-ERR [IN-USE] Maildrop already locked\r\n"
	  "{AUTH PLAIN locked secret}-ERR [IN-USE] Maildrop already locked\r\n" LOGGED_IN },
	/* Cancelling is the client's right; malformed data is a mistake. */
	{ "cancel_is_not_an_error", CFG_FEW_ERRORS,
	  "AUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN =\r\n"
	  "AUTH PLAIN =\r\nAUTH PLAIN =\r\n",
	  CH_EMPTY "-ERR AUTH cancelled\r\n" CH_EMPTY "-ERR AUTH cancelled\r\n"
	  CH_EMPTY "-ERR AUTH cancelled\r\n-ERR malformed authentication data\r\n"
	  "-ERR malformed authentication data\r\n-ERR too many errors\r\n{CLOSE}" },
};

static const char *greeting(enum cfg_kind k)
{
	return k == CFG_APOP ? GREET_APOP : GREET;
}

static void run_case(const struct auth_case *c, enum drv_mode mode, uint32_t seed)
{
	static const char *const modes[] = { "whole", "bytes", "random" };
	struct pop3_server_cfg cfg = make_cfg(c->cfg);
	struct drv d;
	drv_init(&d, &cfg, seed);
	d.tls_fail = c->cfg == CFG_TLS_FAILS;
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

/* ---- without the driver ------------------------------------------- */

/* Collects replies and markers without answering requests. */
static void collect(struct pop3_server *s, struct buf *got, struct buf *logs)
{
	struct pop3_out o;
	while (pop3_server_next(s, &o)) {
		switch (o.kind) {
		case POP3_OUT_REPLY:
			buf_append(got, o.data, o.len);
			break;
		case POP3_OUT_LOG:
			if (logs) {
				buf_append(logs, o.data, o.len);
				buf_append_str(logs, "\n");
			}
			break;
		case POP3_OUT_AUTH:
			buf_printf(got, "{AUTH %s}", o.user);
			break;
		case POP3_OUT_SEND_MSG:
			buf_append_str(got, "{SEND}");
			break;
		case POP3_OUT_UPDATE:
			buf_append_str(got, "{UPDATE}");
			break;
		case POP3_OUT_CLOSE:
			buf_append_str(got, "{CLOSE}");
			break;
		case POP3_OUT_STLS:
			buf_append_str(got, "{STLS}");
			break;
		}
	}
}

static void check_buf(struct buf *got, const char *want, const char *what)
{
	if (strcmp(buf_cstr(got), want) != 0) {
		print_error("%s\n--- want:\n%s\n--- got:\n%s\n", what, want, buf_cstr(got));
		fail();
	}
}

static void input_kind(struct pop3_server *s, enum pop3_in_kind k, int result)
{
	struct pop3_in in = { .kind = k, .result = result };
	if (k == POP3_IN_AUTH_RESULT && result == POP3_AUTH_OK) {
		in.msgs = drv_alice_msgs;
		in.nmsgs = 3;
	}
	pop3_server_input(s, &in);
}

/* CVE-2011-0411: commands pipelined behind STLS are never looked at.
 * feed() takes exactly the STLS line, whole or byte by byte; after the
 * handshake (the adapter discarded the rest) the injected USER is gone. */
static void test_stls_injection_not_consumed(void **state)
{
	(void)state;
	static const char in[] = "STLS\r\nUSER x\r\n";
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct pop3_server_cfg cfg = make_cfg(CFG_LOOPBACK);
		struct pop3_server *s = pop3_server_new(&cfg);
		assert_non_null(s);
		struct buf got, logs;
		buf_init(&got, 0);
		buf_init(&logs, 0);
		collect(s, &got, &logs);
		size_t used = 0;
		if (bytewise) {
			for (size_t i = 0; i < sizeof(in) - 1; i++) {
				size_t n = pop3_server_feed(s, (const uint8_t *)in + i, 1);
				used += n;
				if (n == 0)
					break;
			}
		} else {
			used = pop3_server_feed(s, (const uint8_t *)in, sizeof(in) - 1);
		}
		assert_int_equal(used, 6);
		collect(s, &got, &logs);
		check_buf(&got, GREET BEGIN_TLS, "stls injection");
		/* Nothing more is taken until the handshake is answered. */
		assert_int_equal(pop3_server_feed(s, (const uint8_t *)in + 6, 8), 0);
		assert_int_equal(pop3_server_feed(s, (const uint8_t *)"CAPA\r\n", 6), 0);
		collect(s, &got, &logs);
		check_buf(&got, GREET BEGIN_TLS, "nothing while the handshake runs");
		input_kind(s, POP3_IN_TLS_STARTED, 0);
		collect(s, &got, &logs);
		check_buf(&got, GREET BEGIN_TLS, "no new greeting after the handshake");
		static const char after[] = "PASS secret\r\nCAPA\r\n";
		assert_int_equal(pop3_server_feed(s, (const uint8_t *)after, sizeof(after) - 1),
				 sizeof(after) - 1);
		collect(s, &got, &logs);
		check_buf(&got, GREET BEGIN_TLS "-ERR USER first\r\n" CAPA_TLS, "after the handshake");
		assert_null(strstr(buf_cstr(&logs), "user=\"x\""));
		assert_non_null(strstr(buf_cstr(&logs), "stls result=ok\n"));
		pop3_server_free(&s);
		buf_release(&got);
		buf_release(&logs);
	}
}

/* A user name given before STLS (maybe injected by a man in the middle)
 * does not survive the handshake. */
static void test_stls_forgets_pending_user(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = make_cfg(CFG_LOOPBACK);
	struct pop3_server *s = pop3_server_new(&cfg);
	struct buf got;
	buf_init(&got, 0);
	collect(s, &got, NULL);
	static const char in[] = "USER mallory\r\nSTLS\r\n";
	assert_int_equal(pop3_server_feed(s, (const uint8_t *)in, sizeof(in) - 1), sizeof(in) - 1);
	collect(s, &got, NULL);
	input_kind(s, POP3_IN_TLS_STARTED, 0);
	static const char pass[] = "PASS secret\r\nUSER alice\r\nPASS secret\r\n";
	pop3_server_feed(s, (const uint8_t *)pass, sizeof(pass) - 1);
	collect(s, &got, NULL);
	check_buf(&got, GREET "+OK send PASS\r\n" BEGIN_TLS "-ERR USER first\r\n"
			  "+OK send PASS\r\n{AUTH alice}", "user forgotten");
	pop3_server_free(&s);
	buf_release(&got);
}

/* During the handshake a plaintext line would corrupt it: a timeout or a
 * shutdown closes without a reply, a failure closes, late answers are
 * ignored. */
static void test_stls_timeout_shutdown_failure(void **state)
{
	(void)state;
	static const struct {
		enum pop3_in_kind what;
		const char *log;
	} t[] = {
		{ POP3_IN_TIMEOUT, "close reason=timeout\n" },
		{ POP3_IN_SHUTDOWN, "close reason=shutdown\n" },
		{ POP3_IN_TLS_FAILED, "stls result=failed\nclose reason=tls-failed\n" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pop3_server_cfg cfg = make_cfg(CFG_STRICT);
		struct pop3_server *s = pop3_server_new(&cfg);
		struct buf got, logs;
		buf_init(&got, 0);
		buf_init(&logs, 0);
		collect(s, &got, NULL);
		pop3_server_feed(s, (const uint8_t *)"STLS\r\n", 6);
		collect(s, &got, NULL);
		input_kind(s, t[i].what, 0);
		collect(s, &got, &logs);
		check_buf(&got, GREET BEGIN_TLS "{CLOSE}", "close during handshake");
		check_buf(&logs, t[i].log, "log during handshake");
		assert_true(pop3_server_closed(s));
		input_kind(s, POP3_IN_TLS_STARTED, 0); /* late: ignored */
		collect(s, &got, NULL);
		check_buf(&got, GREET BEGIN_TLS "{CLOSE}", "late answer");
		assert_int_equal(pop3_server_feed(s, (const uint8_t *)"CAPA\r\n", 6), 0);
		pop3_server_free(&s);
		buf_release(&got);
		buf_release(&logs);
	}
}

/* The SASL credentials go out as user/pass/mech, are wiped once AUTH is
 * answered and never reach a log line (nor does a base64 payload sent
 * where the mechanism belongs). */
static void test_sasl_secrets_wiped_and_never_logged(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = make_cfg(CFG_POP3S);
	struct pop3_server *s = pop3_server_new(&cfg);
	struct buf got, logs;
	buf_init(&got, 0);
	buf_init(&logs, 0);
	collect(s, &got, NULL);
	/* "\0alice\0hunter2x" */
	static const char in[] = "AUTH AGFsaWNlAGh1bnRlcjJ4\r\nAUTH PLAIN AGFsaWNlAGh1bnRlcjJ4\r\n";
	pop3_server_feed(s, (const uint8_t *)in, sizeof(in) - 1);
	struct pop3_out o;
	const char *pass = NULL;
	while (pop3_server_next(s, &o)) {
		if (o.kind == POP3_OUT_AUTH) {
			assert_string_equal(o.user, "alice");
			assert_string_equal(o.pass, "hunter2x");
			assert_string_equal(o.mech, "PLAIN");
			assert_null(o.apop_digest);
			pass = o.pass;
		}
		if (o.kind == POP3_OUT_LOG) {
			buf_append(&logs, o.data, o.len);
			buf_append_str(&logs, "\n");
		}
	}
	assert_non_null(pass);
	input_kind(s, POP3_IN_AUTH_RESULT, POP3_AUTH_BAD);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(pass[i], 0);
	collect(s, &got, &logs);
	const char *l = buf_cstr(&logs);
	assert_null(strstr(l, "hunter2"));
	assert_null(strstr(l, "AGFsaWNl"));
	check_buf(&logs, "auth mech=? result=unknown-mechanism\n"
			 "login user=\"alice\" method=auth-plain result=failed\n", "logs");
	pop3_server_free(&s);
	buf_release(&got);
	buf_release(&logs);
}

/* USER/PASS and APOP still hand out no mech; LOGIN says so. */
static void test_auth_request_fields(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = make_cfg(CFG_POP3S);
	struct pop3_server *s = pop3_server_new(&cfg);
	struct buf got;
	buf_init(&got, 0);
	collect(s, &got, NULL);
	pop3_server_feed(s, (const uint8_t *)LOGIN, strlen(LOGIN));
	struct pop3_out o;
	bool seen = false;
	while (pop3_server_next(s, &o))
		if (o.kind == POP3_OUT_AUTH) {
			assert_null(o.mech);
			assert_string_equal(o.pass, "secret");
			seen = true;
		}
	assert_true(seen);
	input_kind(s, POP3_IN_AUTH_RESULT, POP3_AUTH_BAD);
	collect(s, &got, NULL);
	static const char login[] = "AUTH LOGIN " B64_ALICE "\r\n" B64_SECRET "\r\n";
	pop3_server_feed(s, (const uint8_t *)login, sizeof(login) - 1);
	seen = false;
	while (pop3_server_next(s, &o))
		if (o.kind == POP3_OUT_AUTH) {
			assert_string_equal(o.mech, "LOGIN");
			assert_string_equal(o.user, "alice");
			assert_string_equal(o.pass, "secret");
			seen = true;
		}
	assert_true(seen);
	pop3_server_free(&s);
	buf_release(&got);
}

static char *repeat(char c, size_t n)
{
	char *p = malloc(n + 1);
	assert_non_null(p);
	memset(p, c, n);
	p[n] = '\0';
	return p;
}

/* Runs input through fresh sessions in every mode; compares replies and,
 * when given, the log. */
static void run_all_modes(enum cfg_kind k, const void *in, size_t len, const char *want,
			  const char *want_log, const char *what)
{
	static const enum drv_mode modes[] = { DRV_WHOLE, DRV_BYTES, DRV_RANDOM };
	for (size_t m = 0; m < 3; m++) {
		struct pop3_server_cfg cfg = make_cfg(k);
		struct drv d;
		drv_init(&d, &cfg, 9);
		drv_feed(&d, in, len, modes[m]);
		assert_false(d.stalled);
		if (strcmp(buf_cstr(&d.got), want) != 0 ||
		    (want_log && strcmp(buf_cstr(&d.logs), want_log) != 0)) {
			print_error("%s (mode %zu)\n--- want:\n%s\n%s\n--- got:\n%s\n%s\n", what, m,
				    want, want_log ? want_log : "", buf_cstr(&d.got),
				    buf_cstr(&d.logs));
			fail();
		}
		drv_clear(&d);
	}
}

/* RFC 5034 4: response lines may be LIMIT_POP3_AUTH_LINE (12288) octets
 * with CRLF. One over: -ERR at once, the exchange is over and the rest of
 * the line is skipped, not read as commands. Within the limit but longer
 * than any PLAIN message: sasl.c refuses it. The longest legal PLAIN
 * message (three 255-octet fields) passes. */
static void test_auth_response_line_limits(void **state)
{
	(void)state;
	struct buf in;
	buf_init(&in, 0);

	char *a = repeat('A', LIMIT_POP3_AUTH_LINE - 2);
	buf_printf(&in, "AUTH PLAIN\r\n%s\r\nCAPA\r\n", a);
	run_all_modes(CFG_POP3S, in.data, in.len,
		      GREET CH_EMPTY "-ERR AUTH response too long\r\n" CAPA_TLS,
		      "auth mech=PLAIN result=too-long\n", "12288 octets");

	buf_clear(&in);
	char *b = repeat('A', LIMIT_POP3_AUTH_LINE - 1);
	buf_printf(&in, "AUTH PLAIN\r\n%s QUIT\r\nCAPA\r\n", b);
	run_all_modes(CFG_POP3S, in.data, in.len,
		      GREET CH_EMPTY "-ERR AUTH response too long\r\n" CAPA_TLS,
		      "auth mech=PLAIN result=line-too-long\n", "12289 octets");

	/* A huge newline-less response: one answer, then the line is
	 * dropped; the same with bare LF. */
	buf_clear(&in);
	char *c = repeat('B', 100000);
	buf_printf(&in, "AUTH LOGIN\n%s\nCAPA\n", c);
	run_all_modes(CFG_POP3S, in.data, in.len,
		      GREET CH_USERNAME "-ERR AUTH response too long\r\n" CAPA_TLS,
		      "auth mech=LOGIN result=line-too-long\n", "100000 octets");

	/* 255-octet authzid, authcid and password: 1024 base64 chars. */
	uint8_t msg[3 * 255 + 2];
	memset(msg, 'x', sizeof(msg));
	msg[255] = '\0';
	msg[511] = '\0';
	char b64[BASE64_ENCODED_SIZE(sizeof(msg))];
	base64_encode(msg, sizeof(msg), b64);
	assert_int_equal(strlen(b64), 1024);
	buf_clear(&in);
	buf_printf(&in, "AUTH PLAIN\r\n%s\r\n", b64);
	struct buf want;
	buf_init(&want, 0);
	char *x255 = repeat('x', 255);
	buf_printf(&want, GREET CH_EMPTY "{AUTH PLAIN %s %s}" INVALID, x255, x255);
	run_all_modes(CFG_POP3S, in.data, in.len, buf_cstr(&want), NULL, "longest PLAIN");

	/* A 256-octet field is too long for the mechanism. */
	uint8_t msg2[2 + 256 + 6];
	memset(msg2, 'y', sizeof(msg2));
	msg2[0] = '\0';
	msg2[257] = '\0';
	char b64b[BASE64_ENCODED_SIZE(sizeof(msg2))];
	base64_encode(msg2, sizeof(msg2), b64b);
	buf_clear(&in);
	buf_printf(&in, "AUTH PLAIN\r\n%s\r\n", b64b);
	run_all_modes(CFG_POP3S, in.data, in.len, GREET CH_EMPTY "-ERR AUTH response too long\r\n",
		      "auth mech=PLAIN result=too-long\n", "256-octet authcid");

	free(a);
	free(b);
	free(c);
	free(x255);
	buf_release(&in);
	buf_release(&want);
}

/* RFC 5034 4: the initial response is bound by the 255-octet command
 * line (RFC 2449 4), not by the 40-octet argument limit. */
static void test_auth_initial_response_line_limit(void **state)
{
	(void)state;
	struct buf in;
	buf_init(&in, 0);
	/* "AUTH PLAIN   " (13) + 240 + CRLF = 255 */
	char *ir = repeat('A', 240);
	buf_printf(&in, "AUTH PLAIN   %s\r\n", ir);
	run_all_modes(CFG_POP3S, in.data, in.len, GREET "-ERR malformed authentication data\r\n",
		      "auth mech=PLAIN result=malformed\n", "255-octet AUTH line");
	buf_clear(&in);
	buf_printf(&in, "AUTH PLAIN   %sAAAA\r\nCAPA\r\n", ir);
	run_all_modes(CFG_POP3S, in.data, in.len, GREET "-ERR line too long\r\n" CAPA_TLS,
		      "", "259-octet AUTH line");
	free(ir);
	buf_release(&in);
}

/* One log line per event; no payloads. */
static void test_log_events(void **state)
{
	(void)state;
	static const char in[] = "USER alice\r\nAPOP a b\r\nAUTH PLAIN " B64_ALICE_SECRET "\r\n"
				 "STLS\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN =\r\nAUTH LOGIN "
				 B64_ALICE "\r\n" B64_SECRET "\r\nQUIT\r\n";
	run_all_modes(CFG_STRICT, in, sizeof(in) - 1,
		      GREET CLEAR_STLS "-ERR APOP not available\r\n" CLEAR_STLS BEGIN_TLS
		      CH_USERNAME "-ERR AUTH cancelled\r\n-ERR malformed authentication data\r\n"
		      CH_PASSWORD "{AUTH LOGIN alice secret}" MAILDROP
		      "{UPDATE}+OK facteur POP3 server signing off (3 messages left)\r\n{CLOSE}",
		      "login method=user result=cleartext-refused\n"
		      "login method=auth result=cleartext-refused\n"
		      "stls result=ok\n"
		      "auth mech=LOGIN result=cancelled\n"
		      "auth mech=PLAIN result=malformed\n"
		      "login user=\"alice\" method=auth-login result=ok messages=3 octets=370\n"
		      "quit deleted=0 left=3 result=ok\n",
		      "log events");
}

/* A timeout in the middle of an exchange: -ERR, CLOSE, secrets gone. */
static void test_timeout_during_exchange(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = make_cfg(CFG_POP3S);
	struct pop3_server *s = pop3_server_new(&cfg);
	struct buf got;
	buf_init(&got, 0);
	collect(s, &got, NULL);
	static const char in[] = "AUTH LOGIN " B64_ALICE "\r\nc2Vj";
	assert_int_equal(pop3_server_feed(s, (const uint8_t *)in, sizeof(in) - 1), sizeof(in) - 1);
	input_kind(s, POP3_IN_TIMEOUT, 0);
	collect(s, &got, NULL);
	check_buf(&got, GREET CH_PASSWORD "-ERR autologout timer expired\r\n{CLOSE}",
		  "timeout in exchange");
	pop3_server_free(&s);
	buf_release(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_whole),
		cmocka_unit_test(test_table_byte_by_byte),
		cmocka_unit_test(test_table_random_splits),
		cmocka_unit_test(test_stls_injection_not_consumed),
		cmocka_unit_test(test_stls_forgets_pending_user),
		cmocka_unit_test(test_stls_timeout_shutdown_failure),
		cmocka_unit_test(test_sasl_secrets_wiped_and_never_logged),
		cmocka_unit_test(test_auth_request_fields),
		cmocka_unit_test(test_auth_response_line_limits),
		cmocka_unit_test(test_auth_initial_response_line_limit),
		cmocka_unit_test(test_log_events),
		cmocka_unit_test(test_timeout_during_exchange),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
