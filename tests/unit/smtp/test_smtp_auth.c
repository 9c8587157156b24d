/* Unit tests for STARTTLS (RFC 3207), AUTH (RFC 4954) and submission
 * (RFC 6409) in the SMTP core (src/proto/smtp_auth.c and the parts of
 * smtp_server.c / smtp_verbs.c they touch). Every table case runs whole,
 * one byte at a time and in random splits, and must give the same trace;
 * the harness answers STARTTLS with a finished handshake and AUTH by its
 * account policy (alice / bob, password "secret"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/limits.h"
#include "proto/smtp_server.h"
#include "proto/smtp_session.h"
#include "smtp_harness.h"

#define GREET "220 mx.test ESMTP facteur\r\n"
#define EHLO "EHLO client.test\r\n"
#define EHLO_HEAD "250-mx.test\r\n250-SIZE 26214400\r\n250-PIPELINING\r\n" \
	"250-8BITMIME\r\n"
#define EHLO_R EHLO_HEAD "250 ENHANCEDSTATUSCODES\r\n"
#define EHLO_STLS_R EHLO_HEAD "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"
#define EHLO_AUTH_R EHLO_HEAD "250-ENHANCEDSTATUSCODES\r\n" \
	"250 AUTH PLAIN LOGIN\r\n"
#define EHLO_BOTH_R EHLO_HEAD "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n" \
	"250 AUTH PLAIN LOGIN\r\n"
#define HELO "HELO client.test\r\n"
#define HELO_R "250 mx.test\r\n"
#define STARTTLS "STARTTLS\r\n"
#define STARTTLS_R "220 2.0.0 Ready to start TLS\r\n[STARTTLS]\n"
#define OK_R "250 2.0.0 Ok\r\n"
#define MAIL_R "250 2.1.0 Ok\r\n"
#define RCPT_OK_R "250 2.1.5 Ok\r\n"
#define DATA_R "354 End data with <CR><LF>.<CR><LF>\r\n"
#define BYE_R "221 2.0.0 Bye\r\n[CLOSE]\n"
/* "\0alice\0secret", "\0alice\0wrong", "\0bob\0secret" */
#define ALICE_B64 "AGFsaWNlAHNlY3JldA=="
#define WRONG_B64 "AGFsaWNlAHdyb25n"
#define BOB_B64 "AGJvYgBzZWNyZXQ="
#define AUTH_ALICE "AUTH PLAIN " ALICE_B64 "\r\n"
#define AUTH_WRONG "AUTH PLAIN " WRONG_B64 "\r\n"
#define ALICE_REQ "[AUTH PLAIN user=alice pass=secret]\n"
#define WRONG_REQ "[AUTH PLAIN user=alice pass=wrong]\n"
#define AUTH_OK_R "235 2.7.0 Authentication successful\r\n"
#define AUTH_BAD_R "535 5.7.8 Authentication credentials invalid\r\n"
#define NO_TLS_R "538 5.7.11 Encryption required for requested " \
	"authentication mechanism\r\n"
#define SEQ_R(t) "503 5.5.1 Error: " t "\r\n"

/* configuration flags of a case */
enum {
	F_STARTTLS = 1 << 0,   /* starttls_offered */
	F_TLS = 1 << 1,        /* tls_active (implicit TLS) */
	F_AUTH = 1 << 2,       /* auth_offered */
	F_PLAIN_OK = 1 << 3,   /* auth_plaintext_ok */
	F_SUBMISSION = 1 << 4, /* submission */
};
#define MX (F_STARTTLS | F_AUTH)          /* port 25 / 587 with STARTTLS */
#define IMPLICIT (F_TLS | F_AUTH)         /* port 465 */
#define LOOPBACK (F_AUTH | F_PLAIN_OK)    /* plaintext AUTH allowed */
#define SUBMIT (F_STARTTLS | F_AUTH | F_SUBMISSION)

struct acase {
	const char *name;
	unsigned flags;
	const char *in;
	size_t inlen;
	const char *out;
	unsigned max_auth_failures;
	unsigned max_errors;
	bool tls_fail;
	const char *log_has;   /* a substring the log must contain */
	const char *log_lacks; /* ... and one it must not */
};

#define C(n, f, i, o, ...) {.name = n, .flags = f, .in = i, \
	.inlen = sizeof(i) - 1, .out = o, __VA_ARGS__}

static const struct acase cases[] = {
	/* ---- EHLO ---- */
	C("ehlo_with_everything_off_is_unchanged", 0, EHLO, GREET EHLO_R),
	C("ehlo_before_tls_offers_starttls_not_auth", MX, EHLO,
		GREET EHLO_STLS_R),
	C("ehlo_in_implicit_tls_offers_auth_not_starttls",
		IMPLICIT | F_STARTTLS, EHLO, GREET EHLO_AUTH_R),
	C("ehlo_with_plaintext_auth_allowed_offers_auth", LOOPBACK, EHLO,
		GREET EHLO_AUTH_R),
	C("ehlo_with_plaintext_auth_and_tls_offers_both",
		LOOPBACK | F_STARTTLS, EHLO, GREET EHLO_BOTH_R),
	C("ehlo_auth_not_offered_even_in_tls", F_TLS, EHLO, GREET EHLO_R),
	/* ---- STARTTLS (RFC 3207) ---- */
	C("starttls_then_ehlo_offers_auth", MX, EHLO STARTTLS EHLO,
		GREET EHLO_STLS_R STARTTLS_R EHLO_AUTH_R,
		.log_has = "starttls result=ok"),
	C("starttls_before_ehlo_is_allowed", MX, STARTTLS EHLO,
		GREET STARTTLS_R EHLO_AUTH_R),
	C("starttls_with_argument_is_501", MX, EHLO "STARTTLS now\r\n",
		GREET EHLO_STLS_R "501 5.5.4 Syntax: STARTTLS\r\n"),
	C("starttls_not_offered_is_502", F_AUTH | F_PLAIN_OK, STARTTLS,
		GREET "502 5.5.1 Command not implemented\r\n"),
	C("second_starttls_is_503", MX, EHLO STARTTLS EHLO STARTTLS,
		GREET EHLO_STLS_R STARTTLS_R EHLO_AUTH_R
		SEQ_R("TLS already active")),
	C("starttls_in_implicit_tls_is_503", IMPLICIT | F_STARTTLS, STARTTLS,
		GREET SEQ_R("TLS already active")),
	C("starttls_in_transaction_is_503", MX,
		EHLO "MAIL FROM:<a@b.example>\r\n" STARTTLS,
		GREET EHLO_STLS_R MAIL_R SEQ_R("MAIL transaction in progress")),
	/* RFC 3207 4.2: EHLO is forgotten; no new greeting */
	C("starttls_forgets_ehlo", MX,
		EHLO STARTTLS "MAIL FROM:<a@b.example>\r\n",
		GREET EHLO_STLS_R STARTTLS_R SEQ_R("send HELO/EHLO first")),
	C("starttls_forgets_auth", MX | F_PLAIN_OK,
		EHLO AUTH_ALICE STARTTLS EHLO AUTH_ALICE,
		GREET EHLO_BOTH_R ALICE_REQ AUTH_OK_R STARTTLS_R EHLO_AUTH_R
		ALICE_REQ AUTH_OK_R),
	C("failed_handshake_closes_without_reply", MX, EHLO STARTTLS,
		GREET EHLO_STLS_R STARTTLS_R "[CLOSE]\n", .tls_fail = true,
		.log_has = "starttls result=failed"),
	/* ---- AUTH (RFC 4954) ---- */
	C("auth_plain_with_initial_response", IMPLICIT, EHLO AUTH_ALICE,
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R,
		.log_has = "auth mech=PLAIN user=\"alice\" "
		"account=\"alice@localhost\" result=ok",
		.log_lacks = ALICE_B64),
	C("auth_plain_without_initial_response_gets_334_space", IMPLICIT,
		EHLO "AUTH PLAIN\r\n" ALICE_B64 "\r\n",
		GREET EHLO_AUTH_R "334 \r\n" ALICE_REQ AUTH_OK_R,
		.log_lacks = ALICE_B64),
	C("auth_mechanism_is_case_insensitive", IMPLICIT,
		EHLO "auth plain " ALICE_B64 "\r\n",
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R),
	C("auth_plain_equals_is_an_empty_initial_response", IMPLICIT,
		EHLO "AUTH PLAIN =\r\n",
		GREET EHLO_AUTH_R "501 5.5.2 Malformed authentication data\r\n"),
	C("auth_login_asks_username_then_password", IMPLICIT,
		EHLO "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n",
		GREET EHLO_AUTH_R "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
		"[AUTH LOGIN user=alice pass=secret]\n" AUTH_OK_R,
		.log_has = "auth mech=LOGIN user=\"alice\""),
	C("auth_login_with_initial_username", IMPLICIT,
		EHLO "AUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n",
		GREET EHLO_AUTH_R "334 UGFzc3dvcmQ6\r\n"
		"[AUTH LOGIN user=alice pass=secret]\n" AUTH_OK_R),
	C("auth_star_cancels_with_501_and_commands_resume", IMPLICIT,
		EHLO "AUTH PLAIN\r\n*\r\nNOOP\r\n",
		GREET EHLO_AUTH_R "334 \r\n501 5.0.0 Authentication cancelled\r\n"
		OK_R, .log_has = "auth mech=PLAIN result=cancelled"),
	C("auth_login_star_at_password_cancels", IMPLICIT,
		EHLO "AUTH LOGIN YWxpY2U=\r\n*\r\n",
		GREET EHLO_AUTH_R "334 UGFzc3dvcmQ6\r\n"
		"501 5.0.0 Authentication cancelled\r\n"),
	C("auth_bad_base64_is_501_552", IMPLICIT,
		EHLO "AUTH PLAIN\r\nAGFs!!!!\r\nAUTH PLAIN AGFsaWNl=AA\r\n",
		GREET EHLO_AUTH_R "334 \r\n501 5.5.2 Cannot decode response\r\n"
		"501 5.5.2 Cannot decode response\r\n",
		.log_has = "result=bad-base64"),
	C("auth_unknown_mechanism_is_504", IMPLICIT,
		EHLO "AUTH CRAM-MD5\r\nAUTH SCRAM-SHA-256 biws\r\n",
		GREET EHLO_AUTH_R
		"504 5.5.4 Unrecognized authentication mechanism\r\n"
		"504 5.5.4 Unrecognized authentication mechanism\r\n",
		.log_has = "auth mech=CRAM-MD5 result=unknown-mechanism"),
	/* the "mechanism" of a client that forgot it is its credentials:
	 * never logged */
	C("auth_payload_as_mechanism_is_not_logged", IMPLICIT,
		EHLO "AUTH " ALICE_B64 "\r\nAUTH cram-md5\r\n",
		GREET EHLO_AUTH_R
		"504 5.5.4 Unrecognized authentication mechanism\r\n"
		"504 5.5.4 Unrecognized authentication mechanism\r\n",
		.log_has = "auth mech=? result=unknown-mechanism",
		.log_lacks = "AGFsaWNl"),
	C("auth_syntax_errors_are_501", IMPLICIT,
		EHLO "AUTH\r\nAUTH PLAIN a b\r\n",
		GREET EHLO_AUTH_R
		"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
		"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"),
	C("auth_wrong_password_is_535", IMPLICIT, EHLO AUTH_WRONG,
		GREET EHLO_AUTH_R WRONG_REQ AUTH_BAD_R,
		.log_has = "auth mech=PLAIN user=\"alice\" result=failed",
		.log_lacks = "wrong"),
	C("auth_tempfail_is_454", IMPLICIT,
		EHLO "AUTH PLAIN AHRlbXBmYWlsAHNlY3JldA==\r\n",
		GREET EHLO_AUTH_R "[AUTH PLAIN user=tempfail pass=secret]\n"
		"454 4.7.0 Temporary authentication failure\r\n",
		.log_has = "result=tempfail"),
	C("auth_foreign_authzid_is_535_without_a_request", IMPLICIT,
		EHLO "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n",
		GREET EHLO_AUTH_R AUTH_BAD_R,
		.log_has = "result=authzid-mismatch"),
	C("auth_misplaced_nuls_are_501", IMPLICIT,
		EHLO "AUTH PLAIN AGFsaWNlAHNlYwByZXQ=\r\nAUTH PLAIN YWxpY2UAc2VjcmV0\r\n",
		GREET EHLO_AUTH_R "501 5.5.2 Malformed authentication data\r\n"
		"501 5.5.2 Malformed authentication data\r\n"),
	C("second_auth_after_success_is_503", IMPLICIT,
		EHLO AUTH_ALICE "AUTH PLAIN " BOB_B64 "\r\n",
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R SEQ_R("already authenticated")),
	C("auth_survives_a_new_ehlo", IMPLICIT, EHLO AUTH_ALICE EHLO AUTH_ALICE,
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R EHLO_AUTH_R
		SEQ_R("already authenticated")),
	C("auth_after_failure_may_retry", IMPLICIT, EHLO AUTH_WRONG AUTH_ALICE,
		GREET EHLO_AUTH_R WRONG_REQ AUTH_BAD_R ALICE_REQ AUTH_OK_R),
	C("auth_before_helo_is_503", IMPLICIT, AUTH_ALICE,
		GREET SEQ_R("send HELO/EHLO first")),
	C("auth_after_helo_is_accepted", LOOPBACK, HELO AUTH_ALICE,
		GREET HELO_R ALICE_REQ AUTH_OK_R),
	C("auth_in_transaction_is_503", IMPLICIT,
		EHLO "MAIL FROM:<a@b.example>\r\n" AUTH_ALICE,
		GREET EHLO_AUTH_R MAIL_R SEQ_R("MAIL transaction in progress")),
	C("auth_not_offered_is_502", F_TLS, EHLO AUTH_ALICE,
		GREET EHLO_R "502 5.5.1 Command not implemented\r\n"),
	C("auth_before_tls_is_538_then_fine_after_starttls", MX,
		EHLO AUTH_ALICE "AUTH LOGIN\r\n" STARTTLS EHLO AUTH_ALICE,
		GREET EHLO_STLS_R NO_TLS_R NO_TLS_R STARTTLS_R EHLO_AUTH_R
		ALICE_REQ AUTH_OK_R),
	/* a client that did not get the 334 it should wait for: its next
	 * command is taken as the response, and nothing is executed */
	C("command_during_exchange_is_a_response", IMPLICIT,
		EHLO "AUTH PLAIN\r\nQUIT\r\nNOOP\r\n",
		GREET EHLO_AUTH_R "334 \r\n"
		"501 5.5.2 Malformed authentication data\r\n" OK_R),
	C("pipelined_auth_with_initial_response", IMPLICIT,
		EHLO AUTH_ALICE "MAIL FROM:<alice@localhost>\r\n"
		"RCPT TO:<bob@localhost>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R MAIL_R
		"[CHECK bob@localhost auth=alice@localhost]\n" RCPT_OK_R DATA_R
		"[COMMIT from=<alice@localhost> to=<bob@localhost> 8bit=0 "
		"body=hi\\n auth=alice@localhost]\n" OK_R BYE_R),
	/* ---- failure limit ---- */
	C("third_failure_closes_with_421", IMPLICIT,
		EHLO AUTH_WRONG AUTH_WRONG AUTH_WRONG,
		GREET EHLO_AUTH_R WRONG_REQ AUTH_BAD_R WRONG_REQ AUTH_BAD_R
		WRONG_REQ AUTH_BAD_R
		"421 4.7.0 mx.test Too many authentication failures, closing\r\n"
		"[CLOSE]\n", .log_has = "close reason=auth-failures"),
	C("failure_limit_is_configurable", IMPLICIT, EHLO AUTH_WRONG AUTH_ALICE,
		GREET EHLO_AUTH_R WRONG_REQ AUTH_BAD_R
		"421 4.7.0 mx.test Too many authentication failures, closing\r\n"
		"[CLOSE]\n", .max_auth_failures = 1),
	C("authzid_mismatch_counts_as_a_failure", IMPLICIT,
		EHLO "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n" AUTH_WRONG,
		GREET EHLO_AUTH_R AUTH_BAD_R WRONG_REQ AUTH_BAD_R
		"421 4.7.0 mx.test Too many authentication failures, closing\r\n"
		"[CLOSE]\n", .max_auth_failures = 2),
	C("cancelled_exchanges_count_as_errors", IMPLICIT,
		EHLO "AUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n*\r\n",
		GREET EHLO_AUTH_R "334 \r\n501 5.0.0 Authentication cancelled\r\n"
		"334 \r\n501 5.0.0 Authentication cancelled\r\n"
		"421 4.7.0 mx.test Too many errors, closing\r\n[CLOSE]\n",
		.max_errors = 2),
	/* ---- MAIL AUTH= (RFC 4954 5) ---- */
	C("mail_auth_parameter_is_accepted_and_ignored", IMPLICIT,
		EHLO "MAIL FROM:<a@b.example> AUTH=<>\r\nRSET\r\n"
		"MAIL FROM:<a@b.example> AUTH=e+3Dmc2@example.com SIZE=10\r\n",
		GREET EHLO_AUTH_R MAIL_R OK_R MAIL_R),
	C("mail_auth_parameter_bad_xtext_is_501", IMPLICIT,
		EHLO "MAIL FROM:<a@b.example> AUTH=a+zz\r\n"
		"MAIL FROM:<a@b.example> AUTH=a+3\r\n"
		"MAIL FROM:<a@b.example> AUTH\r\n"
		"MAIL FROM:<a@b.example> AUTH=<> AUTH=<>\r\n",
		GREET EHLO_AUTH_R "501 5.5.4 Bad parameter value\r\n"
		"501 5.5.4 Bad parameter value\r\n"
		"501 5.5.4 Bad parameter value\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
	C("mail_auth_parameter_where_auth_is_not_offered_is_555", MX,
		EHLO "MAIL FROM:<a@b.example> AUTH=<>\r\n",
		GREET EHLO_STLS_R "555 5.5.4 Unsupported parameter\r\n"),
	/* ---- authenticated senders and recipients ---- */
	C("authenticated_sender_must_be_the_account", IMPLICIT,
		EHLO AUTH_ALICE "MAIL FROM:<bob@localhost>\r\n"
		"MAIL FROM:<alice@localhost.example>\r\n"
		"MAIL FROM:<ALICE@LocalHost>\r\n",
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R
		"553 5.7.1 Sender address rejected: not owned by user\r\n"
		"553 5.7.1 Sender address rejected: not owned by user\r\n"
		MAIL_R, .log_has = "mail from=<bob@localhost> result=not-owned"),
	C("authenticated_null_sender_is_allowed", IMPLICIT,
		EHLO AUTH_ALICE "MAIL FROM:<>\r\n",
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R MAIL_R),
	C("bare_authcid_sends_as_the_canonical_account", IMPLICIT,
		EHLO "AUTH PLAIN " BOB_B64 "\r\nMAIL FROM:<bob@localhost>\r\n",
		GREET EHLO_AUTH_R "[AUTH PLAIN user=bob pass=secret]\n" AUTH_OK_R
		MAIL_R),
	C("unauthenticated_sender_is_not_checked", IMPLICIT,
		EHLO "MAIL FROM:<alice@localhost>\r\n", GREET EHLO_AUTH_R MAIL_R),
	C("authenticated_foreign_recipient_is_451_440", IMPLICIT,
		EHLO AUTH_ALICE "MAIL FROM:<alice@localhost>\r\n"
		"RCPT TO:<friend@example.org>\r\n",
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R MAIL_R
		"[CHECK friend@example.org auth=alice@localhost]\n"
		"451 4.4.0 Relaying to remote domains is not available yet\r\n",
		.log_has = "rcpt to=<friend@example.org> result=relay-unavailable"),
	/* ---- submission (RFC 6409) ---- */
	C("submission_mail_before_auth_is_530", SUBMIT,
		EHLO "MAIL FROM:<alice@localhost>\r\n",
		GREET EHLO_STLS_R "530 5.7.0 Authentication required\r\n"),
	C("submission_after_starttls_and_auth", SUBMIT,
		EHLO STARTTLS EHLO "MAIL FROM:<alice@localhost>\r\n" AUTH_ALICE
		"MAIL FROM:<alice@localhost>\r\nRCPT TO:<bob@localhost>\r\n",
		GREET EHLO_STLS_R STARTTLS_R EHLO_AUTH_R
		"530 5.7.0 Authentication required\r\n" ALICE_REQ AUTH_OK_R
		MAIL_R "[CHECK bob@localhost auth=alice@localhost]\n" RCPT_OK_R),
	C("submission_null_sender_after_auth", SUBMIT | F_TLS,
		EHLO AUTH_ALICE "MAIL FROM:<>\r\n",
		GREET EHLO_AUTH_R ALICE_REQ AUTH_OK_R MAIL_R),
	C("submission_rcpt_without_mail_is_503", SUBMIT | F_TLS,
		EHLO "RCPT TO:<bob@localhost>\r\n",
		GREET EHLO_AUTH_R SEQ_R("need MAIL command")),
};

static char *printable(const char *p, size_t n)
{
	char *o = malloc(n * 4 + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			o[k++] = '\\';
			o[k++] = 'r';
		} else if (p[i] == '\n') {
			o[k++] = '\\';
			o[k++] = 'n';
			o[k++] = '\n';
		} else {
			o[k++] = p[i];
		}
	}
	o[k] = '\0';
	return o;
}

static struct smtp_server_cfg cfg_of(unsigned flags)
{
	struct smtp_server_cfg cfg = harness_default_cfg();
	cfg.starttls_offered = flags & F_STARTTLS;
	cfg.tls_active = flags & F_TLS;
	cfg.auth_offered = flags & F_AUTH;
	cfg.auth_plaintext_ok = flags & F_PLAIN_OK;
	cfg.submission = flags & F_SUBMISSION;
	return cfg;
}

static void run_case(const struct acase *c)
{
	struct smtp_server_cfg cfg = cfg_of(c->flags);
	cfg.max_auth_failures = c->max_auth_failures;
	if (c->max_errors)
		cfg.max_errors = c->max_errors;
	static const struct {
		enum harness_split split;
		unsigned seed;
		const char *name;
	} modes[] = {
		{SPLIT_WHOLE, 1, "whole"},
		{SPLIT_BYTES, 1, "bytes"},
		{SPLIT_RANDOM, 1, "random-1"},
		{SPLIT_RANDOM, 77, "random-77"},
		{SPLIT_RANDOM, 4242, "random-4242"},
	};
	size_t outlen = strlen(c->out);
	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		struct harness h;
		harness_init(&h, &cfg);
		h.tls_fail = c->tls_fail;
		h.rng = modes[m].seed;
		harness_feed(&h, (const uint8_t *)c->in, c->inlen, modes[m].split);
		assert_false(h.output_after_close);
		const char *t = buf_cstr(&h.trace);
		const char *log = buf_cstr(&h.log);
		if (h.trace.len != outlen || memcmp(t, c->out, outlen) != 0) {
			char *a = printable(t, h.trace.len);
			char *e = printable(c->out, outlen);
			print_error("case %s (%s):\n--- got:\n%s\n--- expected:\n%s\n",
				c->name, modes[m].name, a, e);
			free(a);
			free(e);
			harness_clear(&h);
			fail();
		}
		if ((c->log_has && !strstr(log, c->log_has))
			|| (c->log_lacks && strstr(log, c->log_lacks))) {
			print_error("case %s: log %s \"%s\":\n%s\n", c->name,
				c->log_has && !strstr(log, c->log_has) ? "lacks"
								       : "has",
				c->log_has && !strstr(log, c->log_has) ? c->log_has
								       : c->log_lacks,
				log);
			harness_clear(&h);
			fail();
		}
		/* nothing of a password or payload survives in the line
		 * buffers once processed */
		assert_null(memmem(h.s->line.data, h.s->line.cap, "secret", 6));
		assert_null(memmem(h.s->line.data, h.s->line.cap, "AGFsaWNl", 8));
		harness_clear(&h);
	}
}

static void test_case(void **state)
{
	run_case(*state);
}

/* Collects every output item after one call, as a trace string. */
static void drain(struct smtp_server *s, struct buf *t)
{
	struct smtp_out o;
	while (smtp_server_next(s, &o)) {
		switch (o.kind) {
		case SMTP_OUT_REPLY:
			buf_append(t, o.data, o.len);
			break;
		case SMTP_OUT_STARTTLS:
			buf_append_str(t, "[STARTTLS]\n");
			break;
		case SMTP_OUT_AUTH:
			buf_append_str(t, "[AUTH]\n");
			break;
		case SMTP_OUT_CLOSE:
			buf_append_str(t, "[CLOSE]\n");
			break;
		case SMTP_OUT_CHECK_RCPT:
			buf_append_str(t, "[CHECK]\n");
			break;
		case SMTP_OUT_COMMIT:
			free(o.commit.body);
			buf_append_str(t, "[COMMIT]\n");
			break;
		case SMTP_OUT_LOG:
			break;
		}
	}
}

static void feed_expect(struct smtp_server *s, const char *in, size_t want,
	const char *out)
{
	struct buf t;
	buf_init(&t, 0);
	size_t n = smtp_server_feed(s, (const uint8_t *)in, strlen(in));
	drain(s, &t);
	assert_int_equal(n, want);
	assert_string_equal(buf_cstr(&t), out);
	buf_release(&t);
}

/* CVE-2011-0411: commands pipelined after STARTTLS in the same packet
 * are not consumed, buffered or answered: feed() takes exactly the
 * STARTTLS line, the adapter drops the rest, and the session starts
 * over inside TLS. Whole and byte by byte. */
static void test_starttls_injection_is_not_consumed(void **state)
{
	(void)state;
	struct smtp_server_cfg cfg = cfg_of(MX);
	static const char evil[] = "RSET\r\nMAIL FROM:<evil@example.org>\r\n";
	for (int bytes = 0; bytes < 2; bytes++) {
		struct smtp_server *s = smtp_server_new(&cfg);
		struct buf t;
		buf_init(&t, 0);
		drain(s, &t);
		static const char in[] = EHLO "STARTTLS\r\nRSET\r\nMAIL FROM:<evil@example.org>\r\n";
		size_t used = 0;
		if (bytes) {
			/* one byte per feed, each refused once STARTTLS is in */
			for (size_t i = 0; i < sizeof in - 1; i++) {
				size_t n = smtp_server_feed(s, (const uint8_t *)in + i, 1);
				drain(s, &t);
				used += n;
				if (n == 0)
					break;
			}
			assert_int_equal(used, sizeof EHLO - 1 + 10);
		} else {
			used = smtp_server_feed(s, (const uint8_t *)in, sizeof in - 1);
			drain(s, &t);
			assert_int_equal(used, sizeof EHLO - 1 + 10);
		}
		assert_string_equal(buf_cstr(&t), GREET EHLO_STLS_R
			"220 2.0.0 Ready to start TLS\r\n[STARTTLS]\n");
		/* nothing after the STARTTLS line was buffered */
		assert_int_equal(s->line.len, 0);
		/* still nothing while the handshake runs */
		feed_expect(s, evil, 0, "");
		struct smtp_in ok = {.kind = SMTP_IN_TLS_STARTED};
		smtp_server_input(s, &ok);
		/* no greeting, and the plaintext EHLO is forgotten */
		feed_expect(s, "MAIL FROM:<a@b.example>\r\n", 25,
			SEQ_R("send HELO/EHLO first"));
		feed_expect(s, EHLO, sizeof EHLO - 1, EHLO_AUTH_R);
		buf_release(&t);
		smtp_server_free(&s);
	}
}

/* Just "STARTTLS\r\nRSET\r\n": 220 then STARTTLS, nothing for RSET. */
static void test_starttls_then_rset_in_one_feed(void **state)
{
	(void)state;
	struct smtp_server_cfg cfg = cfg_of(MX);
	struct smtp_server *s = smtp_server_new(&cfg);
	struct buf t;
	buf_init(&t, 0);
	drain(s, &t);
	buf_clear(&t);
	size_t n = smtp_server_feed(s, (const uint8_t *)"STARTTLS\r\nRSET\r\n", 16);
	assert_int_equal(n, 10);
	struct smtp_out o;
	assert_true(smtp_server_next(s, &o));
	assert_int_equal(o.kind, SMTP_OUT_REPLY);
	assert_int_equal(o.len, 30);
	assert_memory_equal(o.data, "220 2.0.0 Ready to start TLS\r\n", 30);
	assert_true(smtp_server_next(s, &o));
	assert_int_equal(o.kind, SMTP_OUT_STARTTLS);
	assert_false(smtp_server_next(s, &o));
	assert_int_equal(smtp_server_feed(s, (const uint8_t *)"RSET\r\n", 6), 0);
	assert_false(smtp_server_next(s, &o));
	assert_false(smtp_server_closed(s));
	buf_release(&t);
	smtp_server_free(&s);
}

/* Timeout or shutdown during the handshake: CLOSE, no plaintext 421 on
 * a connection that is speaking TLS; a late answer is ignored. */
static void test_timeout_during_handshake_closes_silently(void **state)
{
	(void)state;
	for (int kind = 0; kind < 2; kind++) {
		struct smtp_server_cfg cfg = cfg_of(MX);
		struct smtp_server *s = smtp_server_new(&cfg);
		struct buf t;
		buf_init(&t, 0);
		drain(s, &t);
		buf_clear(&t);
		smtp_server_feed(s, (const uint8_t *)STARTTLS, 10);
		drain(s, &t);
		buf_clear(&t);
		struct smtp_in in = {.kind = kind ? SMTP_IN_TIMEOUT : SMTP_IN_SHUTDOWN};
		smtp_server_input(s, &in);
		drain(s, &t);
		assert_string_equal(buf_cstr(&t), "[CLOSE]\n");
		assert_true(smtp_server_closed(s));
		struct smtp_in late = {.kind = SMTP_IN_TLS_STARTED};
		smtp_server_input(s, &late);
		struct smtp_out o;
		assert_false(smtp_server_next(s, &o));
		buf_release(&t);
		smtp_server_free(&s);
	}
}

/* The credentials of SMTP_OUT_AUTH stay valid (and unchanged) until the
 * answer, whatever else the adapter calls meanwhile; then the password
 * is wiped. Timeout meanwhile waits for the answer. */
static void test_auth_request_lives_until_answered(void **state)
{
	(void)state;
	struct smtp_server_cfg cfg = cfg_of(IMPLICIT);
	struct smtp_server *s = smtp_server_new(&cfg);
	struct buf t;
	buf_init(&t, 0);
	drain(s, &t);
	static const char in[] = EHLO AUTH_ALICE "NOOP\r\n";
	size_t n = smtp_server_feed(s, (const uint8_t *)in, sizeof in - 1);
	assert_int_equal(n, sizeof in - 1 - 6);
	struct smtp_out o;
	const char *user = NULL, *pass = NULL;
	while (smtp_server_next(s, &o)) {
		if (o.kind != SMTP_OUT_AUTH)
			continue;
		assert_string_equal(o.auth.mech, "PLAIN");
		user = o.auth.authcid;
		pass = o.auth.password;
		assert_int_equal(o.auth.password_len, 6);
	}
	assert_non_null(pass);
	assert_false(smtp_server_next(s, &o));
	assert_int_equal(smtp_server_feed(s, (const uint8_t *)"NOOP\r\n", 6), 0);
	struct smtp_in to = {.kind = SMTP_IN_TIMEOUT};
	smtp_server_input(s, &to);
	assert_false(smtp_server_next(s, &o));
	assert_false(smtp_server_closed(s));
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "secret");
	struct smtp_in r = {.kind = SMTP_IN_AUTH_RESULT, .result = SMTP_AUTH_OK,
		.user = "alice@localhost"};
	smtp_server_input(s, &r);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(pass[i], 0);
	buf_clear(&t);
	drain(s, &t);
	assert_string_equal(buf_cstr(&t),
		AUTH_OK_R "421 4.4.2 mx.test Timeout, closing\r\n[CLOSE]\n");
	buf_release(&t);
	smtp_server_free(&s);
}

/* RFC 4954 4: 12288 octets per response line; past that 500 5.5.6 at
 * once, the rest of the line is skipped and commands resume. A line
 * within the limit but too long for PLAIN gets the same answer from the
 * mechanism. Memory stays bounded. */
static void test_auth_line_limits(void **state)
{
	(void)state;
	struct smtp_server_cfg cfg = cfg_of(IMPLICIT);
	struct smtp_server *s = smtp_server_new(&cfg);
	struct buf t;
	buf_init(&t, 0);
	drain(s, &t);
	buf_clear(&t);
	feed_expect(s, EHLO "AUTH PLAIN\r\n", sizeof EHLO - 1 + 12,
		EHLO_AUTH_R "334 \r\n");
	static char big[3 * LIMIT_SMTP_AUTH_LINE];
	memset(big, 'A', sizeof big);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(smtp_server_feed(s, (const uint8_t *)big,
			LIMIT_SMTP_AUTH_LINE), LIMIT_SMTP_AUTH_LINE);
		assert_true(s->auth_line.cap <= 2 * LIMIT_SMTP_AUTH_LINE);
	}
	feed_expect(s, "AAAA\r\nNOOP\r\n", 12,
		"500 5.5.6 Authentication Exchange line is too long\r\n" OK_R);
	/* exactly at the limit (CRLF included): a line, refused by PLAIN */
	feed_expect(s, "AUTH PLAIN\r\n", 12, "334 \r\n");
	assert_int_equal(smtp_server_feed(s, (const uint8_t *)big,
		LIMIT_SMTP_AUTH_LINE - 2), LIMIT_SMTP_AUTH_LINE - 2);
	feed_expect(s, "\r\nNOOP\r\n", 8,
		"500 5.5.6 Authentication Exchange line is too long\r\n" OK_R);
	/* the response buffer is given back after the exchange */
	assert_null(s->auth_line.data);
	buf_release(&t);
	smtp_server_free(&s);
}

/* A session freed while an AUTH answer is outstanding, or in the middle
 * of an exchange, leaks nothing (ASan) and needs no answer. */
static void test_free_during_auth(void **state)
{
	(void)state;
	struct smtp_server_cfg cfg = cfg_of(IMPLICIT);
	struct smtp_server *s = smtp_server_new(&cfg);
	static const char in1[] = EHLO AUTH_ALICE;
	smtp_server_feed(s, (const uint8_t *)in1, sizeof in1 - 1);
	smtp_server_free(&s);
	s = smtp_server_new(&cfg);
	static const char in2[] = EHLO "AUTH LOGIN\r\nYWxpY2U=\r\n";
	smtp_server_feed(s, (const uint8_t *)in2, sizeof in2 - 1);
	assert_true(s->auth_exchange);
	smtp_server_free(&s);
	assert_null(s);
}

/* Random sessions mixing AUTH, STARTTLS and SMTP fragments under every
 * configuration: the harness checks its invariants (replies, nothing
 * after CLOSE, no password in a log item, passwords wiped once answered);
 * ASan checks the memory. */
static void test_random_auth_sessions_keep_invariants(void **state)
{
	(void)state;
	static const char *const frags[] = {
		"EHLO x\r\n", "HELO y\r\n", "STARTTLS\r\n", "STARTTLS x\r\n",
		"AUTH PLAIN\r\n", "AUTH LOGIN\r\n", "AUTH PLAIN ", "AUTH LOGIN ",
		ALICE_B64, WRONG_B64, BOB_B64, "YWxpY2U=", "c2VjcmV0", "=", "*",
		"AUTH CRAM-MD5\r\n", "MAIL FROM:<alice@localhost>\r\n",
		"MAIL FROM:<> AUTH=<>\r\n", "RCPT TO:<bob@localhost>\r\n",
		"RCPT TO:<x@y.example>\r\n", "DATA\r\n", ".\r\n", "RSET\r\n",
		"NOOP\r\n", "\r\n", "\0", "\n", " ", "QUIT\r\n", "AAAA",
	};
	unsigned rng = 2718;
	uint8_t in[4096];
	for (int round = 0; round < 600; round++) {
		size_t n = 0;
		while (n < sizeof in - 64) {
			rng = rng * 1103515245u + 12345u;
			unsigned r = rng >> 16;
			if (r % 7 == 0) {
				in[n++] = (uint8_t)(r >> 3);
			} else {
				const char *f = frags[r % (sizeof frags / sizeof frags[0])];
				size_t fl = f[0] ? strlen(f) : 1;
				memcpy(in + n, f, fl);
				n += fl;
			}
			if (r % 89 == 0)
				break;
		}
		struct smtp_server_cfg cfg = cfg_of((unsigned)round & 31);
		cfg.max_errors = 1000;
		cfg.max_auth_failures = 1 + (unsigned)round % 4;
		struct harness h;
		harness_init(&h, &cfg);
		h.rng = rng;
		h.tls_fail = round % 11 == 0;
		harness_feed(&h, in, n, round % 2 ? SPLIT_RANDOM : SPLIT_WHOLE);
		assert_false(h.output_after_close);
		assert_true(h.consumed <= n);
		if (!smtp_server_closed(h.s))
			assert_int_equal(h.consumed, n);
		assert_true(h.s->line.len < cfg.max_cmd_line);
		assert_true(h.s->auth_line.len < LIMIT_SMTP_AUTH_LINE);
		harness_clear(&h);
	}
}

int main(void)
{
	enum { NCASES = sizeof cases / sizeof cases[0] };
	struct CMUnitTest table[NCASES];
	for (size_t i = 0; i < NCASES; i++) {
		struct CMUnitTest t = {cases[i].name, test_case, NULL, NULL,
			(void *)&cases[i]};
		table[i] = t;
	}
	int failed = _cmocka_run_group_tests("smtp_auth_table", table, NCASES,
		NULL, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starttls_injection_is_not_consumed),
		cmocka_unit_test(test_starttls_then_rset_in_one_feed),
		cmocka_unit_test(test_timeout_during_handshake_closes_silently),
		cmocka_unit_test(test_auth_request_lives_until_answered),
		cmocka_unit_test(test_auth_line_limits),
		cmocka_unit_test(test_free_during_auth),
		cmocka_unit_test(test_random_auth_sessions_keep_invariants),
	};
	return failed + cmocka_run_group_tests(tests, NULL, NULL);
}
