/* dns: asynchronous lookups for outbound mail with c-ares, driven by the
 * libevent loop (no thread, no blocking call).
 *
 * dns_resolve_mx() gives the hosts to try for a mail domain, in order
 * (RFC 5321 5.1): its MX records by preference (equal preferences in
 * random order), each with its IPv6 and IPv4 addresses; no MX record ->
 * the domain itself as the only host (implicit MX); a null MX (RFC 7505:
 * one MX "." of preference 0) -> DNS_NULL_MX. dns_resolve_host() looks up
 * one host name's A and AAAA (a numeric address needs no query). */
#ifndef FACTEUR_NET_DNS_H
#define FACTEUR_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct dns_resolver;

enum dns_status {
	DNS_OK,          /* hosts[] has >= 1 host with >= 1 address */
	DNS_NULL_MX,     /* the domain accepts no mail: permanent (5.1.10) */
	DNS_NO_DOMAIN,   /* NXDOMAIN, or no MX and no address: permanent (5.1.2) */
	DNS_TEMPFAIL,    /* timeout, SERVFAIL, refused, cancelled: retry later */
};

struct dns_host {
	char *name;                    /* host name as found (no final dot) */
	unsigned pref;                 /* MX preference; 0 for implicit/host */
	struct sockaddr_storage *addrs; /* port 0; IPv6 first, then IPv4 */
	size_t naddrs;
};

struct dns_result {
	enum dns_status status;
	bool implicit_mx;              /* no MX: the domain's own addresses */
	struct dns_host *hosts;        /* at most 16, those without addresses dropped */
	size_t nhosts;
	char error[160];               /* why, for logs and DSNs, when not DNS_OK */
};

/* servers: "ip[:port], ..." ("[v6]:port" for IPv6) or NULL/"" for the
 * system's /etc/resolv.conf. timeout_ms per try; tries 1..5. */
struct dns_resolver *dns_resolver_new(struct event_base *base, const char *servers,
				      unsigned timeout_ms, unsigned tries,
				      char *err, size_t errlen);
/* Ends every pending lookup with DNS_TEMPFAIL "cancelled" (callbacks run
 * from inside this call) and frees the resolver. */
void dns_resolver_free(struct dns_resolver **rp);

/* The result (and everything in it) lives only during the callback. The
 * callback always runs exactly once, never from inside the dns_resolve_*
 * call itself. */
typedef void (*dns_cb)(void *arg, const struct dns_result *r);
void dns_resolve_mx(struct dns_resolver *r, const char *domain, dns_cb cb, void *arg);
void dns_resolve_host(struct dns_resolver *r, const char *host, dns_cb cb, void *arg);

/* Pure helpers (unit-tested): ------------------------------------------ */
struct dns_mx { const char *host; unsigned pref; };
/* Sorts by preference; rnd() in [0, n) shuffles equal preferences
 * (NULL = keep the given order). */
void dns_mx_sort(struct dns_mx *mx, size_t n, unsigned (*rnd)(unsigned n));
/* True for a null MX: exactly one record, host "" or ".", preference 0
 * (RFC 7505 3; a "." among other records is ignored instead). */
bool dns_mx_is_null(const struct dns_mx *mx, size_t n);

#endif
