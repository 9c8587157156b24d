/* Unit tests for the SASL mechanisms PLAIN and LOGIN (src/proto/sasl.c).
 * Table cases run an exchange: start with an optional initial response,
 * then answer each expected challenge with the next response, and check
 * where it ends. Hostile cases (misplaced NULs, foreign authzid, bad
 * base64, over-long fields) stand next to the happy ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base64.h"
#include "proto/sasl.h"

#define USERNAME_B64 "VXNlcm5hbWU6" /* "Username:" */
#define PASSWORD_B64 "UGFzc3dvcmQ6" /* "Password:" */
#define PLAIN_ALICE "AGFsaWNlAHNlY3JldA==" /* "\0alice\0secret" */

struct scase {
	const char *name;
	const char *mech;
	const char *initial;         /* NULL: no initial response */
	const char *challenges[4];   /* expected, in order; "" = empty */
	const char *responses[4];    /* the answer to each challenge */
	enum sasl_status final;
	enum sasl_error error;       /* FAIL */
	const char *authcid;         /* DONE */
	const char *passwd;          /* DONE */
};

#define DONE(u, p) .final = SASL_DONE, .authcid = (u), .passwd = (p)
#define FAIL(e) .final = SASL_FAIL, .error = (e)

static const struct scase cases[] = {
	{"plain_with_initial_response", "PLAIN", PLAIN_ALICE, {NULL}, {NULL},
		DONE("alice", "secret")},
	{"plain_without_initial_response_sends_empty_challenge", "PLAIN", NULL,
		{""}, {PLAIN_ALICE}, DONE("alice", "secret")},
	{"mechanism_names_are_case_insensitive", "pLaIn", PLAIN_ALICE, {NULL},
		{NULL}, DONE("alice", "secret")},
	{"plain_authzid_equal_to_authcid_is_accepted", "PLAIN",
		"YWxpY2UAYWxpY2UAc2VjcmV0", {NULL}, {NULL},
		DONE("alice", "secret")},
	{"plain_full_address_as_authcid", "PLAIN",
		"AGFsaWNlQGxvY2FsaG9zdABzZWNyZXQ=", {NULL}, {NULL},
		DONE("alice@localhost", "secret")},
	{"plain_authzid_of_someone_else_fails", "PLAIN",
		"Ym9iAGFsaWNlAHNlY3JldA==", {NULL}, {NULL},
		FAIL(SASL_ERR_AUTHZID)},
	{"plain_empty_initial_response_is_malformed", "PLAIN", "=", {NULL},
		{NULL}, FAIL(SASL_ERR_MALFORMED)},
	{"plain_empty_response_line_is_malformed", "PLAIN", NULL, {""}, {""},
		FAIL(SASL_ERR_MALFORMED)},
	{"plain_without_nul_is_malformed", "PLAIN", "YWxpY2U=", {NULL},
		{NULL}, FAIL(SASL_ERR_MALFORMED)},
	{"plain_with_one_nul_is_malformed", "PLAIN", "YWxpY2UAc2VjcmV0",
		{NULL}, {NULL}, FAIL(SASL_ERR_MALFORMED)},
	{"plain_with_three_nuls_is_malformed", "PLAIN",
		"AGFsaWNlAHNlYwByZXQ=", {NULL}, {NULL},
		FAIL(SASL_ERR_MALFORMED)},
	{"plain_empty_authcid_is_malformed", "PLAIN", "AABzZWNyZXQ=", {NULL},
		{NULL}, FAIL(SASL_ERR_MALFORMED)},
	{"plain_empty_password_is_malformed", "PLAIN", "AGFsaWNlAA==", {NULL},
		{NULL}, FAIL(SASL_ERR_MALFORMED)},
	{"plain_control_character_in_authcid_is_malformed", "PLAIN",
		"AGFsaWNlAQBzZWNyZXQ=", {NULL}, {NULL},
		FAIL(SASL_ERR_MALFORMED)},
	{"plain_invalid_utf8_in_authcid_is_malformed", "PLAIN",
		"AGFs/2ljZQBzZWNyZXQ=", {NULL}, {NULL},
		FAIL(SASL_ERR_MALFORMED)},
	{"plain_utf8_authcid_is_accepted", "PLAIN", "AGNhZsOpAHNlY3JldA==",
		{NULL}, {NULL}, DONE("caf\xc3\xa9", "secret")},
	{"plain_latin1_password_is_accepted", "PLAIN", "AGFsaWNlAHPpY3JldA==",
		{NULL}, {NULL}, DONE("alice", "s\xe9" "cret")},
	{"plain_missing_padding_is_bad_base64", "PLAIN", "AGFsaWNlAHNlY3JldA",
		{NULL}, {NULL}, FAIL(SASL_ERR_BAD_BASE64)},
	{"plain_pad_in_the_middle_is_bad_base64", "PLAIN", "AAA=BBBB", {NULL},
		{NULL}, FAIL(SASL_ERR_BAD_BASE64)},
	{"plain_leading_pad_is_bad_base64", "PLAIN", "=AAA", {NULL}, {NULL},
		FAIL(SASL_ERR_BAD_BASE64)},
	{"plain_non_alphabet_is_bad_base64", "PLAIN", NULL, {""},
		{"AGFsaWNl.HNlY3JldA=="}, FAIL(SASL_ERR_BAD_BASE64)},
	{"star_as_initial_response_is_bad_base64", "PLAIN", "*", {NULL},
		{NULL}, FAIL(SASL_ERR_BAD_BASE64)},
	{"plain_star_cancels", "PLAIN", NULL, {""}, {"*"},
		FAIL(SASL_ERR_CANCELLED)},
	{"login_asks_username_then_password", "LOGIN", NULL,
		{USERNAME_B64, PASSWORD_B64}, {"YWxpY2U=", "c2VjcmV0"},
		DONE("alice", "secret")},
	{"login_initial_response_is_the_username", "LOGIN", "YWxpY2U=",
		{PASSWORD_B64}, {"c2VjcmV0"}, DONE("alice", "secret")},
	{"login_star_cancels_at_username", "LOGIN", NULL, {USERNAME_B64},
		{"*"}, FAIL(SASL_ERR_CANCELLED)},
	{"login_star_cancels_at_password", "LOGIN", NULL,
		{USERNAME_B64, PASSWORD_B64}, {"YWxpY2U=", "*"},
		FAIL(SASL_ERR_CANCELLED)},
	{"login_empty_username_is_malformed", "LOGIN", NULL, {USERNAME_B64},
		{""}, FAIL(SASL_ERR_MALFORMED)},
	{"login_equals_initial_response_is_malformed", "LOGIN", "=", {NULL},
		{NULL}, FAIL(SASL_ERR_MALFORMED)},
	{"login_empty_password_is_malformed", "LOGIN", NULL,
		{USERNAME_B64, PASSWORD_B64}, {"YWxpY2U=", ""},
		FAIL(SASL_ERR_MALFORMED)},
	{"login_nul_in_username_is_malformed", "LOGIN", NULL, {USERNAME_B64},
		{"YWwAaWNl"}, FAIL(SASL_ERR_MALFORMED)},
	{"login_nul_in_password_is_malformed", "LOGIN", "YWxpY2U=",
		{PASSWORD_B64}, {"c2VjAHJldA=="}, FAIL(SASL_ERR_MALFORMED)},
	{"login_bad_base64_password", "LOGIN", "YWxpY2U=", {PASSWORD_B64},
		{"c2VjcmV0="}, FAIL(SASL_ERR_BAD_BASE64)},
	{"unknown_mechanism", "CRAM-MD5", NULL, {NULL}, {NULL},
		FAIL(SASL_ERR_UNKNOWN_MECH)},
	{"mechanism_prefix_is_unknown", "PLAINX", PLAIN_ALICE, {NULL}, {NULL},
		FAIL(SASL_ERR_UNKNOWN_MECH)},
	{"empty_mechanism_is_unknown", "", NULL, {NULL}, {NULL},
		FAIL(SASL_ERR_UNKNOWN_MECH)},
};

static void run_case(const struct scase *c)
{
	struct sasl x;
	struct sasl_result r;
	sasl_init(&x);
	enum sasl_status st = sasl_start(&x, c->mech, strlen(c->mech),
		c->initial, c->initial ? strlen(c->initial) : 0, &r);
	assert_int_equal(st, r.status);
	size_t i = 0;
	while (st == SASL_CHALLENGE) {
		if (i >= 4 || !c->challenges[i])
			fail_msg("case %s: unexpected challenge \"%s\"", c->name,
				r.challenge);
		assert_true(sasl_waiting(&x));
		assert_string_equal(r.challenge, c->challenges[i]);
		st = sasl_step(&x, c->responses[i], strlen(c->responses[i]), &r);
		assert_int_equal(st, r.status);
		i++;
	}
	if (i < 4 && c->challenges[i])
		fail_msg("case %s: challenge \"%s\" never came", c->name,
			c->challenges[i]);
	assert_false(sasl_waiting(&x));
	if (st != c->final)
		fail_msg("case %s: status %d, expected %d (error %d)", c->name,
			(int)st, (int)c->final, (int)r.error);
	if (st == SASL_FAIL) {
		if (r.error != c->error)
			fail_msg("case %s: error %d, expected %d", c->name,
				(int)r.error, (int)c->error);
		/* a failed exchange holds nothing */
		static const struct sasl zero;
		assert_memory_equal(x.passwd, zero.passwd, sizeof x.passwd);
		assert_memory_equal(x.authcid, zero.authcid, sizeof x.authcid);
	} else {
		assert_string_equal(r.authcid, c->authcid);
		assert_string_equal(r.passwd, c->passwd);
		assert_int_equal(r.passwd_len, strlen(c->passwd));
		assert_ptr_equal(r.passwd, x.passwd);
	}
	sasl_clear(&x);
}

static void test_case(void **state)
{
	run_case(*state);
}

/* base64 of raw bytes, malloc'ed */
static char *b64(const uint8_t *p, size_t n)
{
	char *o = malloc(BASE64_ENCODED_SIZE(n));
	assert_non_null(o);
	base64_encode(p, n, o);
	return o;
}

/* authzid, authcid, passwd of the given lengths ('a' and 'p' bytes) */
static enum sasl_status plain_sized(size_t zlen, size_t clen, size_t plen,
	struct sasl *x, struct sasl_result *r)
{
	uint8_t m[1200];
	size_t n = 0;
	assert_true(zlen + clen + plen + 2 <= sizeof m);
	memset(m + n, 'a', zlen);
	n += zlen;
	m[n++] = 0;
	memset(m + n, 'a', clen);
	n += clen;
	m[n++] = 0;
	memset(m + n, 'p', plen);
	n += plen;
	char *e = b64(m, n);
	enum sasl_status st = sasl_start(x, "PLAIN", 5, e, strlen(e), r);
	free(e);
	return st;
}

/* RFC 4616 2: every field "MUST accept up to 255 octets"; one more is
 * refused as too long, and so is a response too long to be PLAIN. */
static void test_plain_field_limits(void **state)
{
	(void)state;
	struct sasl x;
	struct sasl_result r;
	sasl_init(&x);
	assert_int_equal(plain_sized(255, 255, 255, &x, &r), SASL_DONE);
	assert_int_equal(strlen(r.authcid), 255);
	assert_int_equal(r.passwd_len, 255);
	assert_int_equal(plain_sized(0, 256, 10, &x, &r), SASL_FAIL);
	assert_int_equal(r.error, SASL_ERR_TOO_LONG);
	assert_int_equal(plain_sized(0, 10, 256, &x, &r), SASL_FAIL);
	assert_int_equal(r.error, SASL_ERR_TOO_LONG);
	assert_int_equal(plain_sized(256, 10, 10, &x, &r), SASL_FAIL);
	assert_int_equal(r.error, SASL_ERR_TOO_LONG);
	/* a response of SASL_RESPONSE_MAX + 4 base64 characters is refused
	 * before decoding */
	char big[SASL_RESPONSE_MAX + 5];
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(sasl_start(&x, "PLAIN", 5, big, strlen(big), &r),
		SASL_FAIL);
	assert_int_equal(r.error, SASL_ERR_TOO_LONG);
	sasl_clear(&x);
}

static void test_login_field_limits(void **state)
{
	(void)state;
	struct sasl x;
	struct sasl_result r;
	uint8_t f[256];
	memset(f, 'u', sizeof f);
	sasl_init(&x);
	char *e = b64(f, 255);
	assert_int_equal(sasl_start(&x, "LOGIN", 5, e, strlen(e), &r),
		SASL_CHALLENGE);
	assert_int_equal(sasl_step(&x, e, strlen(e), &r), SASL_DONE);
	assert_int_equal(r.passwd_len, 255);
	free(e);
	e = b64(f, 256);
	assert_int_equal(sasl_start(&x, "LOGIN", 5, NULL, 0, &r),
		SASL_CHALLENGE);
	assert_int_equal(sasl_step(&x, e, strlen(e), &r), SASL_FAIL);
	assert_int_equal(r.error, SASL_ERR_TOO_LONG);
	assert_int_equal(sasl_start(&x, "LOGIN", 5, "YWxpY2U=", 8, &r),
		SASL_CHALLENGE);
	assert_int_equal(sasl_step(&x, e, strlen(e), &r), SASL_FAIL);
	assert_int_equal(r.error, SASL_ERR_TOO_LONG);
	free(e);
	sasl_clear(&x);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The password is held until sasl_clear(), which wipes it; starting a new
 * exchange wipes the old one too. */
static void test_clear_wipes_credentials(void **state)
{
	(void)state;
	struct sasl x;
	struct sasl_result r;
	sasl_init(&x);
	assert_int_equal(sasl_start(&x, "PLAIN", 5, PLAIN_ALICE,
		strlen(PLAIN_ALICE), &r), SASL_DONE);
	assert_string_equal(x.passwd, "secret");
	sasl_clear(&x);
	assert_true(all_zero(x.passwd, sizeof x.passwd));
	assert_true(all_zero(x.authcid, sizeof x.authcid));
	assert_int_equal(x.phase, SASL_PHASE_IDLE);
	assert_int_equal(sasl_start(&x, "PLAIN", 5, PLAIN_ALICE,
		strlen(PLAIN_ALICE), &r), SASL_DONE);
	assert_int_equal(sasl_start(&x, "LOGIN", 5, NULL, 0, &r),
		SASL_CHALLENGE);
	assert_true(all_zero(x.passwd, sizeof x.passwd));
	sasl_clear(&x);
}

static void test_mechanism_names(void **state)
{
	(void)state;
	enum sasl_mech m;
	assert_true(sasl_mech_lookup("login", 5, &m));
	assert_int_equal(m, SASL_MECH_LOGIN);
	assert_true(sasl_mech_lookup("PLAIN trailing", 5, &m));
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_false(sasl_mech_lookup("PLAI", 4, &m));
	assert_false(sasl_mech_lookup("SCRAM-SHA-256", 13, &m));
	assert_string_equal(sasl_mech_name(SASL_MECH_PLAIN), "PLAIN");
	assert_string_equal(sasl_mech_name(SASL_MECH_LOGIN), "LOGIN");
	assert_string_equal(SASL_MECH_LIST, "PLAIN LOGIN");
}

/* Random responses, fixed seed: no crash, no read past the input (ASan),
 * and every outcome is one of the documented ones. */
static void test_random_responses(void **state)
{
	(void)state;
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=*";
	unsigned rng = 99;
	struct sasl x;
	sasl_init(&x);
	for (int round = 0; round < 3000; round++) {
		char line[1100];
		rng = rng * 1103515245u + 12345u;
		size_t n = (rng >> 16) % sizeof line;
		if (round % 3)
			n &= ~(size_t)3; /* mostly whole base64 quanta */
		for (size_t i = 0; i < n; i++) {
			rng = rng * 1103515245u + 12345u;
			line[i] = alphabet[(rng >> 16) % (sizeof alphabet - 1)];
		}
		struct sasl_result r;
		enum sasl_status st = sasl_start(&x, round % 2 ? "LOGIN" : "PLAIN",
			5, NULL, 0, &r);
		while (st == SASL_CHALLENGE)
			st = sasl_step(&x, line, n, &r);
		if (st == SASL_DONE) {
			assert_true(strlen(r.authcid) > 0 && strlen(r.authcid) <= 255);
			assert_true(r.passwd_len > 0 && r.passwd_len <= 255);
		} else {
			assert_int_equal(st, SASL_FAIL);
			assert_true(r.error != SASL_ERR_NONE);
		}
		sasl_clear(&x);
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
	int failed = _cmocka_run_group_tests("sasl_table", table, NCASES,
		NULL, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_field_limits),
		cmocka_unit_test(test_login_field_limits),
		cmocka_unit_test(test_clear_wipes_credentials),
		cmocka_unit_test(test_mechanism_names),
		cmocka_unit_test(test_random_responses),
	};
	return failed + cmocka_run_group_tests(tests, NULL, NULL);
}
