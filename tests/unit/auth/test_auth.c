/* Unit tests for src/auth: account names, the passwd file, password and
 * APOP verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/account.h"
#include "auth/passwd.h"
#include "auth/verify.h"

/* ---- account ---- */

static void test_account_valid_names_are_lower_cased(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "alice@localhost", "alice@localhost" },
		{ "Alice@LocalHost", "alice@localhost" },
		{ "a.b+tag@mail.example-1.org", "a.b+tag@mail.example-1.org" },
		{ "!#$%&'*+=?^_`{|}~-@x", "!#$%&'*+=?^_`{|}~-@x" },
		{ "x@127.0.0.1", "x@127.0.0.1" },
	};
	char out[ACCOUNT_NAME_MAX];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_true(account_normalise(cases[i].in, out, sizeof out));
		assert_string_equal(out, cases[i].out);
	}
	/* The longest legal name fits ACCOUNT_NAME_MAX. */
	char longest[400];
	memset(longest, 'a', 64);
	longest[64] = '@';
	size_t o = 65;
	for (int label = 0; label < 4; label++) {
		size_t len = 63;
		memset(longest + o, 'b', len);
		o += len;
		if (label < 3)
			longest[o++] = '.';
	}
	longest[o] = '\0';
	assert_int_equal(strlen(longest), 64 + 1 + 255);
	assert_true(account_normalise(longest, out, sizeof out));
	assert_string_equal(out, longest);
}

static void test_account_hostile_names_rejected(void **state)
{
	(void)state;
	char local65[80], local64[80], label64[80], dom256[300];
	memset(local65, 'a', 65);
	memcpy(local65 + 65, "@x", 3);
	memset(local64, 'a', 64);
	memcpy(local64 + 64, "@x", 3);
	label64[0] = 'a';
	label64[1] = '@';
	memset(label64 + 2, 'b', 64);
	label64[66] = '\0';
	dom256[0] = 'a';
	dom256[1] = '@';
	for (size_t i = 0; i < 256; i++)
		dom256[2 + i] = (i % 50 == 49) ? '.' : 'c';
	dom256[258] = '\0';
	static const char *const bad[] = {
		"", "@", "@x", "a@", "a", "../x@y", "a/b@c", "a@b..c", "a@.b", "a@b.",
		".a@b", "a.@b", "a..b@c", "a\x01@b", "a@b\x7f", "a b@c", "a@b c", " a@b",
		"a@b ", "a@b@c", "a@b/c", "a@b\n", "a\n@b", "\"a\"@b", "a@[1.2.3.4]",
		"a@b_c", "a(b)@c", "a@b:25", "a\\b@c", "caf\xc3\xa9@x", "a@\xc3\xa9",
		"a@..", "..@b",
	};
	char out[ACCOUNT_NAME_MAX];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (account_normalise(bad[i], out, sizeof out))
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_false(account_normalise(local65, out, sizeof out));
	assert_true(account_normalise(local64, out, sizeof out));
	assert_false(account_normalise(label64, out, sizeof out));
	assert_false(account_normalise(dom256, out, sizeof out));
	assert_false(account_normalise(NULL, out, sizeof out));
	/* Output too small. */
	assert_false(account_normalise("alice@x", out, 7));
	assert_true(account_normalise("alice@x", out, 8));
}

static void test_account_local_and_domain(void **state)
{
	(void)state;
	assert_true(account_local_valid("alice"));
	assert_true(account_local_valid("a.b"));
	assert_false(account_local_valid(""));
	assert_false(account_local_valid("a@b"));
	assert_false(account_local_valid(".."));
	assert_false(account_local_valid("a/b"));
	assert_false(account_local_valid(NULL));
	assert_true(account_domain_valid("example.org"));
	assert_false(account_domain_valid("example..org"));
	assert_false(account_domain_valid("exa/mple"));
	assert_false(account_domain_valid(""));
}

/* ---- passwd ---- */

static void test_passwd_parse_happy(void **state)
{
	(void)state;
	static const char text[] =
		"# accounts\n"
		"\n"
		"Bob@Example.org:$y$j9T$abc$def\r\n"
		"   # indented comment\n"
		"alice@localhost:$6$salt$hash:with:colons\n"
		"carol@localhost:secret with spaces"; /* no final newline */
	struct passwd_db db;
	char err[128];
	assert_int_equal(passwd_parse(text, strlen(text), &db, err, sizeof err), 0);
	assert_int_equal(db.n, 3);
	/* Sorted by name. */
	assert_string_equal(db.entries[0].name, "alice@localhost");
	assert_string_equal(db.entries[0].value, "$6$salt$hash:with:colons");
	assert_string_equal(db.entries[1].name, "bob@example.org");
	assert_string_equal(db.entries[1].value, "$y$j9T$abc$def");
	assert_string_equal(db.entries[2].name, "carol@localhost");
	assert_string_equal(db.entries[2].value, "secret with spaces");
	passwd_free(&db);
	assert_int_equal(db.n, 0);
	assert_null(db.entries);

	assert_int_equal(passwd_parse("", 0, &db, err, sizeof err), 0);
	assert_int_equal(db.n, 0);
	passwd_free(&db);
}

static void test_passwd_parse_errors_name_the_line(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		const char *err;
	} cases[] = {
		{ "a@b:x\n\nnocolon\n", 0, "line 3: missing ':'" },
		{ "a@b:x\n../x@y:z\n", 0, "line 2: invalid account name" },
		{ ":x\n", 0, "line 1: invalid account name" },
		{ "a b@c:x\n", 0, "line 1: invalid account name" },
		{ "# c\na@b:\n", 0, "line 2: empty value for a@b" },
		{ "a@b:x\ty\n", 0, "line 1: control character or over-long value for a@b" },
		{ "a@b:x\x7f\n", 0, "line 1: control character or over-long value for a@b" },
		{ "a@b:x\nc@d:y\nA@B:z\n", 0, "line 3: duplicate account a@b" },
		{ "a@b:x\nA@b:y\nc@d:z\nc@d:w\n", 0, "line 2: duplicate account a@b" },
		{ "a@b:x\nc@d:y\0z\n", 14, "line 2: NUL byte" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct passwd_db db = { (void *)1, 99 };
		char err[128] = "";
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		assert_int_equal(passwd_parse(cases[i].text, len, &db, err, sizeof err), -1);
		assert_string_equal(err, cases[i].err);
		assert_int_equal(db.n, 0);
		assert_null(db.entries);
	}
	/* Over-long value. */
	char big[1200];
	memcpy(big, "a@b:", 4);
	memset(big + 4, 'v', 1100);
	big[1104] = '\0';
	struct passwd_db db;
	char err[128];
	assert_int_equal(passwd_parse(big, strlen(big), &db, err, sizeof err), -1);
}

static void test_passwd_find_and_resolve(void **state)
{
	(void)state;
	static const char text[] =
		"alice@localhost:1\n"
		"bob@example.org:2\n"
		"bob@localhost:3\n"
		"bobby@localhost:4\n"
		"bo@localhost:5\n";
	struct passwd_db db;
	char err[128];
	assert_int_equal(passwd_parse(text, strlen(text), &db, err, sizeof err), 0);
	const struct passwd_entry *e;
	assert_non_null(e = passwd_find(&db, "ALICE@LocalHost"));
	assert_string_equal(e->value, "1");
	assert_null(passwd_find(&db, "alice"));
	assert_null(passwd_find(&db, "carol@localhost"));
	assert_null(passwd_find(&db, "../alice@localhost"));
	assert_null(passwd_find(&db, NULL));

	assert_non_null(e = passwd_resolve_login(&db, "alice"));
	assert_string_equal(e->name, "alice@localhost");
	assert_non_null(e = passwd_resolve_login(&db, "Alice"));
	assert_string_equal(e->name, "alice@localhost");
	assert_null(passwd_resolve_login(&db, "bob")); /* two domains: ambiguous */
	assert_non_null(e = passwd_resolve_login(&db, "bob@localhost"));
	assert_string_equal(e->value, "3");
	assert_non_null(e = passwd_resolve_login(&db, "bobby"));
	assert_string_equal(e->value, "4");
	assert_non_null(e = passwd_resolve_login(&db, "bo"));
	assert_string_equal(e->value, "5");
	assert_null(passwd_resolve_login(&db, "b"));
	assert_null(passwd_resolve_login(&db, "carol"));
	assert_null(passwd_resolve_login(&db, ""));
	assert_null(passwd_resolve_login(&db, "a/b"));
	assert_null(passwd_resolve_login(&db, NULL));

	assert_true(passwd_has_domain(&db, "example.org"));
	assert_true(passwd_has_domain(&db, "LOCALHOST"));
	assert_false(passwd_has_domain(&db, "example.com"));
	assert_false(passwd_has_domain(&db, "org"));
	assert_false(passwd_has_domain(&db, ""));
	passwd_free(&db);
}

static void test_passwd_set_and_remove(void **state)
{
	(void)state;
	struct passwd_db db = { 0 };
	assert_int_equal(passwd_set(&db, "Zed@x", "1"), 0);
	assert_int_equal(passwd_set(&db, "amy@x", "2"), 0);
	assert_int_equal(passwd_set(&db, "mia@x", "3"), 0);
	assert_int_equal(passwd_set(&db, "AMY@X", "4"), 0); /* replaces */
	assert_int_equal(db.n, 3);
	assert_string_equal(db.entries[0].name, "amy@x");
	assert_string_equal(db.entries[0].value, "4");
	assert_string_equal(db.entries[1].name, "mia@x");
	assert_string_equal(db.entries[2].name, "zed@x");
	assert_int_equal(passwd_set(&db, "bad name@x", "1"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(passwd_set(&db, "ok@x", ""), -1);
	assert_int_equal(passwd_set(&db, "ok@x", "a\nb"), -1);
	assert_int_equal(db.n, 3);
	assert_int_equal(passwd_remove(&db, "MIA@x"), 0);
	assert_int_equal(passwd_remove(&db, "mia@x"), -1);
	assert_int_equal(db.n, 2);
	assert_string_equal(db.entries[1].name, "zed@x");
	assert_int_equal(passwd_remove(&db, "amy@x"), 0);
	assert_int_equal(passwd_remove(&db, "zed@x"), 0);
	assert_int_equal(db.n, 0);
	passwd_free(&db);
}

static void test_passwd_save_load_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/facteur-auth-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], err[256];
	snprintf(path, sizeof path, "%s/passwd", dir);

	struct passwd_db db = { 0 };
	assert_int_equal(passwd_load(path, &db, err, sizeof err), 0); /* missing = empty */
	assert_int_equal(db.n, 0);
	assert_int_equal(passwd_set(&db, "alice@localhost", "$y$j9T$a$b"), 0);
	assert_int_equal(passwd_set(&db, "bob@localhost", "s3cret: with colon"), 0);
	assert_int_equal(passwd_save(path, &db, err, sizeof err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	struct passwd_db back;
	assert_int_equal(passwd_load(path, &back, err, sizeof err), 0);
	assert_int_equal(back.n, db.n);
	for (size_t i = 0; i < db.n; i++) {
		assert_string_equal(back.entries[i].name, db.entries[i].name);
		assert_string_equal(back.entries[i].value, db.entries[i].value);
	}
	passwd_free(&back);

	/* Saving again replaces the file; no temporary file is left. */
	assert_int_equal(passwd_remove(&db, "bob@localhost"), 0);
	assert_int_equal(passwd_save(path, &db, err, sizeof err), 0);
	assert_int_equal(passwd_load(path, &back, err, sizeof err), 0);
	assert_int_equal(back.n, 1);
	passwd_free(&back);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);

	/* A bad line is reported as path:N. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("a@b:x\nbroken\n", f);
	fclose(f);
	assert_int_equal(passwd_load(path, &back, err, sizeof err), -1);
	char want[256];
	snprintf(want, sizeof want, "%s:2: missing ':'", path);
	assert_string_equal(err, want);

	/* A directory is not a passwd file. */
	assert_int_equal(passwd_load(dir, &back, err, sizeof err), -1);
	/* Saving into a missing directory fails cleanly. */
	char missing[160];
	snprintf(missing, sizeof missing, "%s/nope/passwd", dir);
	assert_int_equal(passwd_save(missing, &db, err, sizeof err), -1);

	passwd_free(&db);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- verify ---- */

static void test_verify_password_yescrypt(void **state)
{
	(void)state;
	char *h = verify_hash_password("correct horse", false);
	assert_non_null(h);
	assert_int_equal(strncmp(h, "$y$", 3), 0);
	assert_true(verify_password(h, "correct horse"));
	assert_false(verify_password(h, "correct horsf"));
	assert_false(verify_password(h, ""));
	assert_false(verify_password(h, NULL));
	/* A second hash of the same password has another salt. */
	char *h2 = verify_hash_password("correct horse", false);
	assert_non_null(h2);
	assert_string_not_equal(h, h2);
	assert_true(verify_password(h2, "correct horse"));
	free(h);
	free(h2);
}

static void test_verify_password_sha512_and_bad_hashes(void **state)
{
	(void)state;
	char *h = verify_hash_password("pw", true);
	assert_non_null(h);
	assert_int_equal(strncmp(h, "$6$", 3), 0);
	assert_true(verify_password(h, "pw"));
	assert_false(verify_password(h, "PW"));
	free(h);
	/* Unknown user: the same work, always false. */
	assert_false(verify_password(NULL, "pw"));
	assert_false(verify_password(NULL, ""));
	assert_false(verify_password(NULL, NULL));
	/* Locked or malformed hashes never match. */
	assert_false(verify_password("*", "pw"));
	assert_false(verify_password("!", "pw"));
	assert_false(verify_password("", ""));
	assert_false(verify_password("$y$", "pw"));
	assert_null(verify_hash_password(NULL, false));
}

static void test_verify_apop_rfc1939_example(void **state)
{
	(void)state;
	/* RFC 1939 7. */
	const char *ts = "<1896.697170952@dbc.mtview.ca.us>";
	assert_true(verify_apop(ts, "tanstaaf", "c4c9334bac560ecc979e58001b3e22fb"));
	assert_true(verify_apop(ts, "tanstaaf", "C4C9334BAC560ECC979E58001B3E22FB"));
	assert_false(verify_apop(ts, "tanstaaF", "c4c9334bac560ecc979e58001b3e22fb"));
	assert_false(verify_apop(ts, "tanstaaf", "c4c9334bac560ecc979e58001b3e22fc"));
	assert_false(verify_apop(ts, "tanstaaf", "c4c9334bac560ecc979e58001b3e22f"));
	assert_false(verify_apop(ts, "tanstaaf", "c4c9334bac560ecc979e58001b3e22fb0"));
	assert_false(verify_apop(ts, "tanstaaf", "g4c9334bac560ecc979e58001b3e22fb"));
	assert_false(verify_apop(ts, "tanstaaf", ""));
	assert_false(verify_apop(ts, "tanstaaf", NULL));
	assert_false(verify_apop(ts, NULL, "c4c9334bac560ecc979e58001b3e22fb"));
	assert_false(verify_apop("<1896.697170953@dbc.mtview.ca.us>", "tanstaaf",
				 "c4c9334bac560ecc979e58001b3e22fb"));
	assert_false(verify_apop(NULL, "tanstaaf", "c4c9334bac560ecc979e58001b3e22fb"));
	/* MD5("" + "") */
	assert_false(verify_apop("", NULL, "d41d8cd98f00b204e9800998ecf8427e"));
	assert_true(verify_apop("", "", "d41d8cd98f00b204e9800998ecf8427e"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_account_valid_names_are_lower_cased),
		cmocka_unit_test(test_account_hostile_names_rejected),
		cmocka_unit_test(test_account_local_and_domain),
		cmocka_unit_test(test_passwd_parse_happy),
		cmocka_unit_test(test_passwd_parse_errors_name_the_line),
		cmocka_unit_test(test_passwd_find_and_resolve),
		cmocka_unit_test(test_passwd_set_and_remove),
		cmocka_unit_test(test_passwd_save_load_round_trip),
		cmocka_unit_test(test_verify_password_yescrypt),
		cmocka_unit_test(test_verify_password_sha512_and_bad_hashes),
		cmocka_unit_test(test_verify_apop_rfc1939_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
