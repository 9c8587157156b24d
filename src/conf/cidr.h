/* cidr: address ranges ("127.0.0.0/8", "::1/128", "192.0.2.7") and the
 * test "is this peer inside one of them". Pure. */
#ifndef FACTEUR_CONF_CIDR_H
#define FACTEUR_CONF_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;     /* bits */
};

/* Parses one range; a bare address is a /32 or /128. Host bits must be
 * zero ("10.0.0.1/8" is refused as a likely typo). */
bool cidr_parse(const char *s, struct cidr *out);
/* addr is a numeric address as the daemon prints peers. IPv4-mapped IPv6
 * addresses match IPv4 ranges. */
bool cidr_match_text(const struct cidr *list, size_t n, const char *addr);

#endif
