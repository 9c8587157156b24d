/* Fuzzes the aliases file parser and the expansion. Any bytes either parse
 * or give an error naming the file and a line; a table that parses is
 * expanded for fixed addresses and for the names the input itself defines,
 * against a fake set of domains and accounts, and every result must be
 * well-formed: "local@domain" with a lower-case domain, accounts only in
 * local domains and fully lower-case, remote addresses only outside them,
 * no duplicates, no more than the expansion limit, nothing on failure. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/aliases.h"

#define MAX_RESULTS 1000

static const char *const domains[] = { "example.org", "example.net" };
static const char *const accounts[] = { "alice@example.org", "bob@example.org",
					"postmaster@example.net", "x+y@example.org" };

static bool in(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static bool f_local(void *arg, const char *domain)
{
	(void)arg;
	return in(domains, 2, domain);
}

static bool f_account(void *arg, const char *addr)
{
	(void)arg;
	return in(accounts, 4, addr);
}

static const char *f_postmaster(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "example.org") == 0 ? "Alice@Example.org" : NULL;
}

static void check_addr(const char *s, bool local)
{
	const char *at = strrchr(s, '@');
	if (!at || at == s || !at[1])
		abort();
	for (const char *c = s; *c; c++) {
		/* a space only inside a quoted local part ("\"a b\"@x") */
		unsigned char u = (unsigned char)*c;
		if (u < 0x20 || u >= 0x7f || (u == ' ' && (s[0] != '"' || c > at)))
			abort();
		if ((local || c > at) && *c >= 'A' && *c <= 'Z')
			abort();
	}
	if (f_local(NULL, at + 1) != local)
		abort();
	if (local && !f_account(NULL, s) && strcmp(s, "alice@example.org") != 0)
		abort();
}

static void check_list(char **l, size_t n, bool local)
{
	if (n > MAX_RESULTS || (n > 0) != (l != NULL))
		abort();
	for (size_t i = 0; i < n; i++) {
		check_addr(l[i], local);
		for (size_t j = 0; j < i; j++)
			if (strcmp(l[i], l[j]) == 0)
				abort();
	}
}

static void expand_one(const struct aliases *a, const struct alias_env *env, const char *addr)
{
	struct alias_targets t;
	enum alias_result r = aliases_expand(a, env, addr, &t);
	size_t n = t.nlocal + t.nremote;
	switch (r) {
	case ALIAS_OK:
		if (n == 0 || n > MAX_RESULTS)
			abort();
		break;
	case ALIAS_FOREIGN:
		if (t.nlocal != 0 || t.nremote != 1)
			abort();
		break;
	case ALIAS_UNKNOWN:
	case ALIAS_LOOP:
	case ALIAS_BAD:
	case ALIAS_NOMEM:
		if (n != 0)
			abort();
		break;
	default:
		abort();
	}
	check_list(t.local, t.nlocal, true);
	check_list(t.remote, t.nremote, false);
	alias_targets_free(&t);
	if (t.local || t.remote || t.nlocal || t.nremote)
		abort();
}

/* The names the input defines ("name:" at the start of a line), as
 * addresses in a local domain, so the expansion meets the input's own
 * aliases and cycles rather than only the fixed addresses. */
static void expand_defined(const struct aliases *a, const struct alias_env *env,
			   const uint8_t *data, size_t size)
{
	size_t done = 0;
	for (size_t i = 0; i < size && done < 8;) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - data) : size;
		const uint8_t *colon = memchr(data + i, ':', end - i);
		size_t n = colon ? (size_t)(colon - (data + i)) : 0;
		if (n > 0 && n < 200) {
			char addr[256];
			const char *d = (data[i] + n) % 2 ? "example.org" : "Example.NET";
			if (memchr(data + i, '@', n))
				snprintf(addr, sizeof addr, "%.*s", (int)n, (const char *)data + i);
			else
				snprintf(addr, sizeof addr, "%.*s@%s", (int)n, (const char *)data + i, d);
			if (addr[0] == '@')
				addr[0] = 'z';
			expand_one(a, env, addr);
			done++;
		}
		i = nl ? end + 1 : size;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aliases *a = NULL;
	char err[512] = "";
	if (aliases_parse("fuzz", (const char *)data, size, &a, err, sizeof err) < 0) {
		if (a || strncmp(err, "fuzz:", 5) != 0)
			abort();
		return 0;
	}
	if (!a)
		abort();
	static const char *const fixed[] = {
		"alice@example.org", "Bob+Tag@Example.ORG", "postmaster@example.net",
		"abuse@example.org", "nobody@example.org", "x+y@example.org",
		"a@example.org", "team+x@example.net", "someone@Remote.Test", "\"q r\"@example.org",
		"bad", "@example.org",
	};
	struct alias_env env = { .arg = NULL, .is_local_domain = f_local,
				 .is_account = f_account, .postmaster = f_postmaster,
				 .delimiter = size % 2 ? '+' : 0 };
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		expand_one(a, &env, fixed[i]);
	expand_defined(a, &env, data, size);
	aliases_free(&a);
	return 0;
}
