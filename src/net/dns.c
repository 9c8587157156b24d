/* dns: MX and address lookups for outbound mail, with c-ares on the
 * libevent loop of the calling thread (no thread, no blocking call).
 *
 * c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB);
 * each gets a persistent event that calls ares_process_fd(), and one timer
 * follows ares_timeout() so retries and timeouts happen without traffic.
 *
 * Every result reaches the caller through a per-lookup event made active
 * when the result is ready: a callback therefore never runs inside
 * dns_resolve_*() nor inside c-ares (so it may start lookups or free the
 * resolver), and runs exactly once. Only dns_resolver_free() calls
 * callbacks directly, with DNS_TEMPFAIL "cancelled".
 *
 * Queries go only to the configured servers and are sent with
 * ares_query(): no search list, no /etc/hosts. The pure parts (MX order,
 * null MX, name, server and address-literal checks) are in dns_parse.c. */
#include "net/dns.h"
#include "net/dns_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ares.h>
#include <arpa/nameser.h>
#include <event2/event.h>

#include "lib/log.h"

enum lookup_kind { LOOKUP_MX, LOOKUP_HOST };

struct dns_lookup;

/* One of the two address queries (AAAA, A) of a target; the c-ares arg. */
struct dns_ask {
	struct dns_target *t;
	int type;               /* ns_t_a or ns_t_aaaa */
};

/* A host whose addresses we collect: an MX host, or the name itself. */
struct dns_target {
	struct dns_lookup *lk;
	char *name;
	unsigned pref;
	struct dns_ask ask[2];
	struct in6_addr a6[DNS_MAX_ADDRS];
	struct in_addr a4[DNS_MAX_ADDRS];
	size_t n6, n4;
};

struct dns_lookup {
	struct dns_resolver *r;
	struct dns_lookup *prev, *next;  /* r->pending */
	enum lookup_kind kind;
	dns_cb cb;
	void *arg;
	char *name;              /* as asked, without a final dot */
	struct event *done_ev;   /* made active when res is ready */
	unsigned outstanding;    /* c-ares queries not answered yet (+ guards) */
	bool decided;            /* res.status/error set: no host list to build */
	bool temp;               /* some query failed in a way that may pass */
	char temp_err[sizeof ((struct dns_result *)0)->error];
	char perm_err[sizeof ((struct dns_result *)0)->error];
	struct dns_target *targets;
	size_t ntargets;
	struct sockaddr_storage *addr_block;  /* res.hosts[i].addrs point here */
	struct dns_result res;
};

struct dns_sock {
	struct dns_sock *next;
	ares_socket_t fd;
	struct event *ev;
};

struct dns_resolver {
	struct event_base *base;
	ares_channel ch;
	struct event *timer;     /* follows ares_timeout() */
	struct dns_sock *socks;  /* the sockets c-ares asked us to watch */
	struct dns_lookup *pending;
	bool freeing;            /* in dns_resolver_free: start nothing */
};

/* The text of a c-ares status for error messages. */
static const char *status_text(int st)
{
	switch (st) {
	case ARES_ENOTFOUND:
		return "domain not found";
	case ARES_ENODATA:
		return "no such record";
	case ARES_ETIMEOUT:
		return "timeout";
	case ARES_ESERVFAIL:
		return "server failure";
	case ARES_EREFUSED:
		return "query refused";
	case ARES_ECONNREFUSED:
		/* Also what c-ares 1.18 reports when every server answered
		 * SERVFAIL or REFUSED (it then tries the next server instead of
		 * passing the answer on). */
		return "refused or failed by the servers";
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return "cancelled";
	case ARES_EBADNAME:
		return "bad name";
	case ARES_ENOMEM:
		return "out of memory";
	default:
		return ares_strerror(st);
	}
}

/* Answers that say the name or record does not exist. Everything else
 * (timeout, SERVFAIL, REFUSED, a garbled reply, no memory) may pass, so
 * it is temporary: a permanent answer bounces mail. */
static bool status_is_permanent(int st)
{
	return st == ARES_ENOTFOUND || st == ARES_ENODATA || st == ARES_EBADNAME;
}

/* ---------------------------------------------------------------------
 * Event loop glue */

static void timer_update(struct dns_resolver *r)
{
	struct timeval tv;
	if (ares_timeout(r->ch, NULL, &tv))
		event_add(r->timer, &tv);
	else
		event_del(r->timer);
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;
	/* May close this socket and free this event (through on_sock_state):
	 * nothing here touches it afterwards. */
	ares_process_fd(r->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	timer_update(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct dns_resolver *r = arg;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_update(r);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct dns_sock **pp = &r->socks;
	while (*pp && (*pp)->fd != fd)
		pp = &(*pp)->next;
	struct dns_sock *s = *pp;
	if (s && s->ev) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable) {
		if (s) {
			*pp = s->next;
			free(s);
		}
		return;
	}
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s) {
			/* Unwatched, the query still ends by the timer. */
			log_warn("dns socket-watch error=\"out of memory\"");
			return;
		}
		s->fd = fd;
		s->next = r->socks;
		r->socks = s;
	}
	short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	s->ev = event_new(r->base, fd, what, on_sock, r);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		log_warn("dns socket-watch error=\"cannot add event\"");
}

/* ---------------------------------------------------------------------
 * Lookups */

static void lookup_unlink(struct dns_lookup *lk)
{
	if (lk->prev)
		lk->prev->next = lk->next;
	else
		lk->r->pending = lk->next;
	if (lk->next)
		lk->next->prev = lk->prev;
	lk->prev = lk->next = NULL;
}

static void result_clear(struct dns_lookup *lk)
{
	free(lk->res.hosts);
	free(lk->addr_block);
	lk->res.hosts = NULL;
	lk->addr_block = NULL;
	lk->res.nhosts = 0;
}

/* Touches only lk: the callback may have freed the resolver. */
static void lookup_free(struct dns_lookup *lk)
{
	if (lk->done_ev)
		event_free(lk->done_ev);
	for (size_t i = 0; i < lk->ntargets; i++)
		free(lk->targets[i].name);
	free(lk->targets);
	result_clear(lk);
	free(lk->name);
	free(lk);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct dns_lookup *lk = arg;
	lookup_unlink(lk);
	lk->cb(lk->arg, &lk->res);
	lookup_free(lk);
}

/* A final answer that needs no host list (NXDOMAIN, null MX, ...). A
 * macro, not a varargs function: clang-tidy 14 misreads va_list in a file
 * compiled into several targets (here: facteur, test_dns, dnsq). */
#define lookup_decide(lk, st, ...)                                                \
	do {                                                                      \
		(lk)->decided = true;                                             \
		(lk)->res.status = (st);                                          \
		snprintf((lk)->res.error, sizeof (lk)->res.error, __VA_ARGS__);   \
	} while (0)

static const char *type_name(int type)
{
	return type == ns_t_aaaa ? "AAAA" : "A";
}

/* Notes why a query gave no answer; the first of each kind is kept. */
static void note_failure(struct dns_lookup *lk, const char *what, const char *name, int st)
{
	bool perm = status_is_permanent(st);
	char *buf = perm ? lk->perm_err : lk->temp_err;
	if (!perm)
		lk->temp = true;
	if (buf[0] == '\0')
		snprintf(buf, sizeof lk->temp_err, "%s lookup for %s: %s", what, name,
			 status_text(st));
}

static void fill_host(struct dns_host *h, struct dns_target *t, struct sockaddr_storage *ss)
{
	h->name = t->name;
	h->pref = t->pref;
	h->addrs = ss;
	h->naddrs = t->n6 + t->n4;
	/* IPv6 first: a dual-stack client prefers it, and falls back to IPv4
	 * addresses of the same host before the next MX host. */
	for (size_t i = 0; i < t->n6; i++) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss[i];
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = t->a6[i];
	}
	for (size_t i = 0; i < t->n4; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss[t->n6 + i];
		sin->sin_family = AF_INET;
		sin->sin_addr = t->a4[i];
	}
}

/* The host list from the targets, in order, without address-less ones. */
static bool build_hosts(struct dns_lookup *lk)
{
	size_t nh = 0, na = 0;
	for (size_t i = 0; i < lk->ntargets; i++) {
		size_t k = lk->targets[i].n6 + lk->targets[i].n4;
		nh += k > 0;
		na += k;
	}
	if (nh == 0)
		return true;
	lk->res.hosts = calloc(nh, sizeof *lk->res.hosts);
	lk->addr_block = calloc(na, sizeof *lk->addr_block);
	if (!lk->res.hosts || !lk->addr_block) {
		result_clear(lk);
		return false;
	}
	size_t h = 0, a = 0;
	for (size_t i = 0; i < lk->ntargets; i++) {
		struct dns_target *t = &lk->targets[i];
		if (t->n6 + t->n4 == 0)
			continue;
		fill_host(&lk->res.hosts[h++], t, &lk->addr_block[a]);
		a += t->n6 + t->n4;
	}
	lk->res.nhosts = nh;
	return true;
}

/* The outcome once every query has answered. Hosts without addresses are
 * dropped, also those whose lookup failed temporarily when others have
 * addresses: the client tries the remaining hosts in order (RFC 5321
 * 5.1), and the queue retries if they all fail. When no host is left: if
 * a query failed temporarily the answer may differ on the next try, so
 * DNS_TEMPFAIL; otherwise every name was answered, with NXDOMAIN or no
 * address record. RFC 5321 5.1 requires that to be reported as an error
 * ("MX records are present, but none of them are usable, or the implicit
 * MX is unusable"), and retrying will not change it: DNS_NO_DOMAIN, a
 * permanent failure. */
static void lookup_conclude(struct dns_lookup *lk)
{
	if (!build_hosts(lk)) {
		lookup_decide(lk, DNS_TEMPFAIL, "%s: out of memory", lk->name);
		return;
	}
	if (lk->res.nhosts > 0) {
		lk->res.status = DNS_OK;
		return;
	}
	if (lk->temp) {
		lookup_decide(lk, DNS_TEMPFAIL, "%s", lk->temp_err);
		return;
	}
	if (lk->kind == LOOKUP_HOST)
		lookup_decide(lk, DNS_NO_DOMAIN, "%s", lk->perm_err);
	else if (lk->res.implicit_mx)
		lookup_decide(lk, DNS_NO_DOMAIN, "%s has no MX record and no address",
			      lk->name);
	else
		lookup_decide(lk, DNS_NO_DOMAIN, "no MX host of %s has an address",
			      lk->name);
}

/* Ends one outstanding query (or guard); the last one makes the result and
 * schedules its delivery. While the resolver is being freed nothing is
 * delivered here: dns_resolver_free() cancels what is left. */
static void lookup_release(struct dns_lookup *lk)
{
	if (--lk->outstanding > 0 || lk->r->freeing)
		return;
	if (!lk->decided)
		lookup_conclude(lk);
	event_active(lk->done_ev, EV_TIMEOUT, 1);
}

static void copy_a(struct dns_target *t, const unsigned char *abuf, int alen,
		   int *st)
{
	struct ares_addrttl a[DNS_MAX_ADDRS];
	int n = DNS_MAX_ADDRS;
	*st = ares_parse_a_reply(abuf, alen, NULL, a, &n);
	for (int i = 0; *st == ARES_SUCCESS && i < n; i++)
		t->a4[t->n4++] = a[i].ipaddr;
}

static void copy_aaaa(struct dns_target *t, const unsigned char *abuf, int alen,
		      int *st)
{
	struct ares_addr6ttl a[DNS_MAX_ADDRS];
	int n = DNS_MAX_ADDRS;
	*st = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
	for (int i = 0; *st == ARES_SUCCESS && i < n; i++)
		memcpy(&t->a6[t->n6++], &a[i].ip6addr, sizeof t->a6[0]);
}

static void on_addr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct dns_ask *ask = arg;
	struct dns_target *t = ask->t;
	struct dns_lookup *lk = t->lk;
	if (!lk->r->freeing) {
		if (status == ARES_SUCCESS && ask->type == ns_t_a)
			copy_a(t, abuf, alen, &status);
		else if (status == ARES_SUCCESS)
			copy_aaaa(t, abuf, alen, &status);
		if (status != ARES_SUCCESS)
			note_failure(lk, type_name(ask->type), t->name, status);
	}
	lookup_release(lk);
}

static void target_start(struct dns_target *t)
{
	static const int types[2] = { ns_t_aaaa, ns_t_a };
	struct dns_lookup *lk = t->lk;
	for (int i = 0; i < 2; i++) {
		t->ask[i].t = t;
		t->ask[i].type = types[i];
		/* Counted first: c-ares may call back before returning. */
		lk->outstanding++;
		ares_query(lk->r->ch, t->name, ns_c_in, types[i], on_addr, &t->ask[i]);
	}
}

static bool targets_alloc(struct dns_lookup *lk, size_t n)
{
	lk->ntargets = 0;
	lk->targets = calloc(n, sizeof *lk->targets);
	if (!lk->targets)
		return false;
	for (size_t i = 0; i < n; i++)
		lk->targets[i].lk = lk;
	return true;
}

/* The domain itself as its only host: no MX record (RFC 5321 5.1). */
static void start_implicit(struct dns_lookup *lk)
{
	lk->res.implicit_mx = true;
	if (!targets_alloc(lk, 1) || !(lk->targets[0].name = strdup(lk->name))) {
		lookup_decide(lk, DNS_TEMPFAIL, "%s: out of memory", lk->name);
		return;
	}
	lk->ntargets = 1;
	target_start(&lk->targets[0]);
}

static unsigned random_below(unsigned n)
{
	return arc4random_uniform(n);
}

/* Keeps the first DNS_MAX_HOSTS usable, distinct hosts of the sorted list:
 * a "." among other records is ignored (RFC 7505 3), as is a host name
 * we would not query. */
static void start_mx_hosts(struct dns_lookup *lk, struct dns_mx *mx, size_t n)
{
	if (!targets_alloc(lk, n < DNS_MAX_HOSTS ? n : DNS_MAX_HOSTS)) {
		lookup_decide(lk, DNS_TEMPFAIL, "%s: out of memory", lk->name);
		return;
	}
	for (size_t i = 0; i < n && lk->ntargets < DNS_MAX_HOSTS; i++) {
		bool dup = dns_mx_host_is_root(mx[i].host) || !dns_name_is_valid(mx[i].host);
		for (size_t k = 0; !dup && k < lk->ntargets; k++)
			dup = strcasecmp(lk->targets[k].name, mx[i].host) == 0;
		if (dup)
			continue;
		struct dns_target *t = &lk->targets[lk->ntargets];
		if (!(t->name = strdup(mx[i].host))) {
			lookup_decide(lk, DNS_TEMPFAIL, "%s: out of memory", lk->name);
			return;
		}
		t->pref = mx[i].pref;
		lk->ntargets++;
	}
	if (lk->ntargets == 0) {
		lookup_decide(lk, DNS_NO_DOMAIN, "%s has no usable MX host", lk->name);
		return;
	}
	for (size_t i = 0; i < lk->ntargets; i++)
		target_start(&lk->targets[i]);
}

static void mx_records(struct dns_lookup *lk, struct ares_mx_reply *list)
{
	size_t n = 0;
	for (struct ares_mx_reply *m = list; m; m = m->next)
		n++;
	if (n == 0) {
		/* c-ares says ARES_ENODATA instead; just in case. */
		start_implicit(lk);
		return;
	}
	struct dns_mx *mx = calloc(n, sizeof *mx);
	if (!mx) {
		lookup_decide(lk, DNS_TEMPFAIL, "%s: out of memory", lk->name);
		return;
	}
	n = 0;
	for (struct ares_mx_reply *m = list; m; m = m->next)
		mx[n++] = (struct dns_mx){ m->host, m->priority };
	if (dns_mx_is_null(mx, n))
		lookup_decide(lk, DNS_NULL_MX, "%s accepts no mail (null MX)", lk->name);
	else {
		/* Sorted before the cut to DNS_MAX_HOSTS, so the best stay. */
		dns_mx_sort(mx, n, random_below);
		start_mx_hosts(lk, mx, n);
	}
	free(mx);
}

static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct dns_lookup *lk = arg;
	struct ares_mx_reply *list = NULL;
	if (lk->r->freeing) {
		lookup_release(lk);
		return;
	}
	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &list);
	if (status == ARES_SUCCESS)
		mx_records(lk, list);
	else if (status == ARES_ENODATA)
		start_implicit(lk);
	else
		lookup_decide(lk, status_is_permanent(status) ? DNS_NO_DOMAIN : DNS_TEMPFAIL,
			      "MX lookup for %s: %s", lk->name, status_text(status));
	if (list)
		ares_free_data(list);
	lookup_release(lk);
}

/* A lookup in r->pending, with its delivery event and one guard count
 * (released by the caller once every query is started). NULL: no memory. */
static struct dns_lookup *lookup_new(struct dns_resolver *r, enum lookup_kind kind,
				     const char *name, dns_cb cb, void *arg)
{
	struct dns_lookup *lk = calloc(1, sizeof *lk);
	if (!lk)
		return NULL;
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--; /* results carry names without the final dot */
	lk->name = strndup(name, len);
	lk->done_ev = event_new(r->base, -1, 0, on_done, lk);
	if (!lk->name || !lk->done_ev) {
		lookup_free(lk);
		return NULL;
	}
	lk->r = r;
	lk->kind = kind;
	lk->cb = cb;
	lk->arg = arg;
	lk->outstanding = 1;
	lk->res.status = DNS_TEMPFAIL;
	lk->next = r->pending;
	if (r->pending)
		r->pending->prev = lk;
	r->pending = lk;
	return lk;
}

static struct dns_lookup *lookup_new_or_die(struct dns_resolver *r, enum lookup_kind kind,
					    const char *name, dns_cb cb, void *arg)
{
	struct dns_lookup *lk = lookup_new(r, kind, name, cb, arg);
	if (!lk) {
		/* The contract (one callback, never from inside this call) cannot
		 * be kept without a few hundred bytes; the queue is on disk. */
		log_error("dns lookup error=\"out of memory\"");
		abort();
	}
	return lk;
}

/* A numeric host as the only target (no query). Returns false when name
 * is no address; a bracketed form that is no address decides the lookup
 * as DNS_NO_DOMAIN. */
static bool numeric_target(struct dns_lookup *lk, const char *name)
{
	struct dns_numeric num;
	switch (dns_parse_numeric(name, &num)) {
	case DNS_NUMERIC_NONE:
		return false;
	case DNS_NUMERIC_BAD:
		lookup_decide(lk, DNS_NO_DOMAIN, "bad address literal");
		return true;
	case DNS_NUMERIC_ADDR:
		break;
	}
	if (!targets_alloc(lk, 1) || !(lk->targets[0].name = strdup(num.text))) {
		lookup_decide(lk, DNS_TEMPFAIL, "%s: out of memory", num.text);
		return true;
	}
	struct dns_target *t = &lk->targets[0];
	lk->ntargets = 1;
	if (num.family == AF_INET)
		t->a4[t->n4++] = num.a4;
	else
		t->a6[t->n6++] = num.a6;
	return true;
}

void dns_resolve_mx(struct dns_resolver *r, const char *domain, dns_cb cb, void *arg)
{
	struct dns_lookup *lk = lookup_new_or_die(r, LOOKUP_MX, domain, cb, arg);
	if (r->freeing)
		return; /* cancelled by dns_resolver_free(), which is running */
	if (lk->name[0] == '[') {
		/* An address literal (RFC 5321 4.1.3) has no MX: it is its
		 * own host. */
		numeric_target(lk, lk->name);
		lk->res.implicit_mx = lk->ntargets > 0;
	} else if (!dns_name_is_valid(lk->name)) {
		lookup_decide(lk, DNS_NO_DOMAIN, "bad domain name");
	} else {
		lk->outstanding++;
		ares_query(r->ch, lk->name, ns_c_in, ns_t_mx, on_mx, lk);
	}
	lookup_release(lk);
	timer_update(r);
}

void dns_resolve_host(struct dns_resolver *r, const char *host, dns_cb cb, void *arg)
{
	struct dns_lookup *lk = lookup_new_or_die(r, LOOKUP_HOST, host, cb, arg);
	if (r->freeing)
		return;
	if (!numeric_target(lk, lk->name)) {
		if (!dns_name_is_valid(lk->name))
			lookup_decide(lk, DNS_NO_DOMAIN, "bad host name");
		else if (!targets_alloc(lk, 1) || !(lk->targets[0].name = strdup(lk->name)))
			lookup_decide(lk, DNS_TEMPFAIL, "%s: out of memory", lk->name);
		else {
			lk->ntargets = 1;
			target_start(&lk->targets[0]);
		}
	}
	lookup_release(lk);
	timer_update(r);
}

/* ---------------------------------------------------------------------
 * Resolver */

static int channel_new(struct dns_resolver *r, unsigned timeout_ms, unsigned tries)
{
	struct ares_options o;
	memset(&o, 0, sizeof o);
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = r;
	/* c-ares 1.18 waits timeout_ms for the first round over the servers
	 * and doubles the wait each round: tries 3 at 1000 ms ends after
	 * 1 + 2 + 4 s with one server. */
	o.timeout = (int)timeout_ms;
	o.tries = (int)tries;
	/* lookups "b": DNS only, should anything consult it; our queries
	 * never read /etc/hosts anyway. */
	char lookups[] = "b";
	o.lookups = lookups;
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
		   ARES_OPT_LOOKUPS;
	return ares_init_options(&r->ch, &o, mask);
}

static bool resolver_setup(struct dns_resolver *r, const char *servers,
			   unsigned timeout_ms, unsigned tries, char *err, size_t errlen)
{
	struct ares_addr_port_node nodes[DNS_MAX_SERVERS];
	size_t n = 0;
	if (servers && servers[0] != '\0') {
		n = dns_parse_servers(servers, nodes, err, errlen);
		if (n == 0)
			return false;
	}
	r->timer = event_new(r->base, -1, 0, on_timer, r);
	if (!r->timer) {
		snprintf(err, errlen, "dns: cannot create timer");
		return false;
	}
	int st = ares_library_init(ARES_LIB_INIT_ALL);
	if (st == ARES_SUCCESS && (st = channel_new(r, timeout_ms, tries)) != ARES_SUCCESS)
		ares_library_cleanup();
	if (st != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: %s", ares_strerror(st));
		return false;
	}
	/* Replaces what /etc/resolv.conf gave before any query is sent. */
	if (n > 0 && (st = ares_set_servers_ports(r->ch, nodes)) != ARES_SUCCESS) {
		snprintf(err, errlen, "dns servers: %s", ares_strerror(st));
		ares_destroy(r->ch);
		r->ch = NULL;
		ares_library_cleanup();
		return false;
	}
	return true;
}

struct dns_resolver *dns_resolver_new(struct event_base *base, const char *servers,
				      unsigned timeout_ms, unsigned tries,
				      char *err, size_t errlen)
{
	if (timeout_ms == 0 || timeout_ms > DNS_TIMEOUT_MAX || tries == 0 ||
	    tries > DNS_TRIES_MAX) {
		snprintf(err, errlen, "dns: timeout must be 1..%u ms and tries 1..%u",
			 DNS_TIMEOUT_MAX, DNS_TRIES_MAX);
		return NULL;
	}
	struct dns_resolver *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "dns: out of memory");
		return NULL;
	}
	r->base = base;
	if (!resolver_setup(r, servers, timeout_ms, tries, err, errlen)) {
		if (r->timer)
			event_free(r->timer);
		free(r);
		return NULL;
	}
	return r;
}

/* lk is already out of r->pending. */
static void lookup_cancel(struct dns_lookup *lk)
{
	result_clear(lk);
	lk->res.status = DNS_TEMPFAIL;
	lk->res.implicit_mx = false;
	snprintf(lk->res.error, sizeof lk->res.error, "%s lookup for %s: cancelled",
		 lk->kind == LOOKUP_MX ? "MX" : "address", lk->name);
	lk->cb(lk->arg, &lk->res);
	lookup_free(lk);
}

void dns_resolver_free(struct dns_resolver **rp)
{
	struct dns_resolver *r = *rp;
	*rp = NULL;
	if (!r || r->freeing)
		return;
	r->freeing = true;
	/* c-ares answers every query with ARES_EDESTRUCTION here and closes
	 * its sockets through on_sock_state(); with freeing set, our query
	 * callbacks only count down and start nothing. */
	ares_destroy(r->ch);
	ares_library_cleanup();
	while (r->socks) {
		struct dns_sock *s = r->socks;
		r->socks = s->next;
		if (s->ev)
			event_free(s->ev);
		free(s);
	}
	event_free(r->timer);
	/* A callback may start a lookup (it lands here, and is cancelled in
	 * turn) but not send a query: the channel is gone. */
	while (r->pending) {
		struct dns_lookup *lk = r->pending;
		r->pending = lk->next;
		if (r->pending)
			r->pending->prev = NULL;
		lk->next = NULL;
		lookup_cancel(lk);
	}
	free(r);
}
