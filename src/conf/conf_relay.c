/* conf_relay: durations, next hops and static routes for the relay keys. */
#include "conf/conf_relay.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/escape.h"
#include "lib/strnum.h"

#define CONF_ROUTES_MAX 1024

bool conf_parse_duration(const char *v, uint64_t min, uint64_t max, unsigned *out)
{
	size_t len = strlen(v);
	uint64_t mult = 1, n;
	if (len > 1) {
		switch (v[len - 1]) {
		case 's': mult = 1; len--; break;
		case 'm': mult = 60; len--; break;
		case 'h': mult = 3600; len--; break;
		case 'd': mult = 86400; len--; break;
		default: break;
		}
	}
	if (!strnum_u64(v, len, max / mult, &n) || n > max / mult || n * mult < min)
		return false;
	*out = (unsigned)(n * mult);
	return true;
}

bool conf_format_duration(struct buf *out, unsigned secs)
{
	static const struct { unsigned mult; char unit; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' },
	};
	for (size_t i = 0; secs && i < sizeof units / sizeof units[0]; i++)
		if (secs % units[i].mult == 0)
			return buf_printf(out, "%u%c", secs / units[i].mult, units[i].unit);
	return buf_printf(out, "%us", secs);
}

bool conf_parse_dest(const char *v, uint16_t default_port, struct relay_dest *d,
		     char *msg, size_t msglen)
{
	const char *host = v, *port = NULL;
	size_t hlen;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || (close[1] && close[1] != ':')) {
			snprintf(msg, msglen, "expected [IPv6]:port");
			return false;
		}
		host = v + 1;
		hlen = (size_t)(close - host);
		port = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strchr(v, ':');
		if (colon && strchr(colon + 1, ':')) {
			snprintf(msg, msglen, "write an IPv6 address as [addr]:port");
			return false;
		}
		hlen = colon ? (size_t)(colon - v) : strlen(v);
		port = colon ? colon + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof d->host) {
		snprintf(msg, msglen, "missing or over-long host");
		return false;
	}
	memcpy(d->host, host, hlen);
	d->host[hlen] = '\0';
	unsigned char bin[16];
	bool numeric = inet_pton(AF_INET, d->host, bin) == 1 ||
		       inet_pton(AF_INET6, d->host, bin) == 1;
	if (!numeric && !conf_domain_valid(d->host)) {
		char esc[80];
		snprintf(msg, msglen, "'%s' is neither a host name nor a numeric address",
			 escape_log(esc, sizeof esc, (const uint8_t *)d->host, strlen(d->host)));
		return false;
	}
	uint64_t p = default_port;
	if (port && (!strnum_u64_cstr(port, 65535, &p) || p == 0)) {
		snprintf(msg, msglen, "port must be 1 to 65535");
		return false;
	}
	d->port = (uint16_t)p;
	return true;
}

int conf_set_routes(struct conf *c, char *v, char *msg, size_t msglen)
{
	struct relay_dest *fresh = calloc(CONF_ROUTES_MAX, sizeof *fresh);
	size_t nf = 0;
	if (!fresh) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	char *cur = v, *tok;
	while (strcmp(v, "none") != 0 && (tok = conf_next_item(&cur)) != NULL) {
		char *eq = strchr(tok, '=');
		if (!*tok || !eq) {
			snprintf(msg, msglen, "expected domain=host:port");
			goto fail;
		}
		*eq = '\0';
		for (char *p = tok; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		if (!conf_domain_valid(tok)) {
			char esc[80];
			snprintf(msg, msglen, "'%s' is not a valid domain",
				 escape_log(esc, sizeof esc, (const uint8_t *)tok, strlen(tok)));
			goto fail;
		}
		if (nf == CONF_ROUTES_MAX) {
			snprintf(msg, msglen, "more than %d routes", CONF_ROUTES_MAX);
			goto fail;
		}
		for (size_t i = 0; i < nf; i++) {
			if (!strcmp(fresh[i].domain, tok)) {
				snprintf(msg, msglen, "'%s' routed twice", tok);
				goto fail;
			}
		}
		snprintf(fresh[nf].domain, sizeof fresh[nf].domain, "%s", tok);
		if (!conf_parse_dest(eq + 1, 25, &fresh[nf], msg, msglen))
			goto fail;
		nf++;
	}
	free(c->routes);
	c->routes = fresh;
	c->nroutes = nf;
	return 0;
fail:
	free(fresh);
	return -1;
}

bool conf_format_dest(struct buf *out, const struct relay_dest *d)
{
	bool v6 = strchr(d->host, ':') != NULL;
	return buf_printf(out, "%s%s%s:%u", v6 ? "[" : "", d->host, v6 ? "]" : "",
			  (unsigned)d->port);
}
