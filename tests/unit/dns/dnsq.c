/* dnsq: one lookup through src/net/dns.c, printed in a stable text form
 * for tests/integration/test_dns.py. Not installed.
 *
 *   dnsq --server SERVERS [--timeout MS] [--tries N] [--cancel MS] mx DOMAIN
 *   dnsq --server SERVERS [...] host NAME
 *
 * --server is required so that a test never asks the system's resolver
 * by accident ("" does mean /etc/resolv.conf). --cancel MS frees the
 * resolver after MS milliseconds, ending the lookup with "cancelled".
 *
 * Output, one item per line:
 *   status OK|NULL_MX|NO_DOMAIN|TEMPFAIL
 *   implicit yes|no
 *   host PREF NAME ADDR...      (per host, in order; addresses as given)
 *   error TEXT                  (when the result has one)
 * Exit 0 whatever the DNS answer; 1 when the resolver cannot start; 2 on
 * a usage error; 3 when the callback contract is broken (not exactly one
 * call, or a call from inside dns_resolve_*). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "lib/strnum.h"
#include "net/dns.h"

struct run {
	struct dns_resolver *r;
	bool in_call;
	int calls;
	bool broken;
};

static const char *status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "OK";
	case DNS_NULL_MX:
		return "NULL_MX";
	case DNS_NO_DOMAIN:
		return "NO_DOMAIN";
	case DNS_TEMPFAIL:
		return "TEMPFAIL";
	}
	return "?";
}

static void print_addr(const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof a);
	else if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof a);
	printf(" %s", a);
}

static void on_result(void *arg, const struct dns_result *res)
{
	struct run *run = arg;
	run->calls++;
	if (run->in_call) {
		fprintf(stderr, "dnsq: callback ran inside dns_resolve_*\n");
		run->broken = true;
	}
	printf("status %s\n", status_name(res->status));
	printf("implicit %s\n", res->implicit_mx ? "yes" : "no");
	for (size_t i = 0; i < res->nhosts; i++) {
		const struct dns_host *h = &res->hosts[i];
		printf("host %u %s", h->pref, h->name);
		for (size_t k = 0; k < h->naddrs; k++)
			print_addr(&h->addrs[k]);
		printf("\n");
	}
	if (res->error[0] != '\0')
		printf("error %s\n", res->error);
	fflush(stdout);
	/* Freeing from inside the callback is part of the contract. */
	dns_resolver_free(&run->r);
}

static void on_cancel(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct run *run = arg;
	dns_resolver_free(&run->r);
}

static int usage(void)
{
	fprintf(stderr, "usage: dnsq --server SERVERS [--timeout MS] [--tries N] "
			"[--cancel MS] mx DOMAIN | host NAME\n");
	return 2;
}

static bool number(const char *s, uint64_t max, unsigned *out)
{
	uint64_t v;
	if (!s || !strnum_u64_cstr(s, max, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

static int lookup(const char *servers, unsigned timeout, unsigned tries, unsigned cancel_ms,
		  bool mx, const char *name)
{
	struct event_base *base = event_base_new();
	if (!base)
		return 1;
	char err[160] = "";
	struct run run = { 0 };
	run.r = dns_resolver_new(base, servers, timeout, tries, err, sizeof err);
	if (!run.r) {
		fprintf(stderr, "dnsq: %s\n", err);
		event_base_free(base);
		return 1;
	}
	struct event *cancel = NULL;
	if (cancel_ms > 0) {
		cancel = evtimer_new(base, on_cancel, &run);
		struct timeval tv = { cancel_ms / 1000, (cancel_ms % 1000) * 1000 };
		if (!cancel || evtimer_add(cancel, &tv) < 0)
			return 1;
	}
	run.in_call = true;
	if (mx)
		dns_resolve_mx(run.r, name, on_result, &run);
	else
		dns_resolve_host(run.r, name, on_result, &run);
	run.in_call = false;
	/* Runs until the callback (or the cancel timer) has freed the
	 * resolver. A loop with nothing left to wait for before that means
	 * a lookup that would never end. */
	while (run.r) {
		if (event_base_loop(base, EVLOOP_ONCE) != 0) {
			fprintf(stderr, "dnsq: nothing left to wait for, no result\n");
			run.broken = true;
			break;
		}
	}
	if (cancel)
		event_free(cancel);
	dns_resolver_free(&run.r);
	event_base_free(base);
	if (run.calls != 1 || run.broken) {
		fprintf(stderr, "dnsq: callback ran %d times\n", run.calls);
		return 3;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *servers = NULL;
	unsigned timeout = 1000, tries = 2, cancel_ms = 0;
	int i = 1;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		const char *v = argv[i + 1];
		if (strcmp(argv[i], "--server") == 0)
			servers = v;
		else if (strcmp(argv[i], "--timeout") == 0 ? !number(v, 600000, &timeout)
			 : strcmp(argv[i], "--tries") == 0 ? !number(v, 5, &tries)
			 : strcmp(argv[i], "--cancel") == 0 ? !number(v, 600000, &cancel_ms)
			 : true)
			return usage();
	}
	if (!servers || argc - i != 2)
		return usage();
	bool mx = strcmp(argv[i], "mx") == 0;
	if (!mx && strcmp(argv[i], "host") != 0)
		return usage();
	return lookup(servers, timeout, tries, cancel_ms, mx, argv[i + 1]);
}
