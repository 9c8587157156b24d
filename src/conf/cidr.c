#include "conf/cidr.h"

#include <arpa/inet.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "lib/strnum.h"

bool cidr_parse(const char *s, struct cidr *out)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof addr)
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(out, 0, sizeof *out);
	unsigned max;
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	uint64_t p = max;
	if (slash && !strnum_u64_cstr(slash + 1, max, &p))
		return false;
	out->prefix = (unsigned)p;
	/* Host bits must be zero. */
	for (unsigned bit = out->prefix; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
			return false;
	return true;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

bool cidr_match_text(const struct cidr *list, size_t n, const char *addr)
{
	uint8_t a4[4], a6[16];
	bool is4 = inet_pton(AF_INET, addr, a4) == 1;
	bool is6 = !is4 && inet_pton(AF_INET6, addr, a6) == 1;
	if (is6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a6)) {
		memcpy(a4, a6 + 12, 4);
		is4 = true;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cidr *c = &list[i];
		if (c->family == AF_INET && is4 && prefix_equal(c->addr, a4, c->prefix))
			return true;
		if (c->family == AF_INET6 && is6 && prefix_equal(c->addr, a6, c->prefix))
			return true;
	}
	return false;
}
