/* Unit tests for src/queue/envelope.c: the text form of a queue entry.
 * Pure: no files, no clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "queue/envelope.h"
#include "queue_test.h"

/* ---- helpers (shared with test_spool.c) ---- */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool queue_test_env_equal(const struct queue_env *a, const struct queue_env *b)
{
	if (strcmp(a->id, b->id) != 0 || !str_eq(a->sender, b->sender) || a->created != b->created ||
	    a->next_attempt != b->next_attempt || a->attempts != b->attempts ||
	    a->held != b->held || a->warned != b->warned || a->body_8bit != b->body_8bit ||
	    a->size != b->size || a->nrcpts != b->nrcpts)
		return false;
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct queue_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		if (!str_eq(x->addr, y->addr) || !str_eq(x->orcpt, y->orcpt) ||
		    x->state != y->state || x->local != y->local || x->attempts != y->attempts ||
		    x->code != y->code || strcmp(x->status, y->status) != 0 || !str_eq(x->mta, y->mta) ||
		    !str_eq(x->text, y->text))
			return false;
	}
	return true;
}

void queue_test_env_make(struct queue_env *env, const char *id)
{
	memset(env, 0, sizeof *env);
	snprintf(env->id, sizeof env->id, "%s", id);
	env->sender = strdup("alice@example.org");
	assert_non_null(env->sender);
	env->created = 1700000000;
	env->next_attempt = 1700000300;
	env->attempts = 2;
	env->body_8bit = true;
	env->size = 1234;
	assert_true(queue_env_add_rcpt(env, "bob@example.com", "Bob@Example.COM", false));
	assert_true(queue_env_add_rcpt(env, "carol@local.test", NULL, true));
	assert_true(queue_env_add_rcpt(env, "dave@example.net", "-", false));
	assert_true(queue_env_add_rcpt(env, "erin@example.net", "erin@example.net", false));
	struct queue_rcpt *r = env->rcpts;
	r[0].attempts = 2;
	assert_true(queue_rcpt_set_result(&r[0], 451, "4.7.1", "mx.example.com[192.0.2.1]",
					  "greylisted, try again later"));
	r[1].state = RCPT_SENT;
	r[1].attempts = 1;
	assert_true(queue_rcpt_set_result(&r[1], 250, "2.0.0", NULL, "delivered to mailbox"));
	r[2].state = RCPT_FAILED;
	r[2].attempts = 1;
	assert_true(queue_rcpt_set_result(&r[2], 550, "5.1.1", "mx.example.net", "no such user"));
}

static const char full_text[] =
	"facteur-envelope 1\n"
	"id 65a1b2c3.000004d2000000001a2b3c4d\n"
	"sender alice@example.org\n"
	"created 1700000000\n"
	"next 1700000300\n"
	"attempts 2\n"
	"held 0\n"
	"warned 0\n"
	"size 1234\n"
	"body8bit 1\n"
	"rcpt pending 0 2 bob@example.com Bob@Example.COM\n"
	"rcpt-status 451 4.7.1 mx.example.com[192.0.2.1] greylisted, try again later\n"
	"rcpt sent 1 1 carol@local.test -\n"
	"rcpt-status 250 2.0.0 - delivered to mailbox\n"
	"rcpt failed 0 1 dave@example.net -\n"
	"rcpt-status 550 5.1.1 mx.example.net no such user\n"
	"rcpt pending 0 0 erin@example.net -\n";

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Formats env, checks the bytes are printable ASCII and LF, parses them
 * back and checks the result is env; returns the text (caller frees). */
static char *round_trip(const struct queue_env *env)
{
	struct buf b;
	buf_init(&b, 0);
	assert_true(queue_env_format(env, &b));
	for (size_t i = 0; i < b.len; i++)
		assert_true(b.data[i] == '\n' || (b.data[i] >= 0x20 && b.data[i] < 0x7f));
	struct queue_env back;
	char err[256];
	assert_int_equal(queue_env_parse((const char *)b.data, b.len, &back, err, sizeof err), 0);
	assert_true(queue_test_env_equal(env, &back));
	queue_env_free(&back);
	size_t len;
	char *s = (char *)buf_steal(&b, &len);
	char *t = realloc(s, len + 1);
	assert_non_null(t);
	t[len] = '\0';
	return t;
}

/* ---- ids ---- */

static void id_valid_table(void **state)
{
	(void)state;
	static const struct {
		const char *id;
		bool ok;
	} cases[] = {
		{ "a", true },
		{ "65a1b2c3.000004d2000000001a2b3c4d", true },
		{ "x.dsn", true },
		{ "A-Z_0.9", true },
		{ "1234567890123456789012345678901234567890123456789012345678901234", true },
		{ "12345678901234567890123456789012345678901234567890123456789012345", false },
		{ "", false },
		{ ".hidden", false },
		{ ".", false },
		{ "..", false },
		{ "a/b", false },
		{ "a b", false },
		{ "a~1", false },
		{ "caf\xc3\xa9", false },
		{ "a\n", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(queue_id_valid(cases[i].id), cases[i].ok);
	assert_false(queue_id_valid(NULL));
}

/* ---- format and parse ---- */

static void format_is_the_documented_text(void **state)
{
	(void)state;
	struct queue_env env;
	queue_test_env_make(&env, "65a1b2c3.000004d2000000001a2b3c4d");
	char *text = round_trip(&env);
	assert_string_equal(text, full_text);
	free(text);
	queue_env_free(&env);
}

static void parse_reads_every_field(void **state)
{
	(void)state;
	struct queue_env env;
	char err[256];
	assert_int_equal(queue_env_parse(full_text, strlen(full_text), &env, err, sizeof err), 0);
	assert_string_equal(env.id, "65a1b2c3.000004d2000000001a2b3c4d");
	assert_string_equal(env.sender, "alice@example.org");
	assert_true(env.created == 1700000000);
	assert_true(env.next_attempt == 1700000300);
	assert_int_equal(env.attempts, 2);
	assert_false(env.held);
	assert_false(env.warned);
	assert_true(env.body_8bit);
	assert_true(env.size == 1234);
	assert_int_equal(env.nrcpts, 4);
	const struct queue_rcpt *r = env.rcpts;
	assert_string_equal(r[0].addr, "bob@example.com");
	assert_string_equal(r[0].orcpt, "Bob@Example.COM");
	assert_int_equal(r[0].state, RCPT_PENDING);
	assert_int_equal(r[0].code, 451);
	assert_string_equal(r[0].status, "4.7.1");
	assert_string_equal(r[0].mta, "mx.example.com[192.0.2.1]");
	assert_string_equal(r[0].text, "greylisted, try again later");
	assert_string_equal(r[1].orcpt, "carol@local.test");
	assert_true(r[1].local);
	assert_int_equal(r[1].state, RCPT_SENT);
	assert_null(r[1].mta);
	assert_int_equal(r[2].state, RCPT_FAILED);
	assert_int_equal(r[3].code, 0);
	assert_string_equal(r[3].status, "");
	assert_null(r[3].mta);
	assert_null(r[3].text);
	assert_int_equal(queue_env_pending(&env), 2);
	queue_env_free(&env);
}

static void round_trip_flags_null_sender_and_extremes(void **state)
{
	(void)state;
	struct queue_env env = { 0 };
	snprintf(env.id, sizeof env.id, "%s", "orig.dsn");
	env.sender = strdup("");
	env.created = INT64_MAX;
	env.next_attempt = 0;
	env.attempts = UINT32_MAX;
	env.held = env.warned = true;
	env.size = UINT64_MAX;
	assert_true(queue_env_add_rcpt(&env, "postmaster", NULL, true));
	env.rcpts[0].attempts = UINT32_MAX;
	/* A result with a code only, or a host only. */
	assert_true(queue_env_add_rcpt(&env, "x@y", NULL, false));
	assert_true(queue_rcpt_set_result(&env.rcpts[1], 421, NULL, NULL, NULL));
	assert_true(queue_env_add_rcpt(&env, "z@y", NULL, false));
	assert_true(queue_rcpt_set_result(&env.rcpts[2], 0, "4.4.1", "[2001:db8::1]", NULL));
	char *text = round_trip(&env);
	assert_non_null(strstr(text, "sender \n"));
	assert_non_null(strstr(text, "created 9223372036854775807\n"));
	assert_non_null(strstr(text, "size 18446744073709551615\n"));
	assert_non_null(strstr(text, "held 1\nwarned 1\n"));
	assert_non_null(strstr(text, "rcpt pending 1 4294967295 postmaster -\nrcpt pending"));
	assert_non_null(strstr(text, "rcpt-status 421 - -\n"));
	assert_non_null(strstr(text, "rcpt-status 0 4.4.1 [2001:db8::1]\n"));
	free(text);
	queue_env_free(&env);
}

/* Text fields from a remote server are cleaned: one line, printable
 * ASCII, QUEUE_TEXT_MAX bytes. */
static void results_are_sanitised(void **state)
{
	(void)state;
	struct queue_env env = { 0 };
	snprintf(env.id, sizeof env.id, "%s", "s1");
	env.sender = strdup("a@b");
	assert_true(queue_env_add_rcpt(&env, "c@d", NULL, false));
	struct queue_rcpt *r = &env.rcpts[0];
	char long_text[QUEUE_TEXT_MAX + 100];
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	assert_true(queue_rcpt_set_result(r, 550, "5.7.1", "evil host\r\n", long_text));
	assert_string_equal(r->mta, "evil?host??");
	assert_int_equal(strlen(r->text), QUEUE_TEXT_MAX);
	assert_true(queue_rcpt_set_result(r, 450, "not.a.status", "-", "caf\xc3\xa9\tbar\r\nX: y"));
	assert_string_equal(r->status, "");
	assert_null(r->mta);
	assert_string_equal(r->text, "caf??\?bar??X: y");
	assert_true(queue_rcpt_set_result(r, 450, "4.4.1", "", ""));
	assert_string_equal(r->status, "4.4.1");
	assert_null(r->mta);
	assert_null(r->text);
	/* The same values passed back in (a caller keeping the host). */
	assert_true(queue_rcpt_set_result(r, 451, "4.4.1", "mx", "first"));
	assert_true(queue_rcpt_set_result(r, 451, r->status, r->mta, r->text));
	assert_string_equal(r->mta, "mx");
	assert_string_equal(r->text, "first");
	assert_string_equal(r->status, "4.4.1");
	errno = 0;
	assert_false(queue_rcpt_set_result(r, 1000, "4.4.1", NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(r->code, 451);

	/* Set by hand, past the API: format still writes a readable file. */
	free(r->text);
	r->text = strdup("bad\x01text\x7f\xff");
	free(r->mta);
	r->mta = strdup("a b");
	memcpy(r->status, "4.4.1 x", 8);
	struct buf b;
	buf_init(&b, 0);
	assert_true(queue_env_format(&env, &b));
	assert_non_null(strstr(buf_cstr(&b), "rcpt-status 451 - a?b bad?text??\n"));
	struct queue_env back;
	char err[256];
	assert_int_equal(queue_env_parse((const char *)b.data, b.len, &back, err, sizeof err), 0);
	assert_string_equal(back.rcpts[0].text, "bad?text??");
	queue_env_free(&back);
	buf_release(&b);
	queue_env_free(&env);
}

static void add_rcpt_checks_addresses(void **state)
{
	(void)state;
	struct queue_env env = { 0 };
	static const char *const bad[] = { "", "a b", "a\tb", "caf\xc3\xa9@x", "a\x7f" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		assert_false(queue_env_add_rcpt(&env, bad[i], NULL, false));
		assert_int_equal(errno, EINVAL);
		assert_false(queue_env_add_rcpt(&env, "ok@x", bad[i][0] ? bad[i] : "a b", false));
	}
	assert_false(queue_env_add_rcpt(&env, NULL, NULL, false));
	char huge[1002];
	memset(huge, 'a', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	assert_false(queue_env_add_rcpt(&env, huge, NULL, false));
	huge[1000] = '\0';
	assert_true(queue_env_add_rcpt(&env, huge, NULL, false));
	assert_int_equal(env.nrcpts, 1);
	assert_string_equal(env.rcpts[0].orcpt, huge);
	assert_int_equal(env.rcpts[0].state, RCPT_PENDING);
	assert_int_equal(env.rcpts[0].code, 0);
	queue_env_free(&env);
}

/* An envelope the parser would refuse is never written. */
static void format_refuses_what_parse_would(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_true(buf_append_str(&b, "keep"));
	struct queue_env env;

	queue_test_env_make(&env, "ok");
	snprintf(env.id, sizeof env.id, "%s", ".bad");
	assert_false(queue_env_format(&env, &b));
	queue_env_free(&env);

	queue_test_env_make(&env, "ok");
	free(env.sender);
	env.sender = NULL;
	assert_false(queue_env_format(&env, &b));
	env.sender = strdup("a b");
	assert_false(queue_env_format(&env, &b));
	queue_env_free(&env);

	queue_test_env_make(&env, "ok");
	env.created = -1;
	assert_false(queue_env_format(&env, &b));
	env.created = 0;
	env.next_attempt = -5;
	assert_false(queue_env_format(&env, &b));
	queue_env_free(&env);

	queue_test_env_make(&env, "ok");
	env.rcpts[1].state = (enum rcpt_state)7;
	assert_false(queue_env_format(&env, &b));
	env.rcpts[1].state = RCPT_SENT;
	env.rcpts[1].code = 1000;
	assert_false(queue_env_format(&env, &b));
	env.rcpts[1].code = 250;
	free(env.rcpts[1].addr);
	env.rcpts[1].addr = strdup("has space");
	assert_false(queue_env_format(&env, &b));
	queue_env_free(&env);

	queue_test_env_make(&env, "ok");
	for (size_t i = 0; i < env.nrcpts; i++) {
		free(env.rcpts[i].addr);
		free(env.rcpts[i].orcpt);
		free(env.rcpts[i].mta);
		free(env.rcpts[i].text);
	}
	env.nrcpts = 0;
	assert_false(queue_env_format(&env, &b)); /* no recipient */
	queue_env_free(&env);

	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	/* Appends after what is there. */
	queue_test_env_make(&env, "ok");
	assert_true(queue_env_format(&env, &b));
	assert_memory_equal(b.data, "keepfacteur-envelope 1\n", 23);
	queue_env_free(&env);
	buf_release(&b);
}

#define HEAD                                                                        \
	"facteur-envelope 1\nid q1\nsender a@b\ncreated 1\nnext 2\nattempts 0\nheld 0\n" \
	"warned 0\nsize 10\nbody8bit 0\n"
#define RCPT "rcpt pending 0 0 x@y -\n"

static void parse_accepts_any_order_of_single_fields(void **state)
{
	(void)state;
	static const char text[] = "facteur-envelope 1\nbody8bit 1\nsize 3\n" RCPT
				   "warned 1\nheld 1\nattempts 4\nnext 5\ncreated 6\nsender \nid z\n"
				   "rcpt sent 1 2 u@v w@v\nrcpt-status 250 - -\n";
	struct queue_env env;
	char err[256];
	assert_int_equal(queue_env_parse(text, strlen(text), &env, err, sizeof err), 0);
	assert_string_equal(env.id, "z");
	assert_string_equal(env.sender, "");
	assert_int_equal(env.nrcpts, 2);
	assert_int_equal(env.rcpts[1].code, 250);
	queue_env_free(&env);
}

static void parse_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{ "", "empty file" },
		{ "hello\n", "not a facteur-envelope 1 file" },
		{ "facteur-envelope 2\n", "not a facteur-envelope 1 file" },
		{ "facteur-envelope 1 \n", "not a facteur-envelope 1 file" },
		{ "facteur-envelope 1\r\n", "not a facteur-envelope 1 file" },
		{ HEAD RCPT "held 0", "line 12: no final newline" },
		{ HEAD "rcpt pending 0 0 x@y -", "no final newline" },
		{ HEAD RCPT "color red\n", "line 12: unknown field" },
		{ HEAD RCPT "Held 0\n", "unknown field" },
		{ HEAD RCPT "\n", "no value" },
		{ HEAD RCPT "held\n", "no value" },
		{ HEAD RCPT "held 0\n", "held given twice" },
		{ HEAD RCPT "id q1\n", "id given twice" },
		{ HEAD RCPT "sender a@b\n", "sender given twice" },
		{ HEAD, "no rcpt" },
		/* numbers */
		{ "facteur-envelope 1\ncreated -1\n", "bad created" },
		{ "facteur-envelope 1\ncreated 1x\n", "bad created" },
		{ "facteur-envelope 1\ncreated \n", "bad created" },
		{ "facteur-envelope 1\ncreated +1\n", "bad created" },
		{ "facteur-envelope 1\ncreated 0x10\n", "bad created" },
		{ "facteur-envelope 1\ncreated 9223372036854775808\n", "bad created" },
		{ "facteur-envelope 1\nnext 99999999999999999999\n", "bad next" },
		{ "facteur-envelope 1\nattempts 4294967296\n", "bad attempts" },
		{ "facteur-envelope 1\nsize 18446744073709551616\n", "bad size" },
		{ "facteur-envelope 1\nsize 1 \n", "bad size" },
		{ "facteur-envelope 1\nheld 2\n", "bad held" },
		{ "facteur-envelope 1\nheld 01\n", "bad held" },
		{ "facteur-envelope 1\nwarned yes\n", "bad warned" },
		{ "facteur-envelope 1\nbody8bit \n", "bad body8bit" },
		/* ids and addresses */
		{ "facteur-envelope 1\nid .x\n", "bad id" },
		{ "facteur-envelope 1\nid a/b\n", "bad id" },
		{ "facteur-envelope 1\nid \n", "bad id" },
		{ "facteur-envelope 1\nid "
		  "12345678901234567890123456789012345678901234567890123456789012345\n",
		  "bad id" },
		{ "facteur-envelope 1\nsender a b\n", "bad sender" },
		{ "facteur-envelope 1\nsender a\x01@b\n", "bad sender" },
		{ "facteur-envelope 1\nsender caf\xc3\xa9@b\n", "bad sender" },
		{ "facteur-envelope 1\nsender a@b\r\n", "bad sender" },
		/* rcpt */
		{ HEAD "rcpt waiting 0 0 x@y -\n", "rcpt: bad state" },
		{ HEAD "rcpt pending 2 0 x@y -\n", "rcpt: bad local flag" },
		{ HEAD "rcpt pending 0 -1 x@y -\n", "rcpt: bad attempts" },
		{ HEAD "rcpt pending 0 4294967296 x@y -\n", "rcpt: bad attempts" },
		{ HEAD "rcpt pending 0 0 x@y\n", "rcpt: want 5 fields" },
		{ HEAD "rcpt pending 0 0 x@y - z\n", "rcpt: want 5 fields" },
		{ HEAD "rcpt pending 0 0  x@y -\n", "rcpt: want 5 fields" },
		{ HEAD "rcpt pending 0 0 x@y - \n", "rcpt: want 5 fields" },
		{ HEAD "rcpt \n", "rcpt: want 5 fields" },
		{ HEAD "rcpt pending 0 0 x\x7f@y -\n", "rcpt: bad address" },
		{ HEAD "rcpt pending 0 0 x\xff@y -\n", "rcpt: bad address" },
		{ HEAD "rcpt pending 0 0 x@y a\tb\n", "rcpt: bad orcpt" },
		{ HEAD "rcpt pending 0 0 x@y -\r\n", "rcpt: bad orcpt" },
		/* rcpt-status */
		{ HEAD "rcpt-status 250 2.0.0 - ok\n", "rcpt-status does not follow a rcpt" },
		{ HEAD RCPT "rcpt-status 250 2.0.0 - ok\nrcpt-status 250 2.0.0 - ok\n",
		  "line 13: rcpt-status does not follow a rcpt" },
		{ HEAD RCPT "held 0\nrcpt-status 250 2.0.0 - ok\n", "held given twice" },
		{ "facteur-envelope 1\n" RCPT "id q1\nrcpt-status 250 2.0.0 - ok\n",
		  "rcpt-status does not follow a rcpt" },
		{ HEAD RCPT "rcpt-status 1000 2.0.0 - ok\n", "rcpt-status: bad code" },
		{ HEAD RCPT "rcpt-status -1 2.0.0 - ok\n", "rcpt-status: bad code" },
		{ HEAD RCPT "rcpt-status 250 4.4 - ok\n", "rcpt-status: bad status" },
		{ HEAD RCPT "rcpt-status 250 6.0.0 - ok\n", "rcpt-status: bad status" },
		{ HEAD RCPT "rcpt-status 250 2.0000.0 - ok\n", "rcpt-status: bad status" },
		{ HEAD RCPT "rcpt-status 250 2.0.0.0 - ok\n", "rcpt-status: bad status" },
		{ HEAD RCPT "rcpt-status 250 2..0 - ok\n", "rcpt-status: bad status" },
		{ HEAD RCPT "rcpt-status 250 2.0.0 m\x1bx ok\n", "rcpt-status: bad mta" },
		{ HEAD RCPT "rcpt-status 250 2.0.0 - o\tk\n", "rcpt-status: bad text" },
		{ HEAD RCPT "rcpt-status 250 2.0.0 - ok\r\n", "rcpt-status: bad text" },
		{ HEAD RCPT "rcpt-status 250 2.0.0 - caf\xc3\xa9\n", "rcpt-status: bad text" },
		{ HEAD RCPT "rcpt-status 250 2.0.0 - \n", "rcpt-status: want" },
		{ HEAD RCPT "rcpt-status 250 2.0.0\n", "rcpt-status: want" },
		{ HEAD RCPT "rcpt-status 250\n", "rcpt-status: want" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct queue_env env;
		memset(&env, 0xa5, sizeof env);
		char err[256] = "";
		errno = 0;
		int rc = queue_env_parse(cases[i].text, strlen(cases[i].text), &env, err, sizeof err);
		if (rc != -1 || !strstr(err, cases[i].err))
			fail_msg("case %zu: rc %d err \"%s\", want \"%s\"", i, rc, err, cases[i].err);
		assert_int_equal(errno, EBADMSG);
		assert_true(all_zero(&env, sizeof env));
		queue_env_free(&env);
	}
}

/* Each single field left out in turn. */
static void parse_missing_fields(void **state)
{
	(void)state;
	static const char *const names[] = { "id",   "sender", "created", "next",    "attempts",
					     "held", "warned", "size",    "body8bit" };
	for (size_t skip = 0; skip < sizeof names / sizeof names[0]; skip++) {
		char text[512], want[64];
		size_t n = (size_t)snprintf(text, sizeof text, "facteur-envelope 1\n");
		const char *p = &HEAD[n];
		for (size_t i = 0; *p; i++) {
			const char *nl = strchr(p, '\n');
			if (i != skip)
				n += (size_t)snprintf(text + n, sizeof text - n, "%.*s\n",
						      (int)(nl - p), p);
			p = nl + 1;
		}
		n += (size_t)snprintf(text + n, sizeof text - n, "%s", RCPT);
		snprintf(want, sizeof want, "no %s field", names[skip]);
		struct queue_env env;
		char err[256];
		assert_int_equal(queue_env_parse(text, n, &env, err, sizeof err), -1);
		assert_non_null(strstr(err, want));
		assert_true(all_zero(&env, sizeof env));
	}
}

static void parse_refuses_nul_anywhere(void **state)
{
	(void)state;
	static const char text[] = HEAD RCPT;
	size_t len = sizeof text - 1;
	char *copy = malloc(len);
	assert_non_null(copy);
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, text, len);
		copy[i] = '\0';
		struct queue_env env;
		char err[256];
		assert_int_equal(queue_env_parse(copy, len, &env, err, sizeof err), -1);
		assert_non_null(strstr(err, "NUL byte"));
	}
	struct queue_env env;
	char err[256];
	assert_int_equal(queue_env_parse(text, len, &env, err, sizeof err), 0);
	queue_env_free(&env);
	free(copy);
}

/* Lines: 4096 bytes with the LF are read; one more is refused. */
static void parse_line_limit(void **state)
{
	(void)state;
	static const char head[] = "facteur-envelope 1\nsender ";
	char *text = malloc(5000);
	assert_non_null(text);
	for (size_t line = 4095; line <= 4097; line++) {
		memcpy(text, head, sizeof head - 1);
		size_t n = sizeof head - 1;
		size_t fill = line - strlen("sender ") - 1;
		memset(text + n, 'a', fill);
		n += fill;
		text[n++] = '\n';
		struct queue_env env;
		char err[256];
		assert_int_equal(queue_env_parse(text, n, &env, err, sizeof err), -1);
		/* Past ENV_ADDR_MAX the address is bad, but the line is read. */
		assert_non_null(strstr(err, line <= 4096 ? "line 2: bad sender"
							 : "line 2: longer than 4096"));
	}
	free(text);
}

/* 100000 recipients are read; one more is refused. */
static void parse_recipient_limit(void **state)
{
	(void)state;
	const size_t max = 100000;
	size_t cap = sizeof HEAD + (max + 1) * (sizeof RCPT + 8);
	char *text = malloc(cap);
	assert_non_null(text);
	size_t n = (size_t)snprintf(text, cap, "%s", HEAD);
	for (size_t i = 0; i < max; i++)
		n += (size_t)snprintf(text + n, cap - n, "rcpt pending 0 0 r%zu@y -\n", i);
	struct queue_env env;
	char err[256];
	assert_int_equal(queue_env_parse(text, n, &env, err, sizeof err), 0);
	assert_int_equal(env.nrcpts, max);
	assert_string_equal(env.rcpts[max - 1].addr, "r99999@y");
	/* The API stops at the same number. */
	assert_false(queue_env_add_rcpt(&env, "one@more", NULL, false));
	queue_env_free(&env);
	n += (size_t)snprintf(text + n, cap - n, "%s", RCPT);
	assert_int_equal(queue_env_parse(text, n, &env, err, sizeof err), -1);
	assert_non_null(strstr(err, "more than 100000 recipients"));
	assert_true(all_zero(&env, sizeof env));
	free(text);
}

/* The error message is cut to the buffer, never past it. */
static void parse_error_fits_small_buffers(void **state)
{
	(void)state;
	static const char text[] = HEAD RCPT "color red\n";
	for (size_t sz = 0; sz < 40; sz++) {
		char err[48];
		memset(err, 'Z', sizeof err);
		struct queue_env env;
		assert_int_equal(queue_env_parse(text, strlen(text), &env, sz ? err : NULL, sz), -1);
		if (sz) {
			assert_true(strlen(err) < sz);
			for (size_t i = sz; i < sizeof err; i++)
				assert_int_equal(err[i], 'Z');
		}
	}
}

static void free_leaves_a_reusable_struct(void **state)
{
	(void)state;
	struct queue_env env = { 0 };
	queue_env_free(&env);
	queue_env_free(NULL);
	queue_test_env_make(&env, "r1");
	queue_env_free(&env);
	assert_true(all_zero(&env, sizeof env));
	queue_env_free(&env);
	assert_true(queue_env_add_rcpt(&env, "a@b", NULL, false));
	assert_int_equal(env.nrcpts, 1);
	assert_int_equal(queue_env_pending(&env), 1);
	queue_env_free(&env);
	char err[256];
	assert_int_equal(queue_env_parse(full_text, strlen(full_text), &env, err, sizeof err), 0);
	queue_env_free(&env);
	assert_true(all_zero(&env, sizeof env));
}

int test_envelope_run(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(id_valid_table),
		cmocka_unit_test(format_is_the_documented_text),
		cmocka_unit_test(parse_reads_every_field),
		cmocka_unit_test(round_trip_flags_null_sender_and_extremes),
		cmocka_unit_test(results_are_sanitised),
		cmocka_unit_test(add_rcpt_checks_addresses),
		cmocka_unit_test(format_refuses_what_parse_would),
		cmocka_unit_test(parse_accepts_any_order_of_single_fields),
		cmocka_unit_test(parse_errors),
		cmocka_unit_test(parse_missing_fields),
		cmocka_unit_test(parse_refuses_nul_anywhere),
		cmocka_unit_test(parse_line_limit),
		cmocka_unit_test(parse_recipient_limit),
		cmocka_unit_test(parse_error_fits_small_buffers),
		cmocka_unit_test(free_leaves_a_reusable_struct),
	};
	return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
