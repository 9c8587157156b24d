/* fuzz_dns: what the relay makes of DNS data and DNS settings.
 *
 * The input is used three ways: as a DNS answer packet for an MX query
 * (c-ares parses it; facteur then sorts the records and looks for a null
 * MX, RFC 7505), as a dns_servers setting, and as a host name / address
 * literal. Invariants: the sort is a permutation ordered by preference,
 * null MX only for a single "." of preference 0, a servers list within
 * DNS_MAX_SERVERS with a reason when empty, numeric addresses re-parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "net/dns.h"
#include "net/dns_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned fuzz_rnd_state;
static unsigned fuzz_rnd(unsigned n)
{
	fuzz_rnd_state = fuzz_rnd_state * 1103515245u + 12345u;
	return n ? (fuzz_rnd_state >> 8) % n : 0;
}

static void check_mx(const uint8_t *data, size_t size)
{
	struct ares_mx_reply *mx = NULL;
	if (size > 65535 || ares_parse_mx_reply(data, (int)size, &mx) != ARES_SUCCESS)
		return;
	struct dns_mx list[64];
	size_t n = 0;
	for (struct ares_mx_reply *m = mx; m && n < 64; m = m->next)
		list[n++] = (struct dns_mx){ m->host, m->priority };
	fuzz_rnd_state = size;
	bool null_mx = dns_mx_is_null(list, n);
	if (null_mx && !(n == 1 && list[0].pref == 0 && dns_mx_host_is_root(list[0].host)))
		abort();
	unsigned long sum_before = 0, sum_after = 0;
	for (size_t i = 0; i < n; i++)
		sum_before += list[i].pref;
	dns_mx_sort(list, n, fuzz_rnd);
	for (size_t i = 0; i < n; i++) {
		sum_after += list[i].pref;
		if (i && list[i - 1].pref > list[i].pref)
			abort();
	}
	if (sum_before != sum_after)
		abort();
	ares_free_data(mx);
}

static void check_text(const uint8_t *data, size_t size)
{
	char s[600];
	size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
	memcpy(s, data, n);
	s[n] = '\0';
	struct ares_addr_port_node nodes[DNS_MAX_SERVERS];
	char err[160] = "";
	size_t k = dns_parse_servers(s, nodes, err, sizeof err);
	if (k > DNS_MAX_SERVERS || (k == 0 && !err[0]))
		abort();
	if (dns_name_is_valid(s) && (strlen(s) > DNS_NAME_MAX || s[strlen(s) - 1] == '.'))
		abort();
	struct dns_numeric num;
	if (dns_parse_numeric(s, &num) == DNS_NUMERIC_ADDR) {
		struct dns_numeric again;
		if (dns_parse_numeric(num.text, &again) != DNS_NUMERIC_ADDR ||
		    again.family != num.family)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_mx(data, size);
	check_text(data, size);
	return 0;
}
