/* dns_parse: the pure parts of the resolver: MX ordering and the null MX
 * test (dns.h), and the checks on what dns.c is given: host names, the
 * servers string, numeric hosts. No I/O, no allocation, no c-ares call
 * (only its server-list struct). */
#include "net/dns.h"
#include "net/dns_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/strnum.h"

void dns_mx_sort(struct dns_mx *mx, size_t n, unsigned (*rnd)(unsigned n))
{
	/* Insertion sort: stable (so rnd == NULL keeps the given order) and
	 * without allocation; n is bounded by one DNS message. */
	for (size_t i = 1; i < n; i++) {
		struct dns_mx v = mx[i];
		size_t j = i;
		for (; j > 0 && mx[j - 1].pref > v.pref; j--)
			mx[j] = mx[j - 1];
		mx[j] = v;
	}
	if (!rnd)
		return;
	/* RFC 5321 5.1: equal preferences are tried in random order, which
	 * spreads the load. Fisher-Yates within each run of equal values. */
	for (size_t start = 0; start < n;) {
		size_t end = start + 1;
		while (end < n && mx[end].pref == mx[start].pref)
			end++;
		for (size_t i = end - start; i > 1; i--) {
			unsigned bound = i > UINT_MAX ? UINT_MAX : (unsigned)i;
			/* % keeps a misbehaving rnd inside the array. */
			size_t j = rnd(bound) % i;
			struct dns_mx tmp = mx[start + i - 1];
			mx[start + i - 1] = mx[start + j];
			mx[start + j] = tmp;
		}
		start = end;
	}
}

bool dns_mx_host_is_root(const char *host)
{
	return !host || host[0] == '\0' || strcmp(host, ".") == 0;
}

bool dns_mx_is_null(const struct dns_mx *mx, size_t n)
{
	return n == 1 && mx[0].pref == 0 && dns_mx_host_is_root(mx[0].host);
}

/* '_' is not LDH but appears in real host names. Anything else is refused
 * before it reaches c-ares, which would read '\\' as an escape and could
 * be made to ask for a different name than the one logged. */
bool dns_name_is_valid(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return false;
		if (++label > DNS_LABEL_MAX)
			return false;
	}
	return label > 0;
}

/* ---------------------------------------------------------------------
 * Servers string. Parsed here rather than by ares_set_servers_ports_csv(),
 * which in c-ares 1.18 refuses blanks after the commas and "[v6]" without
 * a port, and takes port 99999 for 34463. */

static bool parse_port(const char *s, int *port)
{
	uint64_t v;
	if (!strnum_u64_cstr(s, 65535, &v) || v == 0)
		return false;
	*port = (int)v;
	return true;
}

/* One entry: "v4", "v4:port", "v6", "[v6]", "[v6]:port". */
static bool parse_server(char *s, struct ares_addr_port_node *n)
{
	char *host = s, *port = NULL;
	bool bracket = s[0] == '[';
	if (bracket) {
		char *close = strchr(s, ']');
		if (!close)
			return false;
		*close = '\0';
		host = s + 1;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return false;
	} else {
		char *colon = strchr(s, ':');
		/* A second colon: a bare IPv6 address, which takes no port. */
		if (colon && !strchr(colon + 1, ':')) {
			*colon = '\0';
			port = colon + 1;
		}
	}
	if (port && !parse_port(port, &n->udp_port))
		return false;
	n->tcp_port = n->udp_port;
	if (!bracket && inet_pton(AF_INET, host, &n->addr.addr4) == 1) {
		n->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host, &n->addr.addr6) == 1) {
		n->family = AF_INET6;
		return true;
	}
	return false;
}

size_t dns_parse_servers(const char *spec, struct ares_addr_port_node nodes[DNS_MAX_SERVERS],
			 char *err, size_t errlen)
{
	size_t n = 0;
	const char *p = spec;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, ",");
		size_t end = len;
		while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		char one[64]; /* "[" INET6_ADDRSTRLEN "]:65535" */
		if (n == DNS_MAX_SERVERS) {
			snprintf(err, errlen, "dns servers: more than %u", DNS_MAX_SERVERS);
			return 0;
		}
		if (end == 0 || end >= sizeof one) {
			snprintf(err, errlen, "dns servers: empty or over-long entry");
			return 0;
		}
		memcpy(one, p, end);
		one[end] = '\0';
		memset(&nodes[n], 0, sizeof nodes[n]);
		if (!parse_server(one, &nodes[n])) {
			snprintf(err, errlen, "dns servers: bad entry '%.*s'", (int)end, p);
			return 0;
		}
		if (n > 0)
			nodes[n - 1].next = &nodes[n];
		n++;
		if (p[len] == '\0')
			return n;
		p += len + 1;
	}
}

/* ---------------------------------------------------------------------
 * Numeric hosts */

enum dns_numeric_kind dns_parse_numeric(const char *s, struct dns_numeric *out)
{
	memset(out, 0, sizeof *out);
	size_t len = strlen(s);
	bool bracket = len >= 2 && s[0] == '[' && s[len - 1] == ']';
	bool tagged = false; /* "IPv6:" then only an IPv6 address will do */
	if (bracket) {
		s++;
		len -= 2;
		tagged = len >= 5 && strncasecmp(s, "IPv6:", 5) == 0;
		if (tagged) {
			s += 5;
			len -= 5;
		}
	}
	enum dns_numeric_kind fail = bracket ? DNS_NUMERIC_BAD : DNS_NUMERIC_NONE;
	if (len >= sizeof out->text)
		return fail;
	memcpy(out->text, s, len);
	out->text[len] = '\0';
	if (!tagged && inet_pton(AF_INET, out->text, &out->a4) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, out->text, &out->a6) == 1)
		out->family = AF_INET6;
	else
		return fail;
	return DNS_NUMERIC_ADDR;
}
