/* Unit tests for src/proto/pop3_server beyond the command table: the
 * RFC 1939 example session, line limits and floods, back-pressure,
 * timeouts and shutdown around pending requests, log lines, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "pop3_driver.h"
#include "proto/limits.h"

static const enum drv_mode all_modes[] = { DRV_WHOLE, DRV_BYTES, DRV_RANDOM };

static struct pop3_server_cfg plain_cfg(void)
{
	struct pop3_server_cfg c = {
		.hostname = "mx.test",
		.apop_unique = "1.2.3",
		.max_cmd_line = LIMIT_POP3_CMD_LINE,
		.max_errors = LIMIT_POP3_ERRORS,
		.implementation = "facteur 0.1.0",
		.plaintext_auth_ok = true, /* as for a loopback client */
	};
	return c;
}

#define GREET "+OK facteur POP3 server ready\r\n"
#define LOGIN "USER alice\r\nPASS secret\r\n"
#define LOGGED_IN GREET "+OK send PASS\r\n{AUTH alice secret}" \
	"+OK maildrop has 3 messages (370 octets)\r\n"

static void expect_got(const struct drv *d, const char *want, const char *what)
{
	size_t n = strlen(want);
	if (d->got.len != n || memcmp(d->got.data, want, n) != 0) {
		struct buf g = d->got;
		print_error("%s\n--- want:\n%s\n--- got:\n%.*s\n", what, want, (int)g.len,
			    (const char *)g.data);
		fail();
	}
}

/* Runs input through a fresh session in every mode and compares. */
static void run_all_modes(const struct pop3_server_cfg *cfg, const void *in, size_t len,
			  const char *want, const char *what)
{
	for (size_t m = 0; m < 3; m++) {
		struct drv d;
		drv_init(&d, cfg, 7);
		drv_feed(&d, in, len, all_modes[m]);
		assert_false(d.stalled);
		expect_got(&d, want, what);
		drv_clear(&d);
	}
}

/* RFC 1939 10, with APOP against the RFC's own timestamp and digest. */
static void test_rfc1939_example_session(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	cfg.hostname = "dbc.mtview.ca.us";
	cfg.apop_unique = "1896.697170952";
	cfg.apop_enabled = true;
	const char *in = "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
			 "STAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n";
	const char *want =
		"+OK facteur POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
		"{APOP mrose c4c9334bac560ecc979e58001b3e22fb}"
		"+OK maildrop has 2 messages (320 octets)\r\n"
		"+OK 2 320\r\n"
		"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n"
		"+OK 120 octets\r\n{SEND 0 -1}"
		"+OK message 1 deleted\r\n"
		"+OK 200 octets\r\n{SEND 1 -1}"
		"+OK message 2 deleted\r\n"
		"{UPDATE 0,1}+OK facteur POP3 server signing off (0 messages left)\r\n{CLOSE}";
	run_all_modes(&cfg, in, strlen(in), want, "rfc1939 example");

	/* The timestamp the core hands out is the one the RFC digest uses. */
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *secret = DRV_MROSE_STAMP "tanstaaf";
	assert_int_equal(EVP_Digest(secret, strlen(secret), md, &mdlen, EVP_md5(), NULL), 1);
	char hex[33];
	for (unsigned i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(hex, DRV_MROSE_DIGEST);
}

static char *repeat(char c, size_t n)
{
	char *p = malloc(n + 1);
	assert_non_null(p);
	memset(p, c, n);
	p[n] = '\0';
	return p;
}

/* RFC 2449 4: 255 octets including CRLF are legal; one more is not. The
 * rest of an over-long line is dropped and the session goes on. */
static void test_line_length_limit(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	char *sp250 = repeat(' ', 249);  /* "CAPA" + 249 = 253 + CRLF = 255 */
	char *sp251 = repeat(' ', 250);
	struct buf in;
	buf_init(&in, 0);

	buf_printf(&in, "CAPA%s\r\n", sp250);
	run_all_modes(&cfg, in.data, in.len,
		      GREET "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\n"
			    "RESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
			    "IMPLEMENTATION facteur 0.1.0\r\n.\r\n",
		      "255 octets with CRLF");

	buf_clear(&in);
	buf_printf(&in, "CAPA%s\r\nQUIT\r\n", sp251);
	run_all_modes(&cfg, in.data, in.len,
		      GREET "-ERR line too long\r\n+OK facteur POP3 server signing off\r\n{CLOSE}",
		      "256 octets with CRLF");

	buf_clear(&in);
	buf_printf(&in, "CAPA%s\nQUIT\n", sp251);
	run_all_modes(&cfg, in.data, in.len,
		      GREET "-ERR line too long\r\n+OK facteur POP3 server signing off\r\n{CLOSE}",
		      "254 octets then bare LF");

	/* Over-long by far, the tail looking like commands: all skipped. */
	buf_clear(&in);
	char *big = repeat('x', 1000);
	buf_printf(&in, "USER %s QUIT\r\nQUIT\r\n", big);
	run_all_modes(&cfg, in.data, in.len,
		      GREET "-ERR line too long\r\n+OK facteur POP3 server signing off\r\n{CLOSE}",
		      "1000 octets");

	/* PASS may use the whole line (RFC 1939 7 notes): 248 octets. */
	char *pw = repeat('p', 248);
	buf_clear(&in);
	buf_printf(&in, "USER alice\r\nPASS %s\r\n", pw);
	struct buf want;
	buf_init(&want, 0);
	buf_printf(&want, GREET "+OK send PASS\r\n{AUTH alice %s}"
			       "-ERR [AUTH] Invalid credentials\r\n", pw);
	run_all_modes(&cfg, in.data, in.len, buf_cstr(&want), "long PASS");

	free(sp250);
	free(sp251);
	free(big);
	free(pw);
	buf_release(&in);
	buf_release(&want);
}

/* A newline-less flood is consumed and dropped: one reply, nothing kept. */
static void test_flood_without_newline(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	struct drv d;
	drv_init(&d, &cfg, 1);
	size_t chunk = 64 * 1024;
	char *junk = repeat('A', chunk);
	for (int i = 0; i < 64; i++) { /* 4 MiB */
		size_t n = pop3_server_feed(d.s, (const uint8_t *)junk, chunk);
		assert_int_equal(n, chunk);
		drv_drain(&d);
	}
	drv_feed(&d, "\r\nQUIT\r\n", 8, DRV_WHOLE);
	expect_got(&d, GREET "-ERR line too long\r\n+OK facteur POP3 server signing off\r\n{CLOSE}",
		   "flood");
	drv_clear(&d);

	/* The same with NULs and CRs, one byte at a time. */
	drv_init(&d, &cfg, 1);
	memset(junk, 0, 4096);
	for (size_t i = 0; i < 4096; i += 3)
		junk[i] = '\r';
	drv_feed(&d, junk, 4096, DRV_BYTES);
	drv_feed(&d, "\nQUIT\r\n", 7, DRV_BYTES);
	expect_got(&d, GREET "-ERR line too long\r\n+OK facteur POP3 server signing off\r\n{CLOSE}",
		   "NUL flood");
	drv_clear(&d);
	free(junk);
}

/* Many short bad lines end in "too many errors"; the rest is not read. */
static void test_error_flood_closes(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	struct buf in, want;
	buf_init(&in, 0);
	buf_init(&want, 0);
	for (int i = 0; i < 1000; i++)
		buf_append_str(&in, "BOGUS\r\n");
	buf_append_str(&want, GREET);
	for (int i = 0; i < LIMIT_POP3_ERRORS; i++)
		buf_append_str(&want, "-ERR unknown command\r\n");
	buf_append_str(&want, "-ERR too many errors\r\n{CLOSE}");
	struct drv d;
	drv_init(&d, &cfg, 1);
	drv_feed(&d, in.data, in.len, DRV_WHOLE);
	expect_got(&d, buf_cstr(&want), "error flood");
	assert_int_equal(d.consumed, 7 * (LIMIT_POP3_ERRORS + 1));
	assert_int_equal(pop3_server_feed(d.s, (const uint8_t *)"QUIT\r\n", 6), 0);
	drv_clear(&d);
	buf_release(&in);
	buf_release(&want);
}

/* feed() stops taking commands once ~64 KiB of replies wait, so a
 * pipelined flood cannot grow memory; draining lets it go on. */
static void test_backlog_bounds_pipelined_flood(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	struct buf in;
	buf_init(&in, 0);
	const size_t count = 20000;
	for (size_t i = 0; i < count; i++)
		buf_append_str(&in, "CAPA\r\n");
	struct drv d;
	drv_init(&d, &cfg, 1);
	size_t n = pop3_server_feed(d.s, in.data, in.len);
	assert_true(n > 0 && n < in.len);
	drv_drain(&d);
	assert_true(d.got.len < 64 * 1024 + 256);
	drv_feed(&d, in.data + n, in.len - n, DRV_WHOLE);
	assert_false(d.stalled);
	size_t replies = 0;
	for (size_t i = 0; i + 14 <= d.got.len; i++)
		replies += memcmp(d.got.data + i, "+OK Capability", 14) == 0;
	assert_int_equal(replies, count);
	drv_clear(&d);
	buf_release(&in);
}

/* Collects items without answering requests. */
static void collect(struct pop3_server *s, struct buf *got)
{
	struct pop3_out o;
	while (pop3_server_next(s, &o)) {
		switch (o.kind) {
		case POP3_OUT_REPLY:
			buf_append(got, o.data, o.len);
			break;
		case POP3_OUT_LOG:
			break;
		case POP3_OUT_AUTH:
			buf_append_str(got, "{AUTH}");
			break;
		case POP3_OUT_SEND_MSG:
			buf_append_str(got, "{SEND}");
			break;
		case POP3_OUT_UPDATE:
			buf_printf(got, "{UPDATE %zu}", o.ndel);
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

static void feed_str(struct pop3_server *s, const char *str)
{
	assert_int_equal(pop3_server_feed(s, (const uint8_t *)str, strlen(str)), strlen(str));
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

enum when { W_AUTHORIZATION, W_TRANSACTION, W_AUTH_PENDING, W_SEND_PENDING,
	    W_UPDATE_PENDING };

/* Brings a session to the given point; returns what it emitted. */
static struct pop3_server *session_at(enum when w, struct buf *got)
{
	struct pop3_server_cfg cfg = plain_cfg();
	struct pop3_server *s = pop3_server_new(&cfg);
	assert_non_null(s);
	collect(s, got);
	if (w == W_AUTHORIZATION)
		return s;
	feed_str(s, LOGIN);
	collect(s, got);
	if (w == W_AUTH_PENDING)
		return s;
	input_kind(s, POP3_IN_AUTH_RESULT, POP3_AUTH_OK);
	feed_str(s, "DELE 1\r\n");
	collect(s, got);
	if (w == W_TRANSACTION)
		return s;
	feed_str(s, w == W_SEND_PENDING ? "RETR 2\r\n" : "QUIT\r\n");
	collect(s, got);
	return s;
}

#define AT_TRANS GREET "+OK send PASS\r\n{AUTH}+OK maildrop has 3 messages (370 octets)\r\n" \
	"+OK message 1 deleted\r\n"

static void check_buf(struct buf *got, const char *want, const char *what)
{
	if (strcmp(buf_cstr(got), want) != 0) {
		print_error("%s\n--- want:\n%s\n--- got:\n%s\n", what, want, buf_cstr(got));
		fail();
	}
}

/* RFC 1939 3: the autologout timer closes without UPDATE. */
static void test_timeout(void **state)
{
	(void)state;
	static const struct {
		enum when w;
		const char *want;
	} t[] = {
		{ W_AUTHORIZATION, GREET "-ERR autologout timer expired\r\n{CLOSE}" },
		{ W_TRANSACTION, AT_TRANS "-ERR autologout timer expired\r\n{CLOSE}" },
		{ W_AUTH_PENDING,
		  GREET "+OK send PASS\r\n{AUTH}-ERR autologout timer expired\r\n{CLOSE}" },
		/* No status line inside a message being sent. */
		{ W_SEND_PENDING, AT_TRANS "+OK 200 octets\r\n{SEND}{CLOSE}" },
		/* Deletions under way finish; their answer closes. */
		{ W_UPDATE_PENDING, AT_TRANS "{UPDATE 1}"
		  "+OK facteur POP3 server signing off (2 messages left)\r\n{CLOSE}" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf got;
		buf_init(&got, 0);
		struct pop3_server *s = session_at(t[i].w, &got);
		input_kind(s, POP3_IN_TIMEOUT, 0);
		collect(s, &got);
		/* Late answers to what was pending are ignored after close. */
		if (t[i].w == W_AUTH_PENDING)
			input_kind(s, POP3_IN_AUTH_RESULT, POP3_AUTH_OK);
		if (t[i].w == W_SEND_PENDING)
			input_kind(s, POP3_IN_SENT, 0);
		if (t[i].w == W_UPDATE_PENDING)
			input_kind(s, POP3_IN_UPDATE_RESULT, 0);
		collect(s, &got);
		check_buf(&got, t[i].want, "timeout");
		assert_true(pop3_server_closed(s));
		assert_int_equal(pop3_server_feed(s, (const uint8_t *)"NOOP\r\n", 6), 0);
		pop3_server_free(&s);
		assert_null(s);
		buf_release(&got);
	}
}

/* Shutdown: -ERR [SYS/TEMP] and close, no UPDATE; a pending request is
 * answered first. */
static void test_shutdown(void **state)
{
	(void)state;
	static const struct {
		enum when w;
		const char *want;
	} t[] = {
		{ W_AUTHORIZATION, GREET "-ERR [SYS/TEMP] server shutting down\r\n{CLOSE}" },
		{ W_TRANSACTION, AT_TRANS "-ERR [SYS/TEMP] server shutting down\r\n{CLOSE}" },
		{ W_AUTH_PENDING,
		  GREET "+OK send PASS\r\n{AUTH}-ERR [SYS/TEMP] server shutting down\r\n{CLOSE}" },
		{ W_SEND_PENDING, AT_TRANS "+OK 200 octets\r\n{SEND}"
		  "-ERR [SYS/TEMP] server shutting down\r\n{CLOSE}" },
		{ W_UPDATE_PENDING, AT_TRANS "{UPDATE 1}"
		  "+OK facteur POP3 server signing off (2 messages left)\r\n{CLOSE}" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf got;
		buf_init(&got, 0);
		struct pop3_server *s = session_at(t[i].w, &got);
		input_kind(s, POP3_IN_SHUTDOWN, 0);
		collect(s, &got);
		if (t[i].w >= W_AUTH_PENDING)
			assert_false(pop3_server_closed(s)); /* waits for the answer */
		if (t[i].w == W_AUTH_PENDING)
			input_kind(s, POP3_IN_AUTH_RESULT, POP3_AUTH_OK);
		if (t[i].w == W_SEND_PENDING)
			input_kind(s, POP3_IN_SENT, 0);
		if (t[i].w == W_UPDATE_PENDING)
			input_kind(s, POP3_IN_UPDATE_RESULT, 0);
		collect(s, &got);
		check_buf(&got, t[i].want, "shutdown");
		assert_true(pop3_server_closed(s));
		pop3_server_free(&s);
		buf_release(&got);
	}
}

/* Pipelined commands wait behind a pending request, then run in order. */
static void test_feed_stops_at_pending(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	struct pop3_server *s = pop3_server_new(&cfg);
	struct buf got;
	buf_init(&got, 0);
	collect(s, &got);
	const char *in = "USER alice\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nNOOP\r\n";
	size_t n = pop3_server_feed(s, (const uint8_t *)in, strlen(in));
	assert_int_equal(n, strlen("USER alice\r\nPASS secret\r\n"));
	assert_int_equal(pop3_server_feed(s, (const uint8_t *)in + n, strlen(in) - n), 0);
	input_kind(s, POP3_IN_AUTH_RESULT, POP3_AUTH_OK);
	size_t m = pop3_server_feed(s, (const uint8_t *)in + n, strlen(in) - n);
	assert_int_equal(m, strlen("STAT\r\nRETR 1\r\n"));
	collect(s, &got);
	input_kind(s, POP3_IN_SENT, 0);
	assert_int_equal(pop3_server_feed(s, (const uint8_t *)in + n + m, 6), 6);
	collect(s, &got);
	check_buf(&got, GREET "+OK send PASS\r\n{AUTH}+OK maildrop has 3 messages (370 octets)\r\n"
			  "+OK 3 370\r\n+OK 120 octets\r\n{SEND}+OK\r\n", "pending");
	pop3_server_free(&s);
	buf_release(&got);
}

/* The copy of the password is wiped once AUTH is answered, and never
 * reaches a log line. (White box: the pointer is past its documented
 * lifetime, but the memory still belongs to the session.) */
static void test_password_wiped_and_never_logged(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	struct pop3_server *s = pop3_server_new(&cfg);
	struct buf logs;
	buf_init(&logs, 0);
	struct pop3_out o;
	while (pop3_server_next(s, &o))
		;
	feed_str(s, "USER alice\r\nPASS hunter2 x\r\n");
	const char *pass = NULL;
	while (pop3_server_next(s, &o)) {
		if (o.kind == POP3_OUT_AUTH) {
			assert_string_equal(o.pass, "hunter2 x");
			assert_null(o.apop_digest);
			pass = o.pass;
		}
		if (o.kind == POP3_OUT_LOG)
			buf_append(&logs, o.data, o.len);
	}
	assert_non_null(pass);
	input_kind(s, POP3_IN_AUTH_RESULT, POP3_AUTH_BAD);
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(pass[i], 0);
	while (pop3_server_next(s, &o))
		if (o.kind == POP3_OUT_LOG)
			buf_append(&logs, o.data, o.len);
	assert_null(strstr(buf_cstr(&logs), "hunter2"));
	assert_non_null(strstr(buf_cstr(&logs), "login user=\"alice\" method=user result=failed"));
	pop3_server_free(&s);
	buf_release(&logs);
}

/* One log line per milestone, client values escaped. */
static void test_log_events(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	struct drv d;
	drv_init(&d, &cfg, 1);
	const char *in = "USER a\"b\xff\r\nPASS x\r\n" LOGIN
			 "RETR 2\r\nTOP 1 4\r\nDELE 3\r\nQUIT\r\n";
	drv_feed(&d, in, strlen(in), DRV_WHOLE);
	const char *want =
		"login user=\"a\\x22b\\xff\" method=user result=failed\n"
		"login user=\"alice\" method=user result=ok messages=3 octets=370\n"
		"retr msg=2 octets=200\n"
		"top msg=1 lines=4\n"
		"dele msg=3\n"
		"quit deleted=1 left=2 result=ok\n";
	assert_string_equal(buf_cstr(&d.logs), want);
	drv_clear(&d);

	drv_init(&d, &cfg, 1);
	drv_feed(&d, "QUIT\r\n", 6, DRV_WHOLE);
	assert_string_equal(buf_cstr(&d.logs), "quit state=authorization\n");
	drv_clear(&d);
}

/* Listed unique-ids that are not valid (RFC 1939 7) get a stable hash;
 * valid ones pass unchanged; more than LIMIT_POP3_MESSAGES are cut. */
static void test_listing_sanitised(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = plain_cfg();
	struct pop3_server *s = pop3_server_new(&cfg);
	struct buf got;
	buf_init(&got, 0);
	collect(s, &got);
	feed_str(s, LOGIN);
	collect(s, &got);
	const struct pop3_msg_info msgs[] = {
		{ 1, "ok-id" }, { 2, "has space" }, { 3, NULL }, { 4, "" },
		{ 5, "has\ttab" },
		{ 6, "0123456789012345678901234567890123456789012345678901234567890123456789x" },
	};
	struct pop3_in in = { .kind = POP3_IN_AUTH_RESULT, .result = POP3_AUTH_OK,
			      .msgs = msgs, .nmsgs = 6 };
	pop3_server_input(s, &in);
	buf_clear(&got);
	collect(s, &got);
	feed_str(s, "UIDL\r\n");
	buf_clear(&got);
	collect(s, &got);
	const char *p = buf_cstr(&got);
	assert_non_null(strstr(p, "\r\n1 ok-id\r\n"));
	/* Every id: 1..70 chars of 0x21..0x7e, all distinct. */
	char ids[6][80];
	size_t k = 0;
	const char *line = strstr(p, "\r\n") + 2;
	while (strncmp(line, ".\r\n", 3) != 0) {
		const char *sp = strchr(line, ' ');
		const char *end = strstr(line, "\r\n");
		size_t len = (size_t)(end - sp - 1);
		assert_true(len >= 1 && len <= 70);
		for (size_t i = 0; i < len; i++)
			assert_true(sp[1 + i] >= 0x21 && sp[1 + i] <= 0x7e);
		assert_true(k < 6);
		memcpy(ids[k], sp + 1, len);
		ids[k][len] = '\0';
		k++;
		line = end + 2;
	}
	assert_int_equal(k, 6);
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < k; j++)
			assert_string_not_equal(ids[i], ids[j]);
	pop3_server_free(&s);

	/* The cap on listed messages. */
	size_t big = LIMIT_POP3_MESSAGES + 5;
	struct pop3_msg_info *many = calloc(big, sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i < big; i++) {
		many[i].octets = 1;
		many[i].uidl = "x";
	}
	s = pop3_server_new(&cfg);
	collect(s, &got);
	feed_str(s, LOGIN);
	collect(s, &got);
	in.msgs = many;
	in.nmsgs = big;
	pop3_server_input(s, &in);
	buf_clear(&got);
	collect(s, &got);
	feed_str(s, "STAT\r\n");
	buf_clear(&got);
	collect(s, &got);
	check_buf(&got, "+OK 100000 100000\r\n", "capped listing");
	pop3_server_free(&s);
	free(many);
	buf_release(&got);
}

/* Configuration values are cleaned: status lines stay within RFC 2449's
 * 512 octets, defaults fill zeros, no IMPLEMENTATION without text. A
 * zeroed cfg is the safe one: no login without TLS, so no USER in CAPA. */
static void test_config_cleaned(void **state)
{
	(void)state;
	struct pop3_server_cfg cfg = { 0 };
	struct drv d;
	drv_init(&d, &cfg, 1);
	drv_feed(&d, "CAPA\r\nUSER alice\r\n", 18, DRV_WHOLE);
	expect_got(&d, GREET "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
			     "RESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n.\r\n"
			     "-ERR [AUTH] Cleartext authentication not allowed\r\n",
		   "zero config");
	drv_clear(&d);

	char *host = repeat('h', 2000);
	cfg.hostname = host;
	cfg.apop_unique = "a b<c>\r\n";
	cfg.apop_enabled = true;
	cfg.implementation = "x\r\nEVIL";
	drv_init(&d, &cfg, 1);
	const char *g = buf_cstr(&d.got);
	size_t glen = strlen(g);
	assert_true(glen <= 512);
	assert_memory_equal(g, "+OK facteur POP3 server ready <abc@hhh", 38);
	assert_memory_equal(g + glen - 6, "hhh>\r\n", 6);
	drv_feed(&d, "CAPA\r\n", 6, DRV_WHOLE);
	assert_non_null(strstr(buf_cstr(&d.got), "\r\nIMPLEMENTATION xEVIL\r\n"));
	drv_clear(&d);

	/* A long IMPLEMENTATION text is cut, not a reason to fail. */
	cfg.implementation = host;
	cfg.apop_unique = host;
	drv_init(&d, &cfg, 1);
	drv_feed(&d, "CAPA\r\n", 6, DRV_WHOLE);
	assert_non_null(strstr(buf_cstr(&d.got), "\r\nIMPLEMENTATION hhhh"));
	assert_non_null(strstr(buf_cstr(&d.got), "hhh\r\n.\r\n"));
	drv_clear(&d);
	free(host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc1939_example_session),
		cmocka_unit_test(test_line_length_limit),
		cmocka_unit_test(test_flood_without_newline),
		cmocka_unit_test(test_error_flood_closes),
		cmocka_unit_test(test_backlog_bounds_pipelined_flood),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_feed_stops_at_pending),
		cmocka_unit_test(test_password_wiped_and_never_logged),
		cmocka_unit_test(test_log_events),
		cmocka_unit_test(test_listing_sanitised),
		cmocka_unit_test(test_config_cleaned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
