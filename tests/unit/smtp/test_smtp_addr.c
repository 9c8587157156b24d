/* Unit tests for RFC 5321 paths and MAIL/RCPT arguments
 * (src/proto/smtp_addr.c), hostile cases next to the happy ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_addr.h"

struct pcase {
	const char *in;
	size_t len;
	unsigned flags;
	enum smtp_addr_result res;
	const char *canon; /* expected address when OK */
	size_t used;       /* 0: the whole input */
};

#define M SMTP_PATH_ALLOW_NULL
#define R SMTP_PATH_ALLOW_POSTMASTER
#define OKP(s, f, c) {s, sizeof(s) - 1, f, SMTP_ADDR_OK, c, 0}
#define BADP(s, f) {s, sizeof(s) - 1, f, SMTP_ADDR_BAD_PATH, NULL, 0}
#define LONGP(s, f) {s, sizeof(s) - 1, f, SMTP_ADDR_PATH_TOO_LONG, NULL, 0}

static const struct pcase paths[] = {
	OKP("<bob@localhost>", R, "bob@localhost"),
	OKP("<Bob.Smith+tag@Example.ORG>", R, "Bob.Smith+tag@Example.ORG"),
	OKP("<>", M, ""),
	OKP("<postmaster>", R, "postmaster"),
	OKP("<PostMaster>", R, "PostMaster"),
	OKP("<postmaster@localhost>", R, "postmaster@localhost"),
	/* source routes: accepted and dropped (RFC 5321 4.1.2, App. C) */
	OKP("<@a:b@c>", R, "b@c"),
	OKP("<@a.example,@b.example:user@dom.example>", M, "user@dom.example"),
	/* atext includes % ! ' = ? etc.: legal, and the store's business */
	OKP("<v%r@local>", R, "v%r@local"),
	OKP("<r!v@local>", R, "r!v@local"),
	OKP("<a'b=c?d^e`f{g|h}i~j#k$l&m*n/o@x>", R,
		"a'b=c?d^e`f{g|h}i~j#k$l&m*n/o@x"),
	OKP("<%s%n%x@fmt.example>", R, "%s%n%x@fmt.example"),
	/* quoted local parts, written back with the least quoting */
	OKP("<\"bob\"@localhost>", R, "bob@localhost"),
	OKP("<\"b\\ob\"@localhost>", R, "bob@localhost"),
	OKP("<\"john doe\"@x>", R, "\"john doe\"@x"),
	OKP("<\"a\\\"b\"@x>", R, "\"a\\\"b\"@x"),
	OKP("<\"a\\\\b\"@x>", R, "\"a\\\\b\"@x"),
	OKP("<\"a..b\"@x>", R, "\"a..b\"@x"),
	OKP("<\"../../etc/passwd\"@local>", R, "\"../../etc/passwd\"@local"),
	OKP("<\"\"@x>", R, "\"\"@x"),
	OKP("<\"postmaster\">", R, "postmaster"),
	/* address literals (RFC 5321 4.1.3) */
	OKP("<a@[192.0.2.1]>", M, "a@[192.0.2.1]"),
	OKP("<a@[IPv6:2001:db8::1]>", M, "a@[IPv6:2001:db8::1]"),
	OKP("<a@[ipv6:::ffff:192.0.2.1]>", M, "a@[ipv6:::ffff:192.0.2.1]"),
	OKP("<a@1.2.3.4>", M, "a@1.2.3.4"),
	OKP("<a@x-y.example>", M, "a@x-y.example"),
	OKP("<a@x--y.example>", M, "a@x--y.example"),
	{"<a@b> SIZE=1", 12, M, SMTP_ADDR_OK, "a@b", 5},
	/* hostile and malformed */
	BADP("<;sleep 5;>", R),
	BADP("<;sleep 5;@x>", R),
	BADP("<../../etc/passwd@local>", R),
	BADP("<.a@x>", R),
	BADP("<a.@x>", R),
	BADP("<a..b@x>", R),
	BADP("<>", R),
	BADP("<postmaster>", M),
	BADP("<@a:postmaster>", R),
	BADP("<bob>", R),
	BADP("<bob@>", R),
	BADP("<@bob>", R),
	BADP("<@a,b@c>", R),
	BADP("<@a:>", R),
	BADP("<@:b@c>", R),
	BADP("<a@b", R),
	BADP("a@b>", R),
	BADP("<<a@b>>", R),
	BADP("<a@<b>", R),
	BADP("<a@b@c>", R),
	BADP("<a b@c>", R),
	BADP("<a@b c>", R),
	BADP("<a@-b.example>", R),
	BADP("<a@b-.example>", R),
	BADP("<a@b..example>", R),
	BADP("<a@b.example.>", R),
	BADP("<a@.b.example>", R),
	BADP("<a@b_c.example>", R),
	BADP("<a\0b@c>", R),
	BADP("<a@b\0c>", R),
	BADP("<a\x01@c>", R),
	BADP("<a@c\x7f>", R),
	BADP("<a\r\n@c>", R),
	BADP("<\"a\x01\"@c>", R),
	BADP("<\"a\\\x01\"@c>", R),
	BADP("<\"abc@c>", R),
	BADP("<\"abc\\\">", R),
	BADP("<caf\xc3\xa9@x>", R),
	BADP("<a@caf\xc3\xa9.example>", R),
	BADP("<a@[1.2.3]>", R),
	BADP("<a@[1.2.3.256]>", R),
	BADP("<a@[1.2.3.4.5]>", R),
	BADP("<a@[1234.1.1.1]>", R),
	BADP("<a@[IPv6:1::2::3]>", R),
	BADP("<a@[IPv6:fe80::1%eth0]>", R),
	BADP("<a@[tag:content]>", R),
	BADP("<a@[]>", R),
	BADP("<a@[1.2.3.4>", R),
	BADP("<a@[[1.2.3.4]]>", R),
	BADP("", R),
	BADP("<", R),
	BADP("<a", R),
	/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets */
	LONGP("<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x>", R),
};

static char *big_path(size_t local, size_t label, size_t labels)
{
	char *p = malloc(local + labels * (label + 1) + 4);
	size_t k = 0;
	p[k++] = '<';
	memset(p + k, 'l', local);
	k += local;
	p[k++] = '@';
	for (size_t i = 0; i < labels; i++) {
		memset(p + k, 'd', label);
		k += label;
		p[k++] = '.';
	}
	p[k - 1] = '>';
	p[k] = '\0';
	return p;
}

static void test_paths(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		const struct pcase *c = &paths[i];
		struct smtp_path p;
		size_t used = 99;
		enum smtp_addr_result r = smtp_path_parse(c->in, c->len, c->flags,
			&p, &used);
		if (r != c->res)
			fail_msg("path %zu \"%s\": result %d, want %d", i, c->in,
				(int)r, (int)c->res);
		if (r != SMTP_ADDR_OK) {
			assert_int_equal(p.len, 0);
			continue;
		}
		assert_string_equal(p.addr, c->canon);
		assert_int_equal(p.len, strlen(c->canon));
		assert_int_equal(used, c->used ? c->used : c->len);
	}
}

static void test_path_lengths(void **state)
{
	(void)state;
	struct smtp_path p;
	size_t used;
	/* 64-octet local part: fine; 65: too long */
	char *s = big_path(64, 10, 1);
	assert_int_equal(smtp_path_parse(s, strlen(s), 0, &p, &used), SMTP_ADDR_OK);
	free(s);
	/* a 63-octet label is fine, 64 is not (RFC 1035) */
	s = big_path(1, 63, 1);
	assert_int_equal(smtp_path_parse(s, strlen(s), 0, &p, &used), SMTP_ADDR_OK);
	free(s);
	s = big_path(1, 64, 1);
	assert_int_equal(smtp_path_parse(s, strlen(s), 0, &p, &used),
		SMTP_ADDR_BAD_PATH);
	free(s);
	/* path of exactly 256 octets incl. <>: 1 + 64 + 1 + 189 + 1 */
	s = big_path(64, 62, 3); /* domain 3*63-1 = 188 */
	size_t n = strlen(s);
	assert_int_equal(n, 1 + 64 + 1 + 188 + 1);
	assert_int_equal(smtp_path_parse(s, n, 0, &p, &used), SMTP_ADDR_OK);
	assert_int_equal(p.len, 64 + 1 + 188);
	free(s);
	/* a 300-octet path: too long, however it is built */
	s = big_path(43, 50, 5);
	n = strlen(s);
	assert_int_equal(n, 300);
	assert_int_equal(smtp_path_parse(s, n, 0, &p, &used),
		SMTP_ADDR_PATH_TOO_LONG);
	free(s);
	s = big_path(20, 60, 5); /* domain 304 > 255 */
	assert_int_equal(smtp_path_parse(s, strlen(s), 0, &p, &used),
		SMTP_ADDR_PATH_TOO_LONG);
	free(s);
	/* 300 octets of quoted local part */
	char q[320];
	q[0] = '<';
	q[1] = '"';
	memset(q + 2, 'q', 300);
	memcpy(q + 302, "\"@x>", 5);
	assert_int_not_equal(smtp_path_parse(q, strlen(q), 0, &p, &used),
		SMTP_ADDR_OK);
	/* long source route */
	char r[512];
	size_t k = 0;
	r[k++] = '<';
	for (int i = 0; i < 40; i++) {
		memcpy(r + k, "@abcdef.ex,", 11);
		k += 11;
	}
	r[k - 1] = ':';
	memcpy(r + k, "a@b>", 5);
	assert_int_equal(smtp_path_parse(r, strlen(r), 0, &p, &used),
		SMTP_ADDR_PATH_TOO_LONG);
}

static void test_domain_valid(void **state)
{
	(void)state;
	assert_true(smtp_addr_domain_valid("example.org", 11, false));
	assert_true(smtp_addr_domain_valid("[127.0.0.1]", 11, true));
	assert_false(smtp_addr_domain_valid("[127.0.0.1]", 11, false));
	assert_false(smtp_addr_domain_valid("", 0, true));
	assert_false(smtp_addr_domain_valid("a_b", 3, true));
	assert_false(smtp_addr_domain_valid("[", 1, true));
}

struct mcase {
	const char *in;
	enum smtp_addr_result res;
	const char *from;
	bool has_size;
	uint64_t size;
	enum smtp_body_type body;
};

static const struct mcase mails[] = {
	{"FROM:<a@b>", SMTP_ADDR_OK, "a@b", false, 0, SMTP_BODY_NONE},
	{"from:<a@b>", SMTP_ADDR_OK, "a@b", false, 0, SMTP_BODY_NONE},
	{"FROM: <a@b>", SMTP_ADDR_OK, "a@b", false, 0, SMTP_BODY_NONE},
	{"FROM:   <>", SMTP_ADDR_OK, "", false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> SIZE=0", SMTP_ADDR_OK, "a@b", true, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> size=1000 body=8BITMIME", SMTP_ADDR_OK, "a@b", true, 1000,
		SMTP_BODY_8BITMIME},
	{"FROM:<a@b>  BODY=7bit   SIZE=5", SMTP_ADDR_OK, "a@b", true, 5,
		SMTP_BODY_7BIT},
	{"FROM:<a@b> SIZE=18446744073709551615", SMTP_ADDR_OK, "a@b", true,
		UINT64_MAX, SMTP_BODY_NONE},
	{"FROM:<a@b> SIZE=99999999999999999999", SMTP_ADDR_OK, "a@b", true,
		UINT64_MAX, SMTP_BODY_NONE},
	{"FROM:<a@b> SIZE=999999999999999999999", SMTP_ADDR_BAD_VALUE, NULL,
		false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> SIZE=", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> SIZE", SMTP_ADDR_BAD_VALUE, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> SIZE=1x", SMTP_ADDR_BAD_VALUE, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> SIZE=+1", SMTP_ADDR_BAD_VALUE, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> SIZE=1 SIZE=1", SMTP_ADDR_SYNTAX, NULL, false, 0,
		SMTP_BODY_NONE},
	{"FROM:<a@b> BODY=BINARYMIME", SMTP_ADDR_BAD_VALUE, NULL, false, 0,
		SMTP_BODY_NONE},
	{"FROM:<a@b> BODY", SMTP_ADDR_BAD_VALUE, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> BODY=7BIT BODY=7BIT", SMTP_ADDR_SYNTAX, NULL, false, 0,
		SMTP_BODY_NONE},
	{"FROM:<a@b> RET=FULL", SMTP_ADDR_UNKNOWN_PARAM, NULL, false, 0,
		SMTP_BODY_NONE},
	{"FROM:<a@b> SMTPUTF8", SMTP_ADDR_UNKNOWN_PARAM, NULL, false, 0,
		SMTP_BODY_NONE},
	{"FROM:<a@b> -X=1", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> X==1", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b> X=\x01", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b>SIZE=1", SMTP_ADDR_BAD_PATH, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:<a@b>>", SMTP_ADDR_BAD_PATH, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:a@b", SMTP_ADDR_BAD_PATH, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM:", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
	{"FROM <a@b>", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
	{"TO:<a@b>", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
	{"", SMTP_ADDR_SYNTAX, NULL, false, 0, SMTP_BODY_NONE},
};

static void test_mail_args(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof mails / sizeof mails[0]; i++) {
		const struct mcase *c = &mails[i];
		struct smtp_mail_args m;
		enum smtp_addr_result r = smtp_addr_parse_mail(c->in, strlen(c->in),
			&m);
		if (r != c->res)
			fail_msg("mail %zu \"%s\": result %d, want %d", i, c->in,
				(int)r, (int)c->res);
		if (r != SMTP_ADDR_OK)
			continue;
		assert_string_equal(m.from.addr, c->from);
		assert_int_equal(m.has_size, c->has_size);
		assert_true(m.size == c->size);
		assert_int_equal(m.body, c->body);
	}
}

static void test_rcpt_args(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum smtp_addr_result res;
		const char *to;
	} rc[] = {
		{"TO:<bob@localhost>", SMTP_ADDR_OK, "bob@localhost"},
		{"to: <Postmaster>", SMTP_ADDR_OK, "Postmaster"},
		{"TO:<@x:bob@localhost>", SMTP_ADDR_OK, "bob@localhost"},
		{"TO:<>", SMTP_ADDR_BAD_PATH, NULL},
		{"TO:<bob@localhost> NOTIFY=NEVER", SMTP_ADDR_UNKNOWN_PARAM, NULL},
		{"TO:<bob@localhost> ORCPT=rfc822;bob@x", SMTP_ADDR_UNKNOWN_PARAM,
			NULL},
		{"TO:<bob@localhost> =x", SMTP_ADDR_SYNTAX, NULL},
		{"TO:<bob@localhost>x", SMTP_ADDR_BAD_PATH, NULL},
		{"TO:bob@localhost", SMTP_ADDR_BAD_PATH, NULL},
		{"FROM:<bob@localhost>", SMTP_ADDR_SYNTAX, NULL},
		{"TO:", SMTP_ADDR_SYNTAX, NULL},
		{"T", SMTP_ADDR_SYNTAX, NULL},
	};
	for (size_t i = 0; i < sizeof rc / sizeof rc[0]; i++) {
		struct smtp_path p;
		enum smtp_addr_result r = smtp_addr_parse_rcpt(rc[i].in,
			strlen(rc[i].in), &p);
		if (r != rc[i].res)
			fail_msg("rcpt %zu \"%s\": result %d, want %d", i, rc[i].in,
				(int)r, (int)rc[i].res);
		if (r == SMTP_ADDR_OK)
			assert_string_equal(p.addr, rc[i].to);
	}
}

/* Every prefix of every valid case must be rejected or parse to less:
 * the parser never reads past len (checked under ASan, as the copies are
 * exact-size heap blocks). */
static void test_prefixes_stay_in_bounds(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		for (size_t n = 0; n <= paths[i].len; n++) {
			char *cp = malloc(n ? n : 1);
			memcpy(cp, paths[i].in, n);
			struct smtp_path p;
			size_t used;
			enum smtp_addr_result r = smtp_path_parse(cp, n,
				paths[i].flags, &p, &used);
			if (r == SMTP_ADDR_OK)
				assert_true(used <= n);
			free(cp);
		}
	}
	for (size_t i = 0; i < sizeof mails / sizeof mails[0]; i++) {
		size_t len = strlen(mails[i].in);
		for (size_t n = 0; n <= len; n++) {
			char *cp = malloc(n ? n : 1);
			memcpy(cp, mails[i].in, n);
			struct smtp_mail_args m;
			(void)smtp_addr_parse_mail(cp, n, &m);
			struct smtp_path p;
			(void)smtp_addr_parse_rcpt(cp, n, &p);
			free(cp);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_path_lengths),
		cmocka_unit_test(test_domain_valid),
		cmocka_unit_test(test_mail_args),
		cmocka_unit_test(test_rcpt_args),
		cmocka_unit_test(test_prefixes_stay_in_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
