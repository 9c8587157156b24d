/* dns_int: the pure parts of the resolver (dns_parse.c), shared by dns.c
 * and tests/unit/dns. Not for other modules: use dns.h. */
#ifndef FACTEUR_NET_DNS_INT_H
#define FACTEUR_NET_DNS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

#include <ares.h>

/* Limits (each bounds memory or work per lookup or per resolver). */
#define DNS_MAX_HOSTS 16u       /* MX hosts kept per domain (dns.h) */
#define DNS_MAX_ADDRS 8u        /* addresses kept per host and family */
#define DNS_MAX_SERVERS 8u      /* entries in the servers string */
#define DNS_NAME_MAX 253u       /* text form of 255 wire octets (RFC 1035 2.3.4) */
#define DNS_LABEL_MAX 63u       /* RFC 1035 2.3.4 */
#define DNS_TIMEOUT_MAX 600000u /* ms for the first try */
#define DNS_TRIES_MAX 5u

/* True for "", "." and NULL: the root, as an MX host means "no host". */
bool dns_mx_host_is_root(const char *host);

/* A name we are willing to query: LDH labels (and '_'), 1..63 octets
 * each, 253 in all, no final dot. */
bool dns_name_is_valid(const char *s);

/* "ip[:port], ..." ("[v6]:port", or a bare "v6" without port), blanks
 * around entries allowed, at most DNS_MAX_SERVERS. Fills nodes[] linked in
 * order (port 0: c-ares' default 53); returns their number, or 0 with a
 * reason in err. */
size_t dns_parse_servers(const char *spec, struct ares_addr_port_node nodes[DNS_MAX_SERVERS],
			 char *err, size_t errlen);

enum dns_numeric_kind {
	DNS_NUMERIC_NONE,    /* not an address: a name to look up */
	DNS_NUMERIC_ADDR,    /* an address, in the struct */
	DNS_NUMERIC_BAD,     /* "[...]" that holds no address */
};
struct dns_numeric {
	int family;          /* AF_INET or AF_INET6 */
	struct in_addr a4;
	struct in6_addr a6;
	char text[64];       /* the address as written, without brackets */
};
/* "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "[192.0.2.1]" and the
 * address literal "[IPv6:2001:db8::1]" (RFC 5321 4.1.3). */
enum dns_numeric_kind dns_parse_numeric(const char *s, struct dns_numeric *out);

#endif
