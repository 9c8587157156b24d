/* Unit tests for src/conf/aliases: the file syntax and every error with
 * its line, then each expansion rule of aliases.h against a fake set of
 * domains and accounts: order of the steps, "+tag", catch-all, postmaster
 * and abuse, self-references and cycles, deduplication and the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/aliases.h"
#include "lib/buf.h"

/* ---- a fake rest of facteur ---- */

struct fake {
	const char *const *domains;
	const char *const *accounts;
	const char *postmaster; /* NULL: none */
};

static const char *const domains[] = { "example.org", "example.net", NULL };
static const char *const accounts[] = {
	"alice@example.org", "bob@example.org", "carol@example.org",
	"root@example.org", "eve+list@example.org", "dave@example.net", NULL,
};

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

static bool f_local(void *arg, const char *domain)
{
	const struct fake *f = arg;
	for (const char *s = domain; *s; s++)
		assert_false(*s >= 'A' && *s <= 'Z'); /* the contract: lower-case */
	return in_list(f->domains, domain);
}

static bool f_account(void *arg, const char *addr)
{
	const struct fake *f = arg;
	return in_list(f->accounts, addr);
}

static const char *f_postmaster(void *arg, const char *domain)
{
	const struct fake *f = arg;
	(void)domain;
	return f->postmaster;
}

static struct fake fake = { domains, accounts, "root@example.org" };

static struct alias_env env_with(char delim)
{
	return (struct alias_env){ .arg = &fake, .is_local_domain = f_local,
				   .is_account = f_account, .postmaster = f_postmaster,
				   .delimiter = delim };
}

static struct aliases *parse_ok(const char *text)
{
	struct aliases *a = NULL;
	char err[256] = "";
	if (aliases_parse("t", text, strlen(text), &a, err, sizeof err) != 0)
		fail_msg("unexpected error: %s", err);
	assert_non_null(a);
	return a;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* "OK L:a,b R:c" with each list sorted, so a case states the whole result
 * in one string and the order of traversal does not matter. */
static void render(enum alias_result r, struct alias_targets *t, char *out, size_t outsz)
{
	static const char *const names[] = { "OK", "UNKNOWN", "FOREIGN", "LOOP", "BAD", "NOMEM" };
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, names[r]);
	if (t->nlocal)
		qsort(t->local, t->nlocal, sizeof *t->local, cmp_str);
	if (t->nremote)
		qsort(t->remote, t->nremote, sizeof *t->remote, cmp_str);
	for (size_t i = 0; i < t->nlocal; i++)
		buf_printf(&b, "%s%s", i ? "," : " L:", t->local[i]);
	for (size_t i = 0; i < t->nremote; i++)
		buf_printf(&b, "%s%s", i ? "," : " R:", t->remote[i]);
	snprintf(out, outsz, "%s", buf_cstr(&b));
	buf_release(&b);
}

struct xcase {
	const char *text;
	char delim;
	const char *addr;
	const char *want;
};

static void run_cases(const struct xcase *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct aliases *a = parse_ok(c[i].text);
		struct alias_env env = env_with(c[i].delim);
		struct alias_targets t;
		enum alias_result r = aliases_expand(a, &env, c[i].addr, &t);
		char got[4096];
		render(r, &t, got, sizeof got);
		if (strcmp(got, c[i].want) != 0)
			fail_msg("case %zu: %s with\n%s\ngot  %s\nwant %s", i, c[i].addr,
				 c[i].text, got, c[i].want);
		if (r != ALIAS_OK && r != ALIAS_FOREIGN)
			assert_int_equal(t.nlocal + t.nremote, 0);
		alias_targets_free(&t);
		assert_null(t.local);
		alias_targets_free(&t); /* twice is harmless */
		aliases_free(&a);
		assert_null(a);
	}
}

#define RUN(cases) run_cases((cases), sizeof(cases) / sizeof(cases)[0])

/* ---- parsing ---- */

static void syntax_accepted(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t count;
	} cases[] = {
		{ "", 0 },
		{ "\n\n   \n\t\n", 0 },
		{ "# just a comment\n", 0 },
		{ "team: alice, bob\n", 1 },
		{ "team: alice, bob", 1 },                      /* no final LF */
		{ "team:alice,bob\n", 1 },
		{ "team : alice\n", 1 },
		{ "team: alice,\n  bob,\n\tcarol\n", 1 },        /* continuations */
		{ "team: alice\n  , bob\n", 1 },
		{ "team: alice,\n# a comment\n\n  bob\n", 1 },   /* aliases(5) */
		{ "team: alice\r\nsales: bob\r\n", 2 },          /* CRLF */
		{ "a: x\nb@example.org: x\n@example.org: x\n", 3 },
		{ "b: x\nb@example.org: x\n", 2 },               /* different names */
		{ "Team: Alice@Example.COM\n", 1 },
		{ "o'brien: a\nfirst.last: b\nx+y: c\n", 3 },
		{ "   # indented comment before anything\nteam: a\n", 1 },
		{ "team: alice, alice\n", 1 },                  /* duplicates collapse when expanded */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct aliases *a = parse_ok(cases[i].text);
		assert_int_equal(aliases_count(a), cases[i].count);
		aliases_free(&a);
	}
	assert_int_equal(aliases_count(NULL), 0);
	struct aliases *none = NULL;
	aliases_free(&none);
}

static void syntax_errors_name_their_line(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{ "team alice\n", "t:1: missing ':' (expected \"name: target, ...\")" },
		{ "team:\n", "t:1: no target for \"team\"" },
		{ "team:\n# only a comment\n", "t:1: no target for \"team\"" },
		{ "team: alice,\n", "t:1: empty target after ','" },
		{ "team: alice,\n\nx: y\n", "t:1: empty target after ','" },
		{ "team: alice,,bob\n", "t:1: empty target" },
		{ "team: ,alice\n", "t:1: empty target" },
		{ "ok: a\nteam: alice\n  bob\n", "t:3: missing ',' before \"bob\"" },
		{ "  alice\n", "t:1: continuation line without a name" },
		{ "team: alice\nteam: bob\n", "t:2: duplicate alias \"team\" (first on line 1)" },
		{ "Team: alice\n\nTEAM: bob\n", "t:3: duplicate alias \"TEAM\" (first on line 1)" },
		{ "@Example.org: a\n@example.ORG: b\n",
		  "t:2: duplicate alias \"@example.ORG\" (first on line 1)" },
		{ "team: |/usr/bin/procmail\n",
		  "t:1: \"|/usr/bin/procmail\": files and programs are not supported" },
		{ "team: \"|/usr/bin/procmail\"\n",
		  "t:1: \"\\x22|/usr/bin/procmail\\x22\": files and programs are not supported" },
		{ "team: /var/mail/team\n",
		  "t:1: \"/var/mail/team\": files and programs are not supported" },
		{ "team: alice,\n  :include:/etc/team\n",
		  "t:2: \":include:/etc/team\": files and programs are not supported" },
		{ "team: :INCLUDE:/etc/team\n",
		  "t:1: \":INCLUDE:/etc/team\": files and programs are not supported" },
		{ "team: alice bob\n", "t:1: \"alice bob\": targets are separated by ','" },
		{ "team: alice@\n", "t:1: \"alice@\": bad target (expected local or local@domain)" },
		{ "team: @example.org\n",
		  "t:1: \"@example.org\": bad target (expected local or local@domain)" },
		{ "team: a@b@example.org\n",
		  "t:1: \"a@b@example.org\": bad target (expected local or local@domain)" },
		{ "team: a..b\n", "t:1: \"a..b\": bad target (expected local or local@domain)" },
		{ "team: al\rice\n", "t:1: \"al\\x0dice\": bad target (expected local or local@domain)" },
		{ "team: alice@-bad.org\n",
		  "t:1: \"alice@-bad.org\": bad target (expected local or local@domain)" },
		{ "team: alice@[127.0.0.1]\n",
		  "t:1: \"alice@[127.0.0.1]\": bad target (expected local or local@domain)" },
		{ "te am: alice\n",
		  "t:1: bad alias name \"te am\" (expected local, local@domain or @domain)" },
		{ "team@: alice\n",
		  "t:1: bad alias name \"team@\" (expected local, local@domain or @domain)" },
		{ "@: alice\n", "t:1: bad alias name \"@\" (expected local, local@domain or @domain)" },
		{ ": alice\n", "t:1: bad alias name \"\" (expected local, local@domain or @domain)" },
		{ ".team: alice\n",
		  "t:1: bad alias name \".team\" (expected local, local@domain or @domain)" },
		{ "b\xc3\xb8" "b: alice\n",
		  "t:1: bad alias name \"b\\xc3\\xb8b\" (expected local, local@domain or @domain)" },
		{ "x\n", "t:1: missing ':' (expected \"name: target, ...\")" },
		{ "a: b\r\n\r\nc d\r\n", "t:3: missing ':' (expected \"name: target, ...\")" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct aliases *a = (struct aliases *)1;
		char err[256] = "";
		assert_int_equal(aliases_parse("t", cases[i].text, strlen(cases[i].text), &a, err,
					       sizeof err),
				 -1);
		assert_null(a);
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu:\ngot  %s\nwant %s", i, err, cases[i].err);
	}
}

static void hostile_bytes_and_lengths(void **state)
{
	(void)state;
	struct aliases *a = NULL;
	char err[256];
	static const char nul[] = "ok: a\nteam: alice\0bob\n";
	assert_int_equal(aliases_parse("t", nul, sizeof nul - 1, &a, err, sizeof err), -1);
	assert_string_equal(err, "t:2: NUL byte");

	/* 4096 bytes is a line; 4097 is not (the line end does not count) */
	char line[5000];
	snprintf(line, sizeof line, "team: %*s\r\n", 4096 - 6, "alice");
	assert_int_equal(strlen(line), 4098);
	a = parse_ok(line);
	aliases_free(&a);
	snprintf(line, sizeof line, "team: %*s\n", 4096 - 6 + 1, "alice");
	assert_int_equal(aliases_parse("t", line, strlen(line), &a, err, sizeof err), -1);
	assert_string_equal(err, "t:1: line longer than 4096 bytes");

	/* RFC 5321 4.5.3.1.1: 64 octets of local part */
	char l64[80], text[256];
	memset(l64, 'a', 64);
	l64[64] = '\0';
	snprintf(text, sizeof text, "%s: %s\n", l64, l64);
	a = parse_ok(text);
	aliases_free(&a);
	snprintf(text, sizeof text, "team: %sa\n", l64);
	assert_int_equal(aliases_parse("t", text, strlen(text), &a, err, sizeof err), -1);
	assert_non_null(strstr(err, "bad target"));
	snprintf(text, sizeof text, "%sa: bob\n", l64);
	assert_int_equal(aliases_parse("t", text, strlen(text), &a, err, sizeof err), -1);
	assert_non_null(strstr(err, "bad alias name"));

	/* a tiny or absent error buffer is never overrun */
	char small[8];
	assert_int_equal(aliases_parse("t", "x\n", 2, &a, small, sizeof small), -1);
	assert_int_equal(strlen(small), 7);
	assert_int_equal(aliases_parse("t", "x\n", 2, &a, NULL, 0), -1);
}

static void limits_on_targets_and_names(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	char err[256];
	struct aliases *a = NULL;

	/* 1000 targets per name, over continuation lines */
	buf_append_str(&b, "big: t0");
	for (int i = 1; i < 1000; i++)
		buf_printf(&b, ",\n t%d", i);
	buf_append_str(&b, "\n");
	a = parse_ok(buf_cstr(&b));
	aliases_free(&a);
	b.len--;
	buf_append_str(&b, ", t1000\n");
	assert_int_equal(aliases_parse("t", buf_cstr(&b), b.len, &a, err, sizeof err), -1);
	assert_string_equal(err, "t:1000: more than 1000 targets for \"big\"");

	/* 100000 names */
	buf_clear(&b);
	for (int i = 0; i < 100000; i++)
		buf_printf(&b, "u%d: alice\n", i);
	a = parse_ok(buf_cstr(&b));
	assert_int_equal(aliases_count(a), 100000);
	aliases_free(&a);
	buf_append_str(&b, "one-more: alice\n");
	assert_int_equal(aliases_parse("t", buf_cstr(&b), b.len, &a, err, sizeof err), -1);
	assert_string_equal(err, "t:100001: more than 100000 aliases");
	buf_release(&b);
}

/* Thousands of aliases stay fast: the table is hashed, not scanned. */
static void many_aliases_expand_quickly(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 50000; i++)
		buf_printf(&b, "user%d@example.org: u%d@remote.test\n", i, i);
	struct aliases *a = parse_ok(buf_cstr(&b));
	buf_release(&b);
	struct alias_env env = env_with('+');
	for (int i = 0; i < 50000; i++) {
		char addr[64], want[64];
		snprintf(addr, sizeof addr, "User%d@Example.ORG", i);
		snprintf(want, sizeof want, "u%d@remote.test", i);
		struct alias_targets t;
		assert_int_equal(aliases_expand(a, &env, addr, &t), ALIAS_OK);
		assert_int_equal(t.nremote, 1);
		assert_string_equal(t.remote[0], want);
		alias_targets_free(&t);
	}
	aliases_free(&a);
}

static void load_reads_the_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/facteur-aliases-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/aliases", dir);
	struct aliases *a = NULL;
	char err[256];

	/* missing: an empty table, not an error */
	assert_int_equal(aliases_load(path, &a, err, sizeof err), 0);
	assert_non_null(a);
	assert_int_equal(aliases_count(a), 0);
	aliases_free(&a);

	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("# site aliases\nteam: alice, bob\nbad line\n", f);
	fclose(f);
	assert_int_equal(aliases_load(path, &a, err, sizeof err), -1);
	char want[256];
	snprintf(want, sizeof want, "%s:3: missing ':' (expected \"name: target, ...\")", path);
	assert_string_equal(err, want);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("team: alice, bob\n", f);
	fclose(f);
	assert_int_equal(aliases_load(path, &a, err, sizeof err), 0);
	assert_int_equal(aliases_count(a), 1);
	aliases_free(&a);

	/* a directory is an error naming the path */
	assert_int_equal(aliases_load(dir, &a, err, sizeof err), -1);
	assert_int_equal(strncmp(err, dir, strlen(dir)), 0);
	assert_null(a);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- expansion ---- */

static void accounts_foreign_and_bad(void **state)
{
	(void)state;
	static const struct xcase cases[] = {
		{ "", '+', "bob@example.org", "OK L:bob@example.org" },
		{ "", '+', "BOB@Example.ORG", "OK L:bob@example.org" },
		{ "", '+', "dave@example.net", "OK L:dave@example.net" },
		{ "", '+', "nobody@example.org", "UNKNOWN" },
		{ "", '+', "bob@example.net", "UNKNOWN" },
		{ "", '+', "X.Y@Remote.Test", "FOREIGN R:X.Y@remote.test" },
		{ "x: alice\n", '+', "x@remote.test", "FOREIGN R:x@remote.test" },
		{ "", '+', "\"a b\"@Remote.Test", "FOREIGN R:\"a b\"@remote.test" },
		{ "", '+', "u@[192.0.2.1]", "FOREIGN R:u@[192.0.2.1]" },
		{ "", '+', "\"a b\"@example.org", "UNKNOWN" },
		{ "", '+', "bob", "BAD" },
		{ "", '+', "@example.org", "BAD" },
		{ "", '+', "bob@", "BAD" },
		{ "", '+', "", "BAD" },
		{ "", '+', "a..b@example.org", "BAD" },
		{ "", '+', "a b@example.org", "BAD" },
		{ "", '+', "bob@exa mple.org", "BAD" },
		{ "", '+', "bob@example.org\r\n", "BAD" },
		{ "", '+', "\"unterminated@example.org", "BAD" },
		{ "", '+',
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org",
		  "BAD" },
	};
	RUN(cases);
}

static void alias_order_and_domains(void **state)
{
	(void)state;
	static const struct xcase cases[] = {
		/* plain alias, local targets take the address's domain */
		{ "team: alice, bob\n", '+', "team@example.org",
		  "OK L:alice@example.org,bob@example.org" },
		{ "team: alice, dave\n", '+', "Team@example.net", "OK L:dave@example.net" },
		/* local@domain before local */
		{ "team: alice\nteam@example.org: carol\n", '+', "team@example.org",
		  "OK L:carol@example.org" },
		{ "team: dave\nteam@example.org: carol\n", '+', "team@example.net",
		  "OK L:dave@example.net" },
		/* the alias comes before the account of the same name */
		{ "bob: carol\n", '+', "bob@example.org", "OK L:carol@example.org" },
		/* remote targets are never expanded, their local part keeps its case */
		{ "fwd: Someone@Remote.TEST, x@remote.test\n", '+', "fwd@example.org",
		  "OK R:Someone@remote.test,x@remote.test" },
		{ "fwd: alice@remote.test\nalice: carol\n", '+', "fwd@example.org",
		  "OK R:alice@remote.test" },
		/* targets in a local domain are expanded there */
		{ "fwd: staff@example.net\nstaff@example.net: dave\n", '+', "fwd@example.org",
		  "OK L:dave@example.net" },
		/* nested, and case-insensitive at every level */
		{ "all: Team, root\nteam: ALICE, bob\n", '+', "ALL@example.org",
		  "OK L:alice@example.org,bob@example.org,root@example.org" },
		/* targets that match nothing are dropped; nothing at all is unknown */
		{ "team: alice, ghost\n", '+', "team@example.org", "OK L:alice@example.org" },
		{ "team: ghost\n", '+', "team@example.org", "UNKNOWN" },
		/* a target that is both alias and account: the alias, at each level */
		{ "fwd: bob\nbob: carol\n", '+', "fwd@example.org", "OK L:carol@example.org" },
	};
	RUN(cases);
}

static void subaddress_tags(void **state)
{
	(void)state;
	static const struct xcase cases[] = {
		{ "", '+', "bob+news@example.org", "OK L:bob@example.org" },
		{ "", '+', "Bob+News@example.org", "OK L:bob@example.org" },
		{ "", '+', "bob+a+b@example.org", "OK L:bob@example.org" },
		{ "", 0, "bob+news@example.org", "UNKNOWN" },
		{ "", '-', "bob-news@example.org", "OK L:bob@example.org" },
		{ "", '-', "bob+news@example.org", "UNKNOWN" },
		{ "", '+', "+news@example.org", "UNKNOWN" },
		{ "", '+', "zed+news@example.org", "UNKNOWN" },
		/* the whole address as an account wins over its base */
		{ "", '+', "eve+list@example.org", "OK L:eve+list@example.org" },
		{ "", '+', "eve+other@example.org", "UNKNOWN" },
		/* an alias for the whole local part wins over the base */
		{ "bob+news: carol\n", '+', "bob+news@example.org", "OK L:carol@example.org" },
		{ "bob+news: carol\n", '+', "bob+other@example.org", "OK L:bob@example.org" },
		/* the base as an alias, then as an account */
		{ "team: alice, bob\n", '+', "team+x@example.org",
		  "OK L:alice@example.org,bob@example.org" },
		{ "team@example.org: carol\n", '+', "team+x@example.org", "OK L:carol@example.org" },
		{ "bob: carol\n", '+', "bob+x@example.org", "OK L:carol@example.org" },
		/* the alias of the base before the whole address's catch-all */
		{ "@example.org: root\nteam: alice\n", '+', "team+x@example.org",
		  "OK L:alice@example.org" },
		{ "@example.org: root\n", '+', "zed+x@example.org", "OK L:root@example.org" },
		/* a tagged remote address is left as it is */
		{ "", '+', "bob+x@remote.test", "FOREIGN R:bob+x@remote.test" },
	};
	RUN(cases);
}

static void catch_all_comes_last(void **state)
{
	(void)state;
	static const struct xcase cases[] = {
		{ "@example.org: alice\n", '+', "bob@example.org", "OK L:bob@example.org" },
		{ "@example.org: alice\n", '+', "nobody@example.org", "OK L:alice@example.org" },
		{ "@example.org: alice\nteam: carol\n", '+', "team@example.org",
		  "OK L:carol@example.org" },
		{ "@example.org: alice\n", '+', "nobody@example.net", "UNKNOWN" },
		{ "@example.org: all@remote.test\n", '+', "Nobody@example.org",
		  "OK R:all@remote.test" },
		/* postmaster before the catch-all */
		{ "@example.org: alice\n", '+', "postmaster@example.org", "OK L:root@example.org" },
		/* a catch-all whose target is unknown comes back to itself */
		{ "@example.org: ghost\n", '+', "nobody@example.org", "LOOP" },
	};
	RUN(cases);
}

static void postmaster_and_abuse(void **state)
{
	(void)state;
	static const struct xcase cases[] = {
		{ "", '+', "postmaster@example.org", "OK L:root@example.org" },
		{ "", '+', "PostMaster@Example.NET", "OK L:root@example.org" },
		{ "", '+', "abuse@example.org", "OK L:root@example.org" },
		{ "", '+', "postmaster+x@example.org", "OK L:root@example.org" },
		{ "postmaster: carol\n", '+', "postmaster@example.org", "OK L:carol@example.org" },
		{ "abuse@example.net: dave\n", '+', "abuse@example.net", "OK L:dave@example.net" },
		{ "", '+', "hostmaster@example.org", "UNKNOWN" },
		/* a role alias pointing at itself still reaches someone */
		{ "postmaster: postmaster, pm@remote.test\n", '+', "postmaster@example.org",
		  "OK L:root@example.org R:pm@remote.test" },
		{ "", '+', "postmaster@remote.test", "FOREIGN R:postmaster@remote.test" },
	};
	RUN(cases);

	/* without a postmaster account: unknown, or the catch-all */
	fake.postmaster = NULL;
	static const struct xcase none[] = {
		{ "", '+', "postmaster@example.org", "UNKNOWN" },
		{ "@example.org: alice\n", '+', "abuse@example.org", "OK L:alice@example.org" },
	};
	RUN(none);
	/* whatever the account's case, it comes back canonical */
	fake.postmaster = "Root@Example.ORG";
	static const struct xcase upper[] = {
		{ "", '+', "postmaster@example.org", "OK L:root@example.org" },
	};
	RUN(upper);
	/* an unusable answer is no answer */
	fake.postmaster = "no-at-sign";
	RUN(none);
	fake.postmaster = "root@example.org";
}

static void self_references_and_cycles(void **state)
{
	(void)state;
	static const struct xcase cases[] = {
		/* keeps a copy locally and forwards */
		{ "bob: bob, bob@remote.test\n", '+', "bob@example.org",
		  "OK L:bob@example.org R:bob@remote.test" },
		{ "Bob: BOB, bob@remote.test\n", '+', "bob@example.org",
		  "OK L:bob@example.org R:bob@remote.test" },
		{ "bob@example.org: bob@example.org, bob@remote.test\n", '+', "bob@example.org",
		  "OK L:bob@example.org R:bob@remote.test" },
		{ "bob: bob, bob@remote.test\n", '+', "bob+x@example.org",
		  "OK L:bob@example.org R:bob@remote.test" },
		/* inside its own cycle the tag's base is an account only */
		{ "bob+x: bob+x, carol\nbob: x@remote.test\n", '+', "bob+x@example.org",
		  "OK L:bob@example.org,carol@example.org" },
		/* a self-reference with no account behind it reaches nobody */
		{ "ghost: ghost\n", '+', "ghost@example.org", "LOOP" },
		{ "ghost: ghost, alice\n", '+', "ghost@example.org", "OK L:alice@example.org" },
		/* a -> b -> a, alone: a loop; with other targets: those */
		{ "a: b\nb: a\n", '+', "a@example.org", "LOOP" },
		{ "a: b\nb: a\n", '+', "b@example.org", "LOOP" },
		{ "a: b, alice\nb: a, x@remote.test\n", '+', "a@example.org",
		  "OK L:alice@example.org R:x@remote.test" },
		{ "a: b\nb: c\nc: a, carol\n", '+', "a@example.org", "OK L:carol@example.org" },
		/* a cycle through an account: it ends in the account */
		{ "alice: bobby\nbobby: alice\n", '+', "alice@example.org",
		  "OK L:alice@example.org" },
		/* the catch-all is not used to break a cycle */
		{ "a: b\nb: a\n@example.org: root\n", '+', "a@example.org", "LOOP" },
		/* a diamond is no cycle */
		{ "a: b, c\nb: d\nc: d\nd: alice\n", '+', "a@example.org", "OK L:alice@example.org" },
		/* an alias met again once finished adds nothing, not its account */
		{ "all: a1, a2\na1: carol\na2: carol\ncarol: x@remote.test\n", '+',
		  "all@example.org", "OK R:x@remote.test" },
		/* the same alias for two domains is two expansions */
		{ "a@example.org: d@example.org, d@example.net\nd: alice, dave\n", '+',
		  "a@example.org", "OK L:alice@example.org,dave@example.net" },
	};
	RUN(cases);
}

static void results_are_deduplicated(void **state)
{
	(void)state;
	static const struct xcase cases[] = {
		{ "team: alice, Alice, ALICE@example.org\n", '+', "team@example.org",
		  "OK L:alice@example.org" },
		{ "all: team, alice, bob\nteam: alice, bob\n", '+', "all@example.org",
		  "OK L:alice@example.org,bob@example.org" },
		{ "r: x@remote.test, x@Remote.Test\n", '+', "r@example.org", "OK R:x@remote.test" },
		/* remote local parts may be case-sensitive: both are kept */
		{ "r: x@remote.test, X@remote.test\n", '+', "r@example.org",
		  "OK R:X@remote.test,x@remote.test" },
		{ "a: bob, bob+x, bob+y\n", '+', "a@example.org", "OK L:bob@example.org" },
	};
	RUN(cases);
}

static void depth_and_total_limits(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	struct alias_env env = env_with('+');
	struct alias_targets t;

	/* a chain of 16 aliases reaches its account; 17 is a loop */
	for (int i = 0; i < 16; i++)
		buf_printf(&b, "a%d: a%d\n", i, i + 1);
	buf_append_str(&b, "a16: alice\n");
	struct aliases *a = parse_ok(buf_cstr(&b));
	assert_int_equal(aliases_expand(a, &env, "a1@example.org", &t), ALIAS_OK);
	assert_int_equal(t.nlocal, 1);
	alias_targets_free(&t);
	assert_int_equal(aliases_expand(a, &env, "a0@example.org", &t), ALIAS_LOOP);
	assert_int_equal(t.nlocal + t.nremote, 0);
	alias_targets_free(&t);
	aliases_free(&a);

	/* 1000 targets in all is fine, 1001 is too many */
	buf_clear(&b);
	buf_append_str(&b, "big: r0@remote.test");
	for (int i = 1; i < 1000; i++)
		buf_printf(&b, ",\n r%d@remote.test", i);
	buf_append_str(&b, "\nbigger: big\nmid: m0@remote.test");
	for (int i = 1; i < 600; i++)
		buf_printf(&b, ",\n m%d@remote.test", i);
	buf_append_str(&b, "\ntwice: mid, mid\n");
	a = parse_ok(buf_cstr(&b));
	assert_int_equal(aliases_expand(a, &env, "big@example.org", &t), ALIAS_OK);
	assert_int_equal(t.nremote, 1000);
	alias_targets_free(&t);
	assert_int_equal(aliases_expand(a, &env, "bigger@example.org", &t), ALIAS_LOOP);
	alias_targets_free(&t);
	/* an alias met twice is expanded once: 602 targets looked at, not 1202 */
	assert_int_equal(aliases_expand(a, &env, "twice@example.org", &t), ALIAS_OK);
	assert_int_equal(t.nremote, 600);
	alias_targets_free(&t);
	aliases_free(&a);

	/* fan-out: 40 aliases of 40 targets each is past the total */
	buf_clear(&b);
	buf_append_str(&b, "top: g0");
	for (int i = 1; i < 40; i++)
		buf_printf(&b, ", g%d", i);
	buf_append_str(&b, "\n");
	for (int i = 0; i < 40; i++) {
		buf_printf(&b, "g%d: x%d_0@remote.test", i, i);
		for (int j = 1; j < 40; j++)
			buf_printf(&b, ",\n x%d_%d@remote.test", i, j);
		buf_append_str(&b, "\n");
	}
	a = parse_ok(buf_cstr(&b));
	assert_int_equal(aliases_expand(a, &env, "top@example.org", &t), ALIAS_LOOP);
	assert_int_equal(t.nremote, 0);
	alias_targets_free(&t);
	assert_int_equal(aliases_expand(a, &env, "g7@example.org", &t), ALIAS_OK);
	assert_int_equal(t.nremote, 40);
	alias_targets_free(&t);
	aliases_free(&a);
	buf_release(&b);
}

/* A table that failed to load is no table: expansion still works. */
static void no_table_is_an_empty_table(void **state)
{
	(void)state;
	struct alias_env env = env_with('+');
	struct alias_targets t;
	assert_int_equal(aliases_expand(NULL, &env, "bob+x@example.org", &t), ALIAS_OK);
	assert_string_equal(t.local[0], "bob@example.org");
	alias_targets_free(&t);
	assert_int_equal(aliases_expand(NULL, &env, "ghost@example.org", &t), ALIAS_UNKNOWN);
	alias_targets_free(&t);
	struct aliases *a = parse_ok("");
	assert_int_equal(aliases_expand(a, &env, "postmaster@example.org", &t), ALIAS_OK);
	assert_string_equal(t.local[0], "root@example.org");
	alias_targets_free(&t);
	aliases_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(syntax_accepted),
		cmocka_unit_test(syntax_errors_name_their_line),
		cmocka_unit_test(hostile_bytes_and_lengths),
		cmocka_unit_test(limits_on_targets_and_names),
		cmocka_unit_test(many_aliases_expand_quickly),
		cmocka_unit_test(load_reads_the_file),
		cmocka_unit_test(accounts_foreign_and_bad),
		cmocka_unit_test(alias_order_and_domains),
		cmocka_unit_test(subaddress_tags),
		cmocka_unit_test(catch_all_comes_last),
		cmocka_unit_test(postmaster_and_abuse),
		cmocka_unit_test(self_references_and_cycles),
		cmocka_unit_test(results_are_deduplicated),
		cmocka_unit_test(depth_and_total_limits),
		cmocka_unit_test(no_table_is_an_empty_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
