/* Unit tests for src/net/dns.c and dns_parse.c: the pure helpers
 * (dns_mx_sort, dns_mx_is_null, names, server strings, numeric hosts), and
 * what the resolver answers without sending a query: numeric hosts, bad
 * names, cancellation, freeing from a callback. No packet is sent; the
 * lookups that need DNS are in tests/integration/test_dns.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <event2/event.h>

#include "net/dns.h"
#include "net/dns_int.h"

/* ---------------------------------------------------------------------
 * dns_mx_sort */

static uint32_t lcg_state;

static unsigned lcg_below(unsigned n)
{
	lcg_state = lcg_state * 1103515245u + 12345u;
	return (lcg_state >> 16) % n;
}

static unsigned rnd_too_big(unsigned n)
{
	(void)n;
	return UINT32_MAX;
}

static void assert_order(const struct dns_mx *mx, const char *const *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_string_equal(mx[i].host, want[i]);
}

static void mx_sort_orders_by_preference_and_keeps_ties_without_rnd(void **state)
{
	(void)state;
	struct dns_mx mx[] = {
		{ "c20", 20 }, { "a10", 10 }, { "b65535", 65535 }, { "d10", 10 },
		{ "e0", 0 }, { "f20", 20 }, { "g10", 10 },
	};
	static const char *const want[] = { "e0", "a10", "d10", "g10", "c20", "f20", "b65535" };
	dns_mx_sort(mx, 7, NULL);
	assert_order(mx, want, 7);
}

static void mx_sort_of_nothing_or_one_is_a_no_op(void **state)
{
	(void)state;
	dns_mx_sort(NULL, 0, lcg_below);
	struct dns_mx one = { "only", 7 };
	dns_mx_sort(&one, 1, lcg_below);
	assert_string_equal(one.host, "only");
	assert_int_equal(one.pref, 7);
}

/* Shuffling moves records only among equal preferences, and over many
 * runs every order of a tie shows up. */
static void mx_sort_shuffles_only_equal_preferences(void **state)
{
	(void)state;
	lcg_state = 42;
	unsigned seen = 0; /* bit per permutation of a, b, c */
	for (int run = 0; run < 600; run++) {
		struct dns_mx mx[] = {
			{ "z30", 30 }, { "a", 10 }, { "y5", 5 }, { "b", 10 }, { "c", 10 },
			{ "x5", 5 },
		};
		dns_mx_sort(mx, 6, lcg_below);
		for (size_t i = 1; i < 6; i++)
			assert_true(mx[i - 1].pref <= mx[i].pref);
		assert_int_equal(mx[0].pref, 5);
		assert_int_equal(mx[1].pref, 5);
		assert_true(strcmp(mx[0].host, mx[1].host) != 0);
		assert_string_equal(mx[5].host, "z30");
		unsigned code = 0;
		for (size_t i = 2; i < 5; i++) {
			assert_int_equal(mx[i].pref, 10);
			assert_int_equal(strlen(mx[i].host), 1);
			code = code * 3 + (unsigned)(mx[i].host[0] - 'a');
		}
		/* a, b, c each once */
		assert_true(strchr("abc", mx[2].host[0]) && mx[2].host[0] != mx[3].host[0] &&
			    mx[3].host[0] != mx[4].host[0] && mx[2].host[0] != mx[4].host[0]);
		seen |= 1u << (code % 32);
	}
	unsigned count = 0;
	for (unsigned b = seen; b; b &= b - 1)
		count++;
	assert_int_equal(count, 6);
}

static void mx_sort_survives_a_random_source_out_of_range(void **state)
{
	(void)state;
	struct dns_mx mx[] = { { "a", 1 }, { "b", 1 }, { "c", 1 }, { "d", 0 } };
	dns_mx_sort(mx, 4, rnd_too_big);
	assert_string_equal(mx[0].host, "d");
	unsigned mask = 0;
	for (size_t i = 1; i < 4; i++)
		mask |= 1u << (mx[i].host[0] - 'a');
	assert_int_equal(mask, 7);
}

static void mx_sort_handles_a_large_reversed_list(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct dns_mx *mx = calloc(N, sizeof *mx);
	assert_non_null(mx);
	for (unsigned i = 0; i < N; i++)
		mx[i] = (struct dns_mx){ "h", (N - i) % 65536 / 3 };
	lcg_state = 7;
	dns_mx_sort(mx, N, lcg_below);
	for (size_t i = 1; i < N; i++)
		assert_true(mx[i - 1].pref <= mx[i].pref);
	free(mx);
}

/* ---------------------------------------------------------------------
 * dns_mx_is_null */

static void mx_is_null_only_for_a_lone_root_of_preference_0(void **state)
{
	(void)state;
	static const struct {
		struct dns_mx mx[2];
		size_t n;
		bool null;
	} cases[] = {
		{ { { "", 0 } }, 1, true },
		{ { { ".", 0 } }, 1, true },
		{ { { NULL, 0 } }, 1, true },
		{ { { ".", 10 } }, 1, false },  /* RFC 7505 3: preference 0 */
		{ { { "", 1 } }, 1, false },
		{ { { "mx.test", 0 } }, 1, false },
		{ { { ".", 0 }, { "mx.test", 10 } }, 2, false },
		{ { { "mx.test", 10 }, { ".", 0 } }, 2, false },
		{ { { ".", 0 }, { ".", 0 } }, 2, false },
		{ { { "..", 0 } }, 1, false },
		{ { { " ", 0 } }, 1, false },
		{ { { ".", 0 } }, 0, false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (dns_mx_is_null(cases[i].mx, cases[i].n) != cases[i].null)
			fail_msg("case %zu: expected %d", i, cases[i].null);
	}
}

/* ---------------------------------------------------------------------
 * Names, server strings, numeric hosts (dns_parse.c) */

static void names_are_ldh_labels_within_rfc_1035_limits(void **state)
{
	(void)state;
	char label63[80], label64[80], len253[260], len254[260];
	memset(label63, 'a', 63);
	memcpy(label63 + 63, ".test", 6);
	memset(label64, 'a', 64);
	memcpy(label64 + 64, ".test", 6);
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(len253, 'b', 253);
	len253[63] = len253[127] = len253[191] = '.';
	len253[253] = '\0';
	memcpy(len254, len253, 254);
	len254[253] = 'b';
	len254[254] = '\0';
	static const char *const good[] = {
		"mx.test", "a", "MX1.Example.TEST", "xn--caf-dma.test", "_dmarc.test",
		"a-b.c-d.test", "1.2.3.4", "123",
	};
	const char *bad[] = {
		"", ".", "a.", ".a", "a..b", "a b", "a\\.b", "a\"b", "a/b", "a@b", "a:b",
		"caf\xc3\xa9.test", "a\tb", "a\nb", "[1.2.3.4]", label64, len254,
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (!dns_name_is_valid(good[i]))
			fail_msg("good %zu '%s' refused", i, good[i]);
	assert_true(dns_name_is_valid(label63));
	assert_true(dns_name_is_valid(len253));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (dns_name_is_valid(bad[i]))
			fail_msg("bad %zu '%s' accepted", i, bad[i]);
}

static void servers_string_gives_ordered_nodes(void **state)
{
	(void)state;
	struct ares_addr_port_node nodes[DNS_MAX_SERVERS];
	char err[160] = "";
	size_t n = dns_parse_servers(" 127.0.0.1:5353 ,[::1]:53,\t::1 ,192.0.2.1, [2001:db8::1]",
				     nodes, err, sizeof err);
	assert_int_equal(n, 5);
	static const struct { int family, port; } want[] = {
		{ AF_INET, 5353 }, { AF_INET6, 53 }, { AF_INET6, 0 }, { AF_INET, 0 },
		{ AF_INET6, 0 },
	};
	const struct ares_addr_port_node *p = nodes;
	for (size_t i = 0; i < n; i++, p = p->next) {
		assert_ptr_equal(p, &nodes[i]);
		assert_int_equal(p->family, want[i].family);
		assert_int_equal(p->udp_port, want[i].port);
		assert_int_equal(p->tcp_port, want[i].port);
	}
	assert_null(p);
	char a[INET_ADDRSTRLEN];
	assert_string_equal(inet_ntop(AF_INET, &nodes[3].addr.addr4, a, sizeof a), "192.0.2.1");

	static const char *const bad[] = {
		"", " ", ",", "127.0.0.1,", ",127.0.0.1", "127.0.0.1,,::1", "localhost",
		"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:+53",
		"127.0.0.1: 53", "127.0.0.1:", "127.0.0.1:53:", "[127.0.0.1]:53", "[::1",
		"[::1]x", "[::1]:", "::1:53x", "1.2.3.4.5", "[fe80::1%lo]",
		("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,127.0.0.1:5,127.0.0.1:6,"
		 "127.0.0.1:7,127.0.0.1:8,127.0.0.1:9"),
		"[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:53",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (dns_parse_servers(bad[i], nodes, err, sizeof err) != 0)
			fail_msg("bad %zu '%s' accepted", i, bad[i]);
		assert_true(strncmp(err, "dns servers: ", 13) == 0);
	}
}

static void numeric_forms_are_recognised(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *text;
		enum dns_numeric_kind kind;
		int family;
	} cases[] = {
		{ "192.0.2.1", "192.0.2.1", DNS_NUMERIC_ADDR, AF_INET },
		{ "[192.0.2.1]", "192.0.2.1", DNS_NUMERIC_ADDR, AF_INET },
		{ "2001:db8::1", "2001:db8::1", DNS_NUMERIC_ADDR, AF_INET6 },
		{ "[2001:db8::1]", "2001:db8::1", DNS_NUMERIC_ADDR, AF_INET6 },
		{ "[IPv6:2001:db8::1]", "2001:db8::1", DNS_NUMERIC_ADDR, AF_INET6 },
		{ "[ipv6:::ffff:192.0.2.1]", "::ffff:192.0.2.1", DNS_NUMERIC_ADDR, AF_INET6 },
		{ "mx.test", "", DNS_NUMERIC_NONE, 0 },
		{ "192.0.2", "", DNS_NUMERIC_NONE, 0 },
		{ "[192.0.2]", "", DNS_NUMERIC_BAD, 0 },
		{ "[mx.test]", "", DNS_NUMERIC_BAD, 0 },
		{ "[IPv6:192.0.2.1]", "", DNS_NUMERIC_BAD, 0 },
		{ "[]", "", DNS_NUMERIC_BAD, 0 },
		{ "[", "", DNS_NUMERIC_NONE, 0 },
		{ "[::1", "", DNS_NUMERIC_NONE, 0 },
		{ "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]", "",
		  DNS_NUMERIC_BAD, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dns_numeric num;
		enum dns_numeric_kind k = dns_parse_numeric(cases[i].in, &num);
		if (k != cases[i].kind || (k == DNS_NUMERIC_ADDR && num.family != cases[i].family))
			fail_msg("case %zu '%s': kind %d family %d", i, cases[i].in, k, num.family);
		if (k == DNS_NUMERIC_ADDR && cases[i].text[0])
			assert_string_equal(num.text, cases[i].text);
	}
}

/* ---------------------------------------------------------------------
 * The resolver, where no query is needed */

/* A server that must never be asked: nothing here needs DNS. */
#define NO_SERVER "127.0.0.1:9"

struct seen {
	int calls;
	bool in_call;           /* set around dns_resolve_* */
	struct dns_resolver *r; /* to free from the callback */
	bool free_in_cb;
	bool resolve_in_cb;
	enum dns_status status;
	bool implicit;
	char error[160];
	char text[512];         /* "pref name addr addr; ..." */
};

static void on_result(void *arg, const struct dns_result *res)
{
	struct seen *s = arg;
	assert_false(s->in_call);
	s->calls++;
	s->status = res->status;
	s->implicit = res->implicit_mx;
	snprintf(s->error, sizeof s->error, "%s", res->error);
	size_t o = 0;
	s->text[0] = '\0';
	for (size_t i = 0; i < res->nhosts; i++) {
		const struct dns_host *h = &res->hosts[i];
		o += (size_t)snprintf(s->text + o, sizeof s->text - o, "%s%u %s",
				      i ? "; " : "", h->pref, h->name);
		for (size_t k = 0; k < h->naddrs; k++) {
			char a[INET6_ADDRSTRLEN];
			const struct sockaddr_storage *ss = &h->addrs[k];
			const void *src = ss->ss_family == AF_INET6
				? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
				: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
			assert_non_null(inet_ntop(ss->ss_family, src, a, sizeof a));
			assert_int_equal(((const struct sockaddr_in *)ss)->sin_port, 0);
			o += (size_t)snprintf(s->text + o, sizeof s->text - o, " %s", a);
		}
	}
	if (s->resolve_in_cb) {
		s->resolve_in_cb = false;
		dns_resolve_host(s->r, "192.0.2.9", on_result, s);
	}
	if (s->free_in_cb)
		dns_resolver_free(&s->r);
}

static struct dns_resolver *resolver(struct event_base *base)
{
	char err[160] = "";
	struct dns_resolver *r = dns_resolver_new(base, NO_SERVER, 100, 1, err, sizeof err);
	if (!r)
		fail_msg("dns_resolver_new: %s", err);
	return r;
}

static void resolver_new_checks_servers_and_limits(void **state)
{
	(void)state;
	static const struct {
		const char *servers;
		unsigned timeout, tries;
		bool ok;
	} cases[] = {
		{ "127.0.0.1", 1000, 2, true },
		{ "127.0.0.1:5353", 1000, 2, true },
		{ "127.0.0.1:5353, [::1]:53,\t::1 ,[::1]", 1000, 2, true },
		{ "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,"
		  "127.0.0.1:5,127.0.0.1:6,127.0.0.1:7,127.0.0.1:8", 1, 5, true },
		{ "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,"
		  "127.0.0.1:5,127.0.0.1:6,127.0.0.1:7,127.0.0.1:8,127.0.0.1:9", 1, 5, false },
		{ "127.0.0.1:0", 1000, 2, false },
		{ "127.0.0.1:65536", 1000, 2, false },
		{ "127.0.0.1:+53", 1000, 2, false },
		{ "127.0.0.1:", 1000, 2, false },
		{ "127.0.0.1,", 1000, 2, false },
		{ ",127.0.0.1", 1000, 2, false },
		{ "localhost", 1000, 2, false },
		{ "[127.0.0.1]:53", 1000, 2, false },
		{ "[::1", 1000, 2, false },
		{ "[::1]x", 1000, 2, false },
		{ "[::1]:", 1000, 2, false },
		{ "::1:53x", 1000, 2, false },
		{ "127.0.0.1", 0, 2, false },
		{ "127.0.0.1", 1000, 0, false },
		{ "127.0.0.1", 1000, 6, false },
	};
	struct event_base *base = event_base_new();
	assert_non_null(base);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[160] = "";
		struct dns_resolver *r = dns_resolver_new(base, cases[i].servers, cases[i].timeout,
							  cases[i].tries, err, sizeof err);
		if ((r != NULL) != cases[i].ok)
			fail_msg("case %zu '%s': %s", i, cases[i].servers, err);
		if (!r)
			assert_true(err[0] != '\0');
		dns_resolver_free(&r);
		assert_null(r);
	}
	event_base_free(base);
}

static void run_host(struct event_base *base, struct dns_resolver *r, bool mx,
		     const char *name, struct seen *s)
{
	s->in_call = true;
	if (mx)
		dns_resolve_mx(r, name, on_result, s);
	else
		dns_resolve_host(r, name, on_result, s);
	s->in_call = false;
	assert_int_equal(s->calls, 0);
	event_base_dispatch(base);
	assert_int_equal(s->calls, 1);
}

static void numeric_hosts_need_no_query(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *text;
		enum dns_status status;
		bool mx;
		bool implicit;
	} cases[] = {
		{ "192.0.2.1", "0 192.0.2.1 192.0.2.1", DNS_OK, false, false },
		{ "2001:db8::1", "0 2001:db8::1 2001:db8::1", DNS_OK, false, false },
		{ "[2001:DB8::2]", "0 2001:DB8::2 2001:db8::2", DNS_OK, false, false },
		{ "[IPv6:::1]", "0 ::1 ::1", DNS_OK, false, false },
		{ "[192.0.2.3]", "0 192.0.2.3 192.0.2.3", DNS_OK, false, false },
		{ "[192.0.2.4]", "0 192.0.2.4 192.0.2.4", DNS_OK, true, true },
		{ "[ipv6:2001:db8::5]", "0 2001:db8::5 2001:db8::5", DNS_OK, true, true },
		{ "[mx.test]", "", DNS_NO_DOMAIN, false, false },
		{ "[192.0.2.300]", "", DNS_NO_DOMAIN, false, false },
		{ "[]", "", DNS_NO_DOMAIN, true, false },
	};
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct dns_resolver *r = resolver(base);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct seen s = { 0 };
		run_host(base, r, cases[i].mx, cases[i].name, &s);
		if (s.status != cases[i].status || s.implicit != cases[i].implicit ||
		    strcmp(s.text, cases[i].text) != 0)
			fail_msg("case %zu '%s': status %d implicit %d '%s' (%s)", i,
				 cases[i].name, s.status, s.implicit, s.text, s.error);
		assert_true((s.status == DNS_OK) == (s.error[0] == '\0'));
	}
	dns_resolver_free(&r);
	event_base_free(base);
}

static void bad_names_fail_without_a_query(void **state)
{
	(void)state;
	char label64[80], long254[260];
	memset(label64, 'a', 64);
	memcpy(label64 + 64, ".test", 6);
	memset(long254, 'a', 254);
	long254[254] = '\0';
	for (size_t i = 63; i < 254; i += 64)
		long254[i] = '.';
	const char *names[] = {
		"", ".", "..", "a..test", ".a.test", "a b.test", "a\\.test", "a\"b",
		"mx.test/x", "caf\xc3\xa9.test", label64, long254, "a.test..",
	};
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct dns_resolver *r = resolver(base);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		for (int mx = 0; mx < 2; mx++) {
			struct seen s = { 0 };
			run_host(base, r, mx, names[i], &s);
			if (s.status != DNS_NO_DOMAIN || s.error[0] == '\0')
				fail_msg("'%s' mx=%d: status %d '%s'", names[i], mx, s.status,
					 s.error);
		}
	}
	dns_resolver_free(&r);
	event_base_free(base);
}

static void free_cancels_pending_lookups_once(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct dns_resolver *r = resolver(base);
	struct seen a = { 0 }, b = { 0 };
	b.r = r;
	b.resolve_in_cb = true; /* its new lookup is cancelled as well */
	dns_resolve_host(r, "192.0.2.1", on_result, &a);
	dns_resolve_mx(r, "[192.0.2.2]", on_result, &b);
	dns_resolver_free(&r);
	assert_null(r);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	assert_non_null(strstr(a.error, "cancelled"));
	assert_int_equal(b.calls, 2);
	assert_int_equal(b.status, DNS_TEMPFAIL);
	assert_string_equal(b.text, "");
	/* Nothing left to deliver. */
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	assert_int_equal(a.calls, 1);
	event_base_free(base);
}

static void callback_may_free_the_resolver(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct seen a = { 0 }, b = { 0 };
	a.r = resolver(base);
	a.free_in_cb = true;
	struct dns_resolver *r = a.r;
	dns_resolve_host(r, "192.0.2.1", on_result, &a);
	dns_resolve_host(r, "192.0.2.2", on_result, &b);
	event_base_dispatch(base);
	assert_null(a.r);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	/* Whichever ran first: one got its address, the other was cancelled
	 * by the free, or both got theirs. */
	assert_true(a.status == DNS_OK || b.status == DNS_OK);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mx_sort_orders_by_preference_and_keeps_ties_without_rnd),
		cmocka_unit_test(mx_sort_of_nothing_or_one_is_a_no_op),
		cmocka_unit_test(mx_sort_shuffles_only_equal_preferences),
		cmocka_unit_test(mx_sort_survives_a_random_source_out_of_range),
		cmocka_unit_test(mx_sort_handles_a_large_reversed_list),
		cmocka_unit_test(mx_is_null_only_for_a_lone_root_of_preference_0),
		cmocka_unit_test(names_are_ldh_labels_within_rfc_1035_limits),
		cmocka_unit_test(servers_string_gives_ordered_nodes),
		cmocka_unit_test(numeric_forms_are_recognised),
		cmocka_unit_test(resolver_new_checks_servers_and_limits),
		cmocka_unit_test(numeric_hosts_need_no_query),
		cmocka_unit_test(bad_names_fail_without_a_query),
		cmocka_unit_test(free_cancels_pending_lookups_once),
		cmocka_unit_test(callback_may_free_the_resolver),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
