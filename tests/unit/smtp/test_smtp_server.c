/* Unit tests for the SMTP session machine (src/proto/smtp_server.c,
 * smtp_verbs.c). Every table case runs whole, one byte at a time and in
 * random splits with fixed seeds, and must produce the same trace. */
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
#define EHLO_R "250-mx.test\r\n250-SIZE 26214400\r\n250-PIPELINING\r\n" \
	"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define HELO "HELO client.test\r\n"
#define HELO_R "250 mx.test\r\n"
#define MAIL "MAIL FROM:<a@b.example>\r\n"
#define MAIL_R "250 2.1.0 Ok\r\n"
#define RCPT_ALICE "RCPT TO:<alice@localhost>\r\n"
#define RCPT_ALICE_R "[CHECK alice@localhost]\n250 2.1.5 Ok\r\n"
#define RCPT_OK_R "250 2.1.5 Ok\r\n"
#define UNKNOWN_R "550 5.1.1 Recipient address rejected: User unknown\r\n"
#define RELAY_R "554 5.7.1 Relay access denied\r\n"
#define DATA "DATA\r\n"
#define DATA_R "354 End data with <CR><LF>.<CR><LF>\r\n"
#define OK_R "250 2.0.0 Ok\r\n"
#define QUIT "QUIT\r\n"
#define BYE_R "221 2.0.0 Bye\r\n[CLOSE]\n"
#define BARE_R "550 5.5.2 bare CR or LF in message data not allowed\r\n"
#define START EHLO MAIL RCPT_ALICE DATA
#define START_R GREET EHLO_R MAIL_R RCPT_ALICE_R DATA_R
#define COMMIT(body) "[COMMIT from=<a@b.example> to=<alice@localhost> " \
	"8bit=0 body=" body "]\n"

struct scase {
	const char *name;
	const char *in;
	size_t inlen;
	const char *out;
	size_t max_msg;
	unsigned max_rcpts;
	unsigned max_errors;
	size_t max_text_line;
	size_t max_cmd_line;
	int commit_result;
	const char *id;
	const char *log_has; /* a substring the log must contain */
};

#define C(n, i, o, ...) {.name = n, .in = i, .inlen = sizeof(i) - 1, \
	.out = o, __VA_ARGS__}

static const struct scase cases[] = {
	C("greeting_is_220_with_hostname", "", GREET),
	C("ehlo_advertises_size_pipelining_8bitmime_enhanced", EHLO,
		GREET EHLO_R, .log_has = "ehlo name=client.test"),
	C("helo_answers_hostname_only", HELO, GREET HELO_R),
	C("ehlo_without_argument_is_501", "EHLO\r\nHELO  \r\n",
		GREET "501 5.5.4 Syntax: EHLO hostname\r\n"
		"501 5.5.4 Syntax: HELO hostname\r\n"),
	C("ehlo_with_two_words_or_controls_is_501",
		"EHLO a b\r\nEHLO a\x01\r\n",
		GREET "501 5.5.4 Syntax: EHLO hostname\r\n"
		"501 5.5.4 Syntax: EHLO hostname\r\n"),
	C("verbs_are_case_insensitive",
		"ehLo x\r\nmAiL fRoM:<a@b.example>\r\nrcpt to:<bob@localhost>\r\n"
		"noop\r\nQuIt\r\n",
		GREET "250-mx.test\r\n250-SIZE 26214400\r\n250-PIPELINING\r\n"
		"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n" MAIL_R
		"[CHECK bob@localhost]\n" RCPT_OK_R OK_R BYE_R),
	C("mail_before_helo_is_503", MAIL,
		GREET "503 5.5.1 Error: send HELO/EHLO first\r\n"),
	C("rcpt_before_mail_is_503", EHLO RCPT_ALICE,
		GREET EHLO_R "503 5.5.1 Error: need MAIL command\r\n"),
	C("rcpt_before_helo_is_503", RCPT_ALICE,
		GREET "503 5.5.1 Error: need MAIL command\r\n"),
	C("data_before_mail_is_503", EHLO DATA,
		GREET EHLO_R "503 5.5.1 Error: need MAIL command\r\n"),
	C("data_without_rcpt_is_503", EHLO MAIL DATA,
		GREET EHLO_R MAIL_R "503 5.5.1 Error: need RCPT command\r\n"),
	C("data_after_refused_rcpts_is_554",
		EHLO MAIL "RCPT TO:<nobody@localhost>\r\n" DATA,
		GREET EHLO_R MAIL_R "[CHECK nobody@localhost]\n" UNKNOWN_R
		"554 5.5.1 Error: no valid recipients\r\n"),
	C("second_mail_is_503", EHLO MAIL MAIL,
		GREET EHLO_R MAIL_R "503 5.5.1 Error: nested MAIL command\r\n"),
	C("unknown_command_is_500", "FOO bar\r\nMAILX\r\n",
		GREET "500 5.5.1 Error: command not recognized\r\n"
		"500 5.5.1 Error: command not recognized\r\n"),
	C("empty_line_is_500", "\r\n   \r\n",
		GREET "500 5.5.2 Error: empty command\r\n"
		"500 5.5.2 Error: empty command\r\n"),
	C("nul_in_command_is_500", "NOOP\0x\r\nNO\0OP\r\n",
		GREET "500 5.5.2 Error: NUL byte in command\r\n"
		"500 5.5.2 Error: NUL byte in command\r\n"),
	C("unimplemented_verbs_are_502",
		"STARTTLS\r\nAUTH PLAIN\r\nBDAT 10 LAST\r\nTURN\r\nEXPN list\r\n",
		GREET "502 5.5.1 Command not implemented\r\n"
		"502 5.5.1 Command not implemented\r\n"
		"502 5.5.1 Command not implemented\r\n"
		"502 5.5.1 Command not implemented\r\n"
		"502 5.5.1 EXPN not available\r\n"),
	C("mail_syntax_errors_are_501",
		EHLO "MAIL\r\nMAIL FROM\r\nMAIL TO:<a@b.example>\r\nMAIL FROM:\r\n",
		GREET EHLO_R "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
	C("bad_sender_is_501_517",
		EHLO "MAIL FROM:<a@b.example\r\nMAIL FROM:a@b.example\r\n"
		"MAIL FROM:<a@b.example>>\r\nMAIL FROM:<;sleep 5;>\r\n"
		"MAIL FROM:<postmaster>\r\n",
		GREET EHLO_R "501 5.1.7 Bad sender address syntax\r\n"
		"501 5.1.7 Bad sender address syntax\r\n"
		"501 5.1.7 Bad sender address syntax\r\n"
		"501 5.1.7 Bad sender address syntax\r\n"
		"501 5.1.7 Bad sender address syntax\r\n"),
	C("bad_recipient_is_501_513",
		EHLO MAIL "RCPT TO:<bob@localhost\r\nRCPT TO:bob@localhost\r\n"
		"RCPT TO:<../../etc/passwd@localhost>\r\nRCPT\r\n",
		GREET EHLO_R MAIL_R "501 5.1.3 Bad recipient address syntax\r\n"
		"501 5.1.3 Bad recipient address syntax\r\n"
		"501 5.1.3 Bad recipient address syntax\r\n"
		"501 5.5.4 Syntax: RCPT TO:<address>\r\n"),
	C("unknown_parameters_are_555",
		EHLO "MAIL FROM:<a@b.example> FOO=bar\r\n"
		"MAIL FROM:<a@b.example> RET=HDRS\r\n" MAIL
		"RCPT TO:<alice@localhost> NOTIFY=NEVER\r\n",
		GREET EHLO_R "555 5.5.4 Unsupported parameter\r\n"
		"555 5.5.4 Unsupported parameter\r\n" MAIL_R
		"555 5.5.4 Unsupported parameter\r\n"),
	C("size_over_limit_is_552_at_mail",
		EHLO "MAIL FROM:<a@b.example> SIZE=26214401\r\n"
		"MAIL FROM:<a@b.example> SIZE=18446744073709551616\r\n"
		"MAIL FROM:<a@b.example> SIZE=26214400\r\n",
		GREET EHLO_R
		"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
		"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
		MAIL_R, .log_has = "mail from=<a@b.example> size=26214400"),
	C("bad_size_values_are_501",
		EHLO "MAIL FROM:<a@b.example> SIZE=abc\r\n"
		"MAIL FROM:<a@b.example> SIZE=-1\r\n"
		"MAIL FROM:<a@b.example> SIZE\r\n"
		"MAIL FROM:<a@b.example> SIZE=123456789012345678901\r\n"
		"MAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\n",
		GREET EHLO_R "501 5.5.4 Bad parameter value\r\n"
		"501 5.5.4 Bad parameter value\r\n"
		"501 5.5.4 Bad parameter value\r\n"
		"501 5.5.4 Bad parameter value\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
	C("body_values",
		EHLO "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
		"MAIL FROM:<a@b.example> BODY=8bitmime SIZE=10\r\n"
		RCPT_ALICE DATA "caf\xc3\xa9\r\n.\r\n",
		GREET EHLO_R "501 5.5.4 Bad parameter value\r\n" MAIL_R
		RCPT_ALICE_R DATA_R "[COMMIT from=<a@b.example> "
		"to=<alice@localhost> 8bit=1 body=caf\\xc3\\xa9\\n]\n" OK_R,
		.log_has = "size=10 body=8bitmime"),
	C("null_reverse_path_is_accepted",
		EHLO "MAIL FROM:<>\r\n" RCPT_ALICE DATA "x\r\n.\r\n",
		GREET EHLO_R MAIL_R RCPT_ALICE_R DATA_R
		"[COMMIT from=<> to=<alice@localhost> 8bit=0 body=x\\n]\n" OK_R),
	C("space_after_colon_is_accepted",
		EHLO "MAIL FROM: <a@b.example>\r\nRCPT TO:  <bob@localhost>\r\n",
		GREET EHLO_R MAIL_R "[CHECK bob@localhost]\n" RCPT_OK_R),
	C("source_route_is_stripped",
		EHLO "MAIL FROM:<@relay.example:a@b.example>\r\n"
		"RCPT TO:<@a.example,@b.example:bob@localhost>\r\n",
		GREET EHLO_R MAIL_R "[CHECK bob@localhost]\n" RCPT_OK_R),
	C("quoted_local_parts_are_canonical",
		EHLO MAIL "RCPT TO:<\"bob\"@localhost>\r\n"
		"RCPT TO:<\"john doe\"@localhost>\r\n",
		GREET EHLO_R MAIL_R "[CHECK bob@localhost]\n" RCPT_OK_R
		"[CHECK \"john doe\"@localhost]\n" UNKNOWN_R),
	C("postmaster_without_domain_any_case",
		EHLO MAIL "RCPT TO:<Postmaster>\r\nRCPT TO:<POSTMASTER>\r\n"
		"RCPT TO:<postmaster@localhost>\r\n",
		GREET EHLO_R MAIL_R "[CHECK Postmaster]\n" RCPT_OK_R
		"[CHECK POSTMASTER]\n" RCPT_OK_R
		"[CHECK postmaster@localhost]\n" RCPT_OK_R),
	C("address_literals_are_domains",
		EHLO "MAIL FROM:<a@[192.0.2.1]>\r\nRCPT TO:<x@[IPv6:2001:db8::1]>\r\n"
		"RCPT TO:<x@[300.1.1.1]>\r\n",
		GREET EHLO_R MAIL_R "[CHECK x@[IPv6:2001:db8::1]]\n" RELAY_R
		"501 5.1.3 Bad recipient address syntax\r\n"),
	C("rcpt_results_map_to_replies",
		EHLO MAIL RCPT_ALICE "RCPT TO:<carol@localhost>\r\n"
		"RCPT TO:<x@elsewhere.example>\r\nRCPT TO:<tempfail@localhost>\r\n",
		GREET EHLO_R MAIL_R RCPT_ALICE_R "[CHECK carol@localhost]\n"
		UNKNOWN_R "[CHECK x@elsewhere.example]\n" RELAY_R
		"[CHECK tempfail@localhost]\n"
		"451 4.3.0 Temporary failure, try again later\r\n",
		.log_has = "rcpt to=<x@elsewhere.example> result=relay-denied"),
	C("full_transaction_then_another",
		START "Subject: hi\r\n\r\nhello\r\n.\r\n"
		"MAIL FROM:<c@d.example>\r\nRCPT TO:<bob@localhost>\r\n"
		"RCPT TO:<alice@localhost>\r\nDATA\r\n.\r\n" QUIT,
		START_R COMMIT("Subject: hi\\n\\nhello\\n")
		"250 2.0.0 Ok: queued as 4711\r\n" MAIL_R
		"[CHECK bob@localhost]\n" RCPT_OK_R RCPT_ALICE_R DATA_R
		"[COMMIT from=<c@d.example> to=<bob@localhost>,<alice@localhost> "
		"8bit=0 body=]\n250 2.0.0 Ok: queued as 4711\r\n" BYE_R,
		.id = "4711", .log_has = "result=queued id=4711"),
	C("commit_tempfail_is_451", START "x\r\n.\r\n",
		START_R COMMIT("x\\n")
		"451 4.3.0 Temporary failure storing message, try again later\r\n",
		.commit_result = SMTP_COMMIT_TEMPFAIL),
	C("commit_no_space_is_452", START "x\r\n.\r\n" RCPT_ALICE,
		START_R COMMIT("x\\n")
		"452 4.3.1 Insufficient system storage, try again later\r\n"
		"503 5.5.1 Error: need MAIL command\r\n",
		.commit_result = SMTP_COMMIT_NO_SPACE),
	C("dot_unstuffing", START "..foo\r\n.bar\r\n..\r\n...\r\n. \r\n.\r\n",
		START_R COMMIT(".foo\\nbar\\n.\\n..\\n \\n") OK_R),
	C("empty_message_right_after_354", START ".\r\n",
		START_R COMMIT("") OK_R),
	C("data_with_argument_is_501", EHLO MAIL RCPT_ALICE "DATA x\r\n",
		GREET EHLO_R MAIL_R RCPT_ALICE_R "501 5.5.4 Syntax: DATA\r\n"),
	C("bodies_keep_nul_and_8bit", START "a\0b\xff\r\n.\r\n",
		START_R COMMIT("a\\x00b\\xff\\n") OK_R),
	/* SMTP smuggling (CVE-2023-51764): none of these ends the message,
	 * and a bare CR/LF gets the whole message refused at the real end. */
	C("smuggle_lf_dot_lf", START "a\n.\nMAIL FROM:<e@x.example>\r\n"
		RCPT_ALICE DATA "evil\r\n.\r\n" QUIT,
		START_R BARE_R BYE_R, .log_has = "result=bare-newline"),
	C("smuggle_lf_dot_crlf", START "a\n.\r\nMAIL FROM:<e@x.example>\r\n"
		RCPT_ALICE DATA "evil\r\n.\r\n" QUIT, START_R BARE_R BYE_R),
	C("smuggle_cr_dot_cr", START "a\r.\rMAIL FROM:<e@x.example>\r\n"
		RCPT_ALICE DATA "evil\r\n.\r\n" QUIT, START_R BARE_R BYE_R),
	C("smuggle_cr_dot_lf", START "a\r.\nMAIL FROM:<e@x.example>\r\n"
		RCPT_ALICE DATA "evil\r\n.\r\n" QUIT, START_R BARE_R BYE_R),
	C("smuggle_crlf_dot_lf", START "a\r\n.\nMAIL FROM:<e@x.example>\r\n"
		RCPT_ALICE DATA "evil\r\n.\r\n" QUIT, START_R BARE_R BYE_R),
	C("smuggle_crlf_dot_cr", START "a\r\n.\rMAIL FROM:<e@x.example>\r\n"
		RCPT_ALICE DATA "evil\r\n.\r\n" QUIT, START_R BARE_R BYE_R),
	C("smuggle_crlf_dot_cr_cr_lf", START "a\r\n.\r\r\nMAIL FROM:<e@x.example>\r\n"
		".\r\n" QUIT, START_R BARE_R BYE_R),
	C("smuggle_crlf_nul_dot_crlf", START "a\r\n\0.\r\nMAIL FROM:<e@x.example>\r\n"
		".\r\n" QUIT,
		START_R COMMIT("a\\n\\x00.\\nMAIL FROM:<e@x.example>\\n") OK_R BYE_R),
	C("bare_lf_alone_taints_message", START "line one\nline two\r\n.\r\n",
		START_R BARE_R),
	C("bare_cr_alone_taints_message", START "line one\rline two\r\n.\r\n",
		START_R BARE_R),
	C("lf_dot_lf_right_after_354_is_no_end", START "\n.\n\r\n.\r\n",
		START_R BARE_R),
	C("text_line_too_long_is_500_at_end",
		START "0123456789\r\n0123456789A\r\n.\r\n" RCPT_ALICE,
		START_R "500 5.5.2 Line too long\r\n"
		"503 5.5.1 Error: need MAIL command\r\n",
		.max_text_line = 12, .log_has = "result=line-too-long"),
	C("text_line_at_limit_is_fine",
		START "0123456789\r\n.123456789\r\n.\r\n",
		START_R COMMIT("0123456789\\n123456789\\n") OK_R,
		.max_text_line = 12),
	C("message_too_big_is_552_at_end",
		EHLO MAIL RCPT_ALICE DATA "0123456789\r\n0123456789\r\n.\r\n" QUIT,
		GREET "250-mx.test\r\n250-SIZE 20\r\n250-PIPELINING\r\n"
		"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n" MAIL_R RCPT_ALICE_R
		DATA_R "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
		BYE_R, .max_msg = 20, .log_has = "data size=24 result=too-big"),
	C("message_at_size_limit_is_fine",
		EHLO MAIL RCPT_ALICE DATA "01234567\r\n01234567\r\n.\r\n",
		GREET "250-mx.test\r\n250-SIZE 20\r\n250-PIPELINING\r\n"
		"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n" MAIL_R RCPT_ALICE_R
		DATA_R COMMIT("01234567\\n01234567\\n") OK_R, .max_msg = 20),
	/* limit 40: 41 octets with CRLF is too long, 40 is fine, and so is
	 * 40 with a bare LF */
	C("command_line_too_long_is_500_then_continues",
		EHLO "NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nNOOP\r\n"
		"NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
		"NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
		"NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
		GREET EHLO_R "500 5.5.2 Line too long\r\n" OK_R OK_R OK_R
		"500 5.5.2 Line too long\r\n", .max_cmd_line = 40),
	C("bare_lf_ends_commands", "EHLO x\nMAIL FROM:<a@b.example>\n"
		"RCPT TO:<bob@localhost>\nRSET\r\r\n",
		GREET "250-mx.test\r\n250-SIZE 26214400\r\n250-PIPELINING\r\n"
		"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n" MAIL_R
		"[CHECK bob@localhost]\n" RCPT_OK_R
		"500 5.5.1 Error: command not recognized\r\n"),
	C("too_many_errors_closes_with_421",
		"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n",
		GREET "500 5.5.1 Error: command not recognized\r\n"
		"500 5.5.1 Error: command not recognized\r\n"
		"500 5.5.1 Error: command not recognized\r\n"
		"421 4.7.0 mx.test Too many errors, closing\r\n[CLOSE]\n",
		.max_errors = 3, .log_has = "close reason=errors"),
	C("unknown_users_do_not_count_as_errors",
		EHLO MAIL "RCPT TO:<x@localhost>\r\nRCPT TO:<y@localhost>\r\n"
		"RCPT TO:<z@localhost>\r\nNOOP\r\n",
		GREET EHLO_R MAIL_R "[CHECK x@localhost]\n" UNKNOWN_R
		"[CHECK y@localhost]\n" UNKNOWN_R "[CHECK z@localhost]\n"
		UNKNOWN_R OK_R, .max_errors = 2),
	C("pipelined_group_answers_in_order",
		EHLO "MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\n"
		"RCPT TO:<nobody@localhost>\r\nRCPT TO:<bob@localhost>\r\n"
		"DATA\r\nhello\r\n.\r\nRSET\r\nMAIL FROM:<>\r\nQUIT\r\n",
		GREET EHLO_R MAIL_R RCPT_ALICE_R "[CHECK nobody@localhost]\n"
		UNKNOWN_R "[CHECK bob@localhost]\n" RCPT_OK_R DATA_R
		"[COMMIT from=<a@b.example> to=<alice@localhost>,<bob@localhost> "
		"8bit=0 body=hello\\n]\n" OK_R OK_R MAIL_R BYE_R),
	C("quit_closes_and_ignores_the_rest", "QUIT\r\nNOOP\r\n",
		GREET BYE_R, .log_has = "close reason=quit"),
	C("rset_clears_the_transaction", EHLO MAIL "RSET\r\n" RCPT_ALICE MAIL,
		GREET EHLO_R MAIL_R OK_R "503 5.5.1 Error: need MAIL command\r\n"
		MAIL_R),
	C("rset_with_argument_is_501", "RSET x\r\n",
		GREET "501 5.5.4 Syntax: RSET\r\n"),
	C("ehlo_again_resets_the_transaction", EHLO MAIL EHLO RCPT_ALICE,
		GREET EHLO_R MAIL_R EHLO_R "503 5.5.1 Error: need MAIL command\r\n"),
	C("help_noop_vrfy_expn",
		"HELP\r\nHELP MAIL\r\nNOOP hello\r\nVRFY bob\r\nVRFY\r\nEXPN staff\r\n",
		GREET "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n"
		"214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n"
		OK_R "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
		"501 5.5.4 Syntax: VRFY address\r\n"
		"502 5.5.1 EXPN not available\r\n"),
	C("helo_session_gets_enhanced_codes_too",
		HELO MAIL "RCPT TO:<nobody@localhost>\r\n",
		GREET HELO_R MAIL_R "[CHECK nobody@localhost]\n" UNKNOWN_R),
	C("format_strings_are_data",
		EHLO "MAIL FROM:<%s%n%x@b.example>\r\n",
		GREET EHLO_R MAIL_R, .log_has = "mail from=<%s%n%x@b.example>"),
	C("log_escapes_quotes", EHLO "MAIL FROM:<\"a\\\"b\"@b.example>\r\n",
		GREET EHLO_R MAIL_R, .log_has = "from=<\\x22a\\x5c\\x22b\\x22@b.example>"),
};

static char *printable(const char *p, size_t n)
{
	char *o = malloc(n * 4 + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r') {
			o[k++] = '\\';
			o[k++] = 'r';
		} else if (c == '\n') {
			o[k++] = '\\';
			o[k++] = 'n';
			o[k++] = '\n';
		} else {
			o[k++] = (char)c;
		}
	}
	o[k] = '\0';
	return o;
}

static void run_case(const struct scase *c)
{
	struct smtp_server_cfg cfg = harness_default_cfg();
	if (c->max_msg)
		cfg.max_msg_size = c->max_msg;
	if (c->max_rcpts)
		cfg.max_rcpts = c->max_rcpts;
	if (c->max_errors)
		cfg.max_errors = c->max_errors;
	if (c->max_text_line)
		cfg.max_text_line = c->max_text_line;
	if (c->max_cmd_line)
		cfg.max_cmd_line = c->max_cmd_line;
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
		size_t tl;
		char *log;
		char *t = harness_run(&cfg, c->commit_result, c->id, c->in,
			c->inlen, modes[m].split, modes[m].seed, &tl, &log);
		if (tl != outlen || memcmp(t, c->out, tl) != 0) {
			char *a = printable(t, tl), *e = printable(c->out, outlen);
			print_error("case %s (%s):\n--- got:\n%s\n--- expected:\n%s\n",
				c->name, modes[m].name, a, e);
			free(a);
			free(e);
			free(t);
			free(log);
			fail();
		}
		if (c->log_has && !strstr(log, c->log_has)) {
			print_error("case %s: log lacks \"%s\":\n%s\n", c->name,
				c->log_has, log);
			free(t);
			free(log);
			fail();
		}
		free(t);
		free(log);
	}
}

static void test_case(void **state)
{
	run_case(*state);
}

/* RFC 5321 4.5.3.1.8/4.5.3.1.10: 100 recipients must be taken; the 101st
 * gets 452 4.5.3 without a check. */
static void test_too_many_recipients_is_452(void **state)
{
	(void)state;
	struct buf in, exp;
	buf_init(&in, 0);
	buf_init(&exp, 0);
	buf_append_str(&in, EHLO MAIL);
	buf_append_str(&exp, GREET EHLO_R MAIL_R);
	for (int i = 0; i < 101; i++) {
		buf_append_str(&in, RCPT_ALICE);
		if (i < 100)
			buf_append_str(&exp, RCPT_ALICE_R);
	}
	buf_append_str(&exp, "452 4.5.3 Too many recipients\r\n");
	struct smtp_server_cfg cfg = harness_default_cfg();
	for (int mode = 0; mode < 3; mode++) {
		size_t tl;
		char *t = harness_run(&cfg, SMTP_COMMIT_OK, NULL,
			(const char *)in.data, in.len, (enum harness_split)mode, 9,
			&tl, NULL);
		assert_int_equal(tl, exp.len);
		assert_memory_equal(t, exp.data, tl);
		free(t);
	}
	buf_release(&in);
	buf_release(&exp);
}

/* A 10 MiB command "line" without LF: one 500, memory bounded by the
 * command line limit, and the session still works afterwards. */
static void test_newline_less_flood_is_bounded(void **state)
{
	(void)state;
	struct harness h;
	struct smtp_server_cfg cfg = harness_default_cfg();
	harness_init(&h, &cfg);
	uint8_t chunk[65536];
	memset(chunk, 'A', sizeof chunk);
	for (size_t sent = 0; sent < 10u * 1024 * 1024; sent += sizeof chunk) {
		harness_feed(&h, chunk, sizeof chunk, SPLIT_WHOLE);
		assert_true(h.s->line.cap <= 2 * LIMIT_SMTP_CMD_LINE);
	}
	harness_feed(&h, (const uint8_t *)"\r\nNOOP\r\n", 8, SPLIT_WHOLE);
	const char *exp = GREET "500 5.5.2 Line too long\r\n" OK_R;
	assert_int_equal(h.trace.len, strlen(exp));
	assert_memory_equal(h.trace.data, exp, h.trace.len);
	harness_clear(&h);
}

/* 3 MiB of content against a 1 MiB limit: the buffer never passes the
 * limit, the end is still found, and the answer is 552. Also a flood of
 * bare LFs, which stops storing at once. */
static void test_oversized_data_is_bounded(void **state)
{
	(void)state;
	struct harness h;
	struct smtp_server_cfg cfg = harness_default_cfg();
	cfg.max_msg_size = 1024 * 1024;
	harness_init(&h, &cfg);
	harness_feed(&h, (const uint8_t *)(START), sizeof(START) - 1,
		SPLIT_WHOLE);
	uint8_t line[1000];
	memset(line, 'x', sizeof line);
	line[998] = '\r';
	line[999] = '\n';
	for (int i = 0; i < 3 * 1024; i++) {
		harness_feed(&h, line, sizeof line, SPLIT_WHOLE);
		assert_true(h.s->data.cap <= cfg.max_msg_size);
		assert_true(smtp_server_in_data(h.s));
	}
	harness_feed(&h, (const uint8_t *)".\r\n", 3, SPLIT_WHOLE);
	assert_false(smtp_server_in_data(h.s));
	assert_non_null(strstr(buf_cstr(&h.trace),
		DATA_R "552 5.3.4 Message size exceeds fixed maximum message size\r\n"));
	assert_null(h.s->data.body);
	harness_clear(&h);
}

/* Requests stop consumption until answered: the rest of a pipelined
 * group stays with the caller. */
static void test_feed_stops_at_pending_check(void **state)
{
	(void)state;
	struct harness h;
	struct smtp_server_cfg cfg = harness_default_cfg();
	harness_init(&h, &cfg);
	h.answer_rcpt = false;
	static const char in[] = EHLO MAIL RCPT_ALICE "NOOP\r\n";
	size_t n = smtp_server_feed(h.s, (const uint8_t *)in, sizeof in - 1);
	assert_int_equal(n, sizeof in - 1 - 6);
	harness_drain(&h);
	assert_true(h.pending_rcpt);
	assert_int_equal(smtp_server_feed(h.s, (const uint8_t *)"NOOP\r\n", 6), 0);
	struct smtp_out o;
	assert_false(smtp_server_next(h.s, &o));
	struct smtp_in r = {.kind = SMTP_IN_RCPT_RESULT, .result = SMTP_RCPT_OK};
	smtp_server_input(h.s, &r);
	assert_int_equal(smtp_server_feed(h.s, (const uint8_t *)"NOOP\r\n", 6), 6);
	harness_drain(&h);
	const char *exp = GREET EHLO_R MAIL_R RCPT_ALICE_R OK_R;
	assert_string_equal(buf_cstr(&h.trace), exp);
	harness_clear(&h);
}

static void test_timeout_is_421(void **state)
{
	(void)state;
	struct harness h;
	struct smtp_server_cfg cfg = harness_default_cfg();
	harness_init(&h, &cfg);
	harness_feed(&h, (const uint8_t *)EHLO, sizeof EHLO - 1, SPLIT_WHOLE);
	struct smtp_in t = {.kind = SMTP_IN_TIMEOUT};
	smtp_server_input(h.s, &t);
	harness_drain(&h);
	assert_string_equal(buf_cstr(&h.trace),
		GREET EHLO_R "421 4.4.2 mx.test Timeout, closing\r\n[CLOSE]\n");
	assert_true(smtp_server_closed(h.s));
	/* after CLOSE: nothing consumed, nothing said */
	assert_int_equal(smtp_server_feed(h.s, (const uint8_t *)"NOOP\r\n", 6), 0);
	smtp_server_input(h.s, &t);
	struct smtp_out o;
	assert_false(smtp_server_next(h.s, &o));
	assert_non_null(strstr(buf_cstr(&h.log), "close reason=timeout"));
	harness_clear(&h);
}

/* The adapter's memory budget: a shed message is read to its end and
 * refused with 452 4.3.1; the session goes on; held memory drops to 0 at
 * once. Outside DATA the input is ignored. */
static void test_shed_data_is_452(void **state)
{
	(void)state;
	struct harness h;
	struct smtp_server_cfg cfg = harness_default_cfg();
	harness_init(&h, &cfg);
	static const char head[] = EHLO "MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@localhost>\r\n"
		"DATA\r\nSubject: x\r\n\r\nfirst part\r\n";
	harness_feed(&h, (const uint8_t *)head, sizeof head - 1, SPLIT_WHOLE);
	assert_true(smtp_server_data_held(h.s) > 0);
	struct smtp_in shed = {.kind = SMTP_IN_SHED_DATA};
	smtp_server_input(h.s, &shed);
	assert_int_equal(smtp_server_data_held(h.s), 0);
	static const char rest[] = "more\r\n.\r\nNOOP\r\n";
	harness_feed(&h, (const uint8_t *)rest, sizeof rest - 1, SPLIT_WHOLE);
	harness_drain(&h);
	const char *t = buf_cstr(&h.trace);
	assert_non_null(strstr(t, "452 4.3.1 Insufficient system storage, try again later\r\n"
				  "250 2.0.0 Ok\r\n"));
	assert_null(strstr(t, "[COMMIT"));
	assert_non_null(strstr(buf_cstr(&h.log), "result=shed"));
	smtp_server_input(h.s, &shed); /* outside DATA: nothing */
	harness_drain(&h);
	assert_false(smtp_server_closed(h.s));
	harness_clear(&h);
}

static void test_shutdown_is_421_at_once(void **state)
{
	(void)state;
	struct harness h;
	struct smtp_server_cfg cfg = harness_default_cfg();
	harness_init(&h, &cfg);
	struct smtp_in t = {.kind = SMTP_IN_SHUTDOWN};
	smtp_server_input(h.s, &t);
	harness_drain(&h);
	assert_string_equal(buf_cstr(&h.trace),
		GREET "421 4.3.2 mx.test Service shutting down, closing\r\n[CLOSE]\n");
	harness_clear(&h);
}

/* Shutdown or timeout while the message is being stored: the commit is
 * answered first, then 421. */
static void test_shutdown_waits_for_commit(void **state)
{
	(void)state;
	for (int kind = 0; kind < 2; kind++) {
		struct smtp_server_cfg cfg = harness_default_cfg();
		static const char in[] = START "x\r\n.\r\nNOOP\r\n";
		struct harness g;
		harness_init(&g, &cfg);
		g.answer_commit = false;
		harness_feed(&g, (const uint8_t *)in, sizeof in - 1, SPLIT_WHOLE);
		assert_true(g.pending_commit);
		assert_false(smtp_server_in_data(g.s));
		struct smtp_in t = {.kind = kind ? SMTP_IN_TIMEOUT : SMTP_IN_SHUTDOWN};
		smtp_server_input(g.s, &t);
		struct smtp_out o;
		assert_false(smtp_server_next(g.s, &o));
		assert_false(smtp_server_closed(g.s));
		struct smtp_in r = {.kind = SMTP_IN_COMMIT_RESULT,
			.result = SMTP_COMMIT_OK, .id = "Q1"};
		smtp_server_input(g.s, &r);
		harness_drain(&g);
		const char *exp = kind
			? START_R COMMIT("x\\n") "250 2.0.0 Ok: queued as Q1\r\n"
			  "421 4.4.2 mx.test Timeout, closing\r\n[CLOSE]\n"
			: START_R COMMIT("x\\n") "250 2.0.0 Ok: queued as Q1\r\n"
			  "421 4.3.2 mx.test Service shutting down, closing\r\n[CLOSE]\n";
		assert_string_equal(buf_cstr(&g.trace), exp);
		assert_true(smtp_server_closed(g.s));
		harness_clear(&g);
	}
}

/* A session freed with a COMMIT still queued frees the body itself (no
 * leak under ASan); one freed with a RCPT check pending is fine too. */
static void test_free_with_pending_items(void **state)
{
	(void)state;
	struct smtp_server_cfg cfg = harness_default_cfg();
	struct smtp_server *s = smtp_server_new(&cfg);
	static const char in1[] = EHLO MAIL RCPT_ALICE;
	smtp_server_feed(s, (const uint8_t *)in1, sizeof in1 - 1);
	struct smtp_in r = {.kind = SMTP_IN_RCPT_RESULT, .result = SMTP_RCPT_OK};
	smtp_server_input(s, &r);
	static const char in2[] = DATA "hello\r\n.\r\n";
	assert_int_equal(smtp_server_feed(s, (const uint8_t *)in2, sizeof in2 - 1),
		sizeof in2 - 1);
	smtp_server_free(&s);
	assert_null(s);
	smtp_server_free(&s);
}

/* The id from the adapter cannot inject a reply line. */
static void test_commit_id_is_sanitised(void **state)
{
	(void)state;
	struct smtp_server_cfg cfg = harness_default_cfg();
	size_t tl;
	char *t = harness_run(&cfg, SMTP_COMMIT_OK, "X\r\n250 fake",
		START ".\r\n", sizeof(START ".\r\n") - 1, SPLIT_WHOLE, 1, &tl,
		NULL);
	assert_non_null(strstr(t, "250 2.0.0 Ok: queued as X??250 fake\r\n"));
	free(t);
}

/* A silly configuration falls back to the defaults from limits.h. */
static void test_zero_config_uses_defaults(void **state)
{
	(void)state;
	struct smtp_server_cfg cfg = {0};
	struct smtp_server *s = smtp_server_new(&cfg);
	assert_non_null(s);
	struct smtp_out o;
	assert_true(smtp_server_next(s, &o));
	assert_int_equal(o.kind, SMTP_OUT_REPLY);
	assert_int_equal(o.len, strlen("220 localhost ESMTP facteur\r\n"));
	assert_memory_equal(o.data, "220 localhost ESMTP facteur\r\n", o.len);
	assert_int_equal(s->max_cmd_line, LIMIT_SMTP_CMD_LINE);
	assert_int_equal(s->max_rcpts, LIMIT_SMTP_RCPTS);
	smtp_server_free(&s);
}

/* Random sessions built from SMTP fragments and noise, fixed seed: the
 * harness checks the invariants (CRLF replies within 512 octets, nothing
 * after CLOSE, feed never over-consumes); ASan checks the memory. */
static void test_random_sessions_keep_invariants(void **state)
{
	(void)state;
	static const char *const frags[] = {
		"EHLO x\r\n", "HELO y\r\n", "MAIL FROM:<a@b.example>\r\n",
		"MAIL FROM:<>\r\n", "RCPT TO:<alice@localhost>\r\n",
		"RCPT TO:<Postmaster>\r\n", "RCPT TO:<x@y.example>\r\n",
		"DATA\r\n", "RSET\r\n", "NOOP\r\n", "\r\n.\r\n", ".\r\n",
		"\n.\n", "\r.\r", "..\r\n", "\0", "\r", "\n", "<", ">", "@",
		"\"", "\\", " SIZE=99", " BODY=8BITMIME", "\xff", "QUIT\r\n",
		"%n%s", "[IPv6:::1]", "VRFY\r\n", "HELP\r\n",
	};
	unsigned rng = 4711;
	uint8_t in[4096];
	for (int round = 0; round < 400; round++) {
		size_t n = 0;
		while (n < sizeof in - 64) {
			rng = rng * 1103515245u + 12345u;
			unsigned r = rng >> 16;
			if (r % 5 == 0) {
				in[n++] = (uint8_t)(r >> 3);
			} else {
				const char *f = frags[r % (sizeof frags / sizeof frags[0])];
				size_t fl = strlen(f);
				if (f[0] == '\0')
					fl = 1;
				memcpy(in + n, f, fl);
				n += fl;
			}
			if (r % 97 == 0)
				break;
		}
		struct smtp_server_cfg cfg = harness_default_cfg();
		cfg.max_msg_size = 300;
		cfg.max_text_line = 40;
		cfg.max_cmd_line = 64;
		cfg.max_rcpts = 3;
		cfg.max_errors = 1000;
		struct harness h;
		harness_init(&h, &cfg);
		h.rng = rng;
		harness_feed(&h, in, n, round % 2 ? SPLIT_RANDOM : SPLIT_WHOLE);
		assert_false(h.output_after_close);
		assert_true(h.consumed <= n);
		if (!smtp_server_closed(h.s))
			assert_int_equal(h.consumed, n);
		assert_true(h.s->line.len < cfg.max_cmd_line);
		assert_true(h.s->data.cap <= cfg.max_msg_size);
		harness_clear(&h);
	}
}

int main(void)
{
	/* each table case is a test of its own, named after its behaviour */
	enum { NCASES = sizeof cases / sizeof cases[0] };
	struct CMUnitTest table[NCASES];
	for (size_t i = 0; i < NCASES; i++) {
		struct CMUnitTest t = {cases[i].name, test_case, NULL, NULL,
			(void *)&cases[i]};
		table[i] = t;
	}
	int failed = _cmocka_run_group_tests("smtp_server_table", table, NCASES,
		NULL, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_too_many_recipients_is_452),
		cmocka_unit_test(test_newline_less_flood_is_bounded),
		cmocka_unit_test(test_oversized_data_is_bounded),
		cmocka_unit_test(test_feed_stops_at_pending_check),
		cmocka_unit_test(test_timeout_is_421),
		cmocka_unit_test(test_shutdown_is_421_at_once),
		cmocka_unit_test(test_shutdown_waits_for_commit),
		cmocka_unit_test(test_free_with_pending_items),
		cmocka_unit_test(test_commit_id_is_sanitised),
		cmocka_unit_test(test_zero_config_uses_defaults),
		cmocka_unit_test(test_random_sessions_keep_invariants),
		cmocka_unit_test(test_shed_data_is_452),
	};
	return failed + cmocka_run_group_tests(tests, NULL, NULL);
}
