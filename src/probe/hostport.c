/* hostport: parsing of "HOST[:PORT]" for the probe's --smtp and --pop3.
 * Pure: no name resolution here (conn.c does that). */
#include "probe/hostport.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/strnum.h"

static bool copy(char *out, size_t outsz, const char *s, size_t len)
{
	if (len == 0 || len >= outsz)
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

bool hostport_split(const char *s, const char *defport, char *host, size_t hostsz, char *port,
		    size_t portsz)
{
	const char *h = s, *p = NULL;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (close[1] != '\0' && close[1] != ':'))
			return false;
		h = s + 1;
		hlen = (size_t)(close - h);
		if (close[1] == ':')
			p = close + 2;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':')) {
			hlen = strlen(s); /* several colons: an IPv6 address alone */
		} else {
			hlen = colon ? (size_t)(colon - s) : strlen(s);
			if (colon)
				p = colon + 1;
		}
	}
	if (!copy(host, hostsz, h, hlen))
		return false;
	const char *pv = p ? p : defport;
	uint64_t n;
	if (!strnum_u64_cstr(pv, 65535, &n) || n == 0)
		return false;
	return snprintf(port, portsz, "%llu", (unsigned long long)n) < (int)portsz;
}
