/* relay_session: one outbound SMTP connection for a destination: resolve
 * it, connect to its hosts in order until one greets us, then deliver the
 * destination's jobs one after another on that connection, QUIT when none
 * is left. The protocol is proto/smtp_client.c; this file moves its bytes
 * (libevent bufferevents, OpenSSL filter for STARTTLS) and its timers.
 *
 * RFC 5321 5.1: a host that cannot be reached or answers the greeting or
 * EHLO with an error is skipped for the next one; only when every host
 * failed do the waiting jobs fail (temporarily, unless every host said
 * 5xx). A TLS handshake that fails under opportunistic TLS is retried on
 * the same host without STARTTLS (RFC 3207 4.1 lets the client decide). */
#include "daemon/relay_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "daemon/server.h"
#include "lib/log.h"
#include "net/dns.h"

#define MAX_TARGETS 32
/* How long an idle session waits for another message before QUIT. */
#define RELAY_IDLE_SEC 2

struct target {
	char host[256];
	struct sockaddr_storage sa;
	socklen_t len;
};

struct rsession {
	struct relay *r;
	struct dest *d;
	struct rsession *prev, *next;
	unsigned seq;
	struct target *targets;
	size_t ntargets, cur;
	struct bufferevent *bev;
	struct smtp_client *core;
	struct event *timer;
	struct rjob *job;
	const char **rcpts;
	bool dns_pending;      /* a DNS callback is still to come */
	bool dead;             /* freed as soon as the DNS callback comes */
	bool connecting;
	bool tls_pending;      /* STARTTLS handshake under way */
	bool tls_failed;       /* ... and it failed on this host */
	bool no_starttls;      /* retrying this host without STARTTLS */
	bool ready_once;       /* some host of this session greeted us fully */
	bool idle;             /* at READY with no job, lingering (RELAY_IDLE_SEC) */
	bool any_temp;         /* a host failed temporarily (vs 5xx) */
	struct smtp_client_reply last;
	char addr[INET6_ADDRSTRLEN + 16];
};

static unsigned session_seq;

static void session_end(struct rsession *s);
static void try_next(struct rsession *s);
static bool pump(struct rsession *s);

static const char *mta_of(const struct rsession *s)
{
	return s->cur < s->ntargets ? s->targets[s->cur].host : s->d->name;
}

__attribute__((format(printf, 4, 5)))
static void set_last(struct rsession *s, unsigned code, const char *status, const char *fmt, ...)
{
	memset(&s->last, 0, sizeof s->last);
	s->last.code = code;
	snprintf(s->last.status, sizeof s->last.status, "%s", status);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last.text, sizeof s->last.text, fmt, ap);
	va_end(ap);
	if (code < 500)
		s->any_temp = true;
}

static void timer_set(struct rsession *s, unsigned secs)
{
	if (!s->timer)
		return;
	evtimer_del(s->timer);
	if (secs) {
		struct timeval tv = { (time_t)secs, 0 };
		evtimer_add(s->timer, &tv);
	}
}

static void close_link(struct rsession *s)
{
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	smtp_client_free(&s->core);
	free(s->rcpts);
	s->rcpts = NULL;
	s->connecting = s->tls_pending = false;
	timer_set(s, 0);
}

/* A job in hand when the link breaks without a DONE (should not happen:
 * the core reports DONE first) goes back to the destination. */
static void give_back_job(struct rsession *s)
{
	if (!s->job)
		return;
	struct rjob *j = s->job;
	s->job = NULL;
	struct smtp_client_reply rep;
	memset(&rep, 0, sizeof rep);
	snprintf(rep.text, sizeof rep.text, "connection to %s lost", mta_of(s));
	for (size_t i = 0; i < j->n; i++)
		relay_record(j->att, j->idx[i], &rep, mta_of(s), false);
	relay_job_done(j);
}

/* ---- the protocol core's outputs ---- */

static void start_job(struct rsession *s)
{
	struct rjob *j = dest_pop(s->d);
	if (!j) {
		/* Linger a moment for the next message to this destination
		 * (as Postfix's connection cache does): a steady stream then
		 * rides one connection instead of one per burst. */
		if (!s->r->stopping && !s->idle) {
			s->idle = true;
			return;
		}
		s->idle = false;
		struct smtp_client_in in = { SMTPC_IN_QUIT };
		smtp_client_input(s->core, &in);
		return;
	}
	s->idle = false;
	struct attempt *a = j->att;
	free(s->rcpts);
	s->rcpts = calloc(j->n, sizeof *s->rcpts);
	s->job = j;
	for (size_t i = 0; s->rcpts && i < j->n; i++)
		s->rcpts[i] = a->env.rcpts[j->idx[i]].addr;
	if (!s->rcpts ||
	    !smtp_client_start_message(s->core, a->env.sender, s->rcpts, j->n,
				       (const uint8_t *)a->msg, a->msg_len, a->env.body_8bit)) {
		give_back_job(s);
		struct smtp_client_in in = { SMTPC_IN_QUIT };
		smtp_client_input(s->core, &in);
	}
}

static void job_done(struct rsession *s, const struct smtp_client_out *out)
{
	struct rjob *j = s->job;
	s->job = NULL;
	if (!j)
		return;
	for (size_t i = 0; i < j->n && i < out->nresults; i++)
		relay_record(j->att, j->idx[i], &out->results[i].reply, mta_of(s),
			     out->results[i].accepted);
	relay_job_done(j);
}

static void start_tls(struct rsession *s)
{
	struct relay *r = s->r;
	/* Whatever the server sent after its 220 was sent before TLS and is
	 * not to be trusted (CVE-2011-0411's client side). */
	struct evbuffer *in = bufferevent_get_input(s->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	SSL *ssl = SSL_new(s->d->verify ? r->tls_verified : r->tls_opportunistic);
	struct bufferevent *tb = NULL;
	if (ssl) {
		const char *host = mta_of(s);
		SSL_set_tlsext_host_name(ssl, host);
		if (s->d->verify)
			SSL_set1_host(ssl, host);
		tb = bufferevent_openssl_filter_new(r->srv->base, s->bev, ssl,
						    BUFFEREVENT_SSL_CONNECTING,
						    BEV_OPT_CLOSE_ON_FREE);
		if (!tb)
			SSL_free(ssl);
	}
	if (!tb) {
		struct smtp_client_in fail = { SMTPC_IN_TLS_FAILED };
		smtp_client_input(s->core, &fail);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
	s->bev = tb;
	s->tls_pending = true;
}

static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

/* Drains the core's outputs; returns false when the session was freed. */
static bool drain(struct rsession *s)
{
	struct smtp_client_out out;
	while (s->core && smtp_client_next(s->core, &out)) {
		switch (out.kind) {
		case SMTPC_OUT_SEND:
			bufferevent_write(s->bev, out.data, out.len);
			break;
		case SMTPC_OUT_LOG:
			log_debug("relay s%u %.*s", s->seq, (int)out.len, (const char *)out.data);
			break;
		case SMTPC_OUT_STARTTLS:
			start_tls(s);
			if (s->tls_pending) {
				bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
				bufferevent_enable(s->bev, EV_READ | EV_WRITE);
			}
			break;
		case SMTPC_OUT_READY:
			s->ready_once = true;
			start_job(s);
			break;
		case SMTPC_OUT_DONE:
			job_done(s, &out);
			break;
		case SMTPC_OUT_CLOSE: {
			bool normal = out.close_reply.code == 0 && !out.close_reply.text[0];
			give_back_job(s);
			if (normal) {
				close_link(s);
				session_end(s);
				return false;
			}
			s->last = out.close_reply;
			/* A configured next hop (route, relayhost) that refuses
			 * us at greeting, EHLO or AUTH is a configuration
			 * problem: the mail waits for it to be fixed. Only MX
			 * hosts that all say 5xx make it permanent. */
			if (!out.close_permanent || s->d->kind == DEST_HOST)
				s->any_temp = true;
			log_info("relay s%u host-failed mta=%s addr=%s code=%u text=\"%s\"", s->seq,
				 mta_of(s), s->addr, out.close_reply.code, out.close_reply.text);
			bool retry_plain = s->tls_failed && !s->no_starttls &&
					   s->d->tls == RELAY_TLS_OPPORTUNISTIC;
			close_link(s);
			if (s->ready_once && !retry_plain) {
				/* Delivered on this link before; what is left
				 * is for a fresh session. */
				session_end(s);
				return false;
			}
			if (retry_plain) {
				s->no_starttls = true;
			} else {
				s->no_starttls = false;
				s->cur++;
			}
			s->tls_failed = false;
			try_next(s);
			return false;
		}
		}
	}
	if (s->tls_pending)
		timer_set(s, s->r->srv->conf->relay_connect_timeout);
	else if (s->idle)
		timer_set(s, RELAY_IDLE_SEC);
	else if (s->core)
		timer_set(s, smtp_client_timeout(s->core));
	return true;
}

/* Feeds what the server sent to the core; false when the session was
 * freed on the way. */
static bool pump(struct rsession *s)
{
	while (s->core && s->bev) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			return drain(s);
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return true;
		size_t n = smtp_client_feed(s->core, v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		if (!drain(s))
			return false;
		if (n == 0)
			return true;
	}
	return true;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pump(arg);
}

static void core_input(struct rsession *s, enum smtp_client_in_kind kind)
{
	struct smtp_client_in in = { kind };
	smtp_client_input(s->core, &in);
	drain(s);
}

/* This host could not be reached (s->last says why): the next one. */
static void connect_failed(struct rsession *s)
{
	log_info("relay s%u connect-failed mta=%s addr=%s error=\"%s\"", s->seq, mta_of(s),
		 s->addr, s->last.text);
	close_link(s);
	s->cur++;
	try_next(s);
}

/* The STARTTLS handshake failed or took too long. */
static void tls_failed(struct rsession *s)
{
	s->tls_pending = false;
	s->tls_failed = true;
	core_input(s, SMTPC_IN_TLS_FAILED);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct rsession *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->tls_pending) {
			s->tls_pending = false;
			core_input(s, SMTPC_IN_TLS_OK);
			return;
		}
		s->connecting = false;
		log_info("relay s%u connected mta=%s addr=%s", s->seq, mta_of(s), s->addr);
		timer_set(s, smtp_client_timeout(s->core));
		return;
	}
	if (!(what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)))
		return;
	if (s->connecting) {
		int err = EVUTIL_SOCKET_ERROR();
		set_last(s, 0, "4.4.1", "connect failed: %s", evutil_socket_error_to_string(err));
		connect_failed(s);
		return;
	}
	if (s->tls_pending) {
		tls_failed(s);
		return;
	}
	/* Let the core read whatever came before the close. */
	if (pump(s) && s->core)
		core_input(s, SMTPC_IN_EOF);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct rsession *s = arg;
	if (s->idle) {
		/* Nothing came: QUIT now. */
		start_job(s);
		drain(s);
		return;
	}
	if (s->connecting) {
		set_last(s, 0, "4.4.1", "%s", "connection timed out");
		connect_failed(s);
		return;
	}
	if (s->tls_pending) {
		tls_failed(s);
		return;
	}
	if (s->core)
		core_input(s, SMTPC_IN_TIMEOUT);
}

/* ---- connecting ---- */

static bool open_link(struct rsession *s)
{
	struct relay *r = s->r;
	const struct conf *cf = r->srv->conf;
	struct target *t = &s->targets[s->cur];
	struct dest *d = s->d;
	bool implicit = d->tls == RELAY_TLS_SMTPS;
	struct smtp_client_cfg cfg = {
		.helo_name = cf->hostname,
		.tls_active = implicit,
		.starttls = !implicit && d->tls != RELAY_TLS_NONE && !s->no_starttls,
		.tls_required = d->tls == RELAY_TLS_REQUIRED,
		.auth_user = d->auth ? cf->relayhost_user : NULL,
		.auth_password = d->auth ? r->relay_password : NULL,
	};
	if (d->auth && !r->relay_password)
		cfg.auth_user = NULL;
	s->core = smtp_client_new(&cfg);
	if (!s->core)
		return false;
	if (implicit) {
		SSL *ssl = SSL_new(d->verify ? r->tls_verified : r->tls_opportunistic);
		if (!ssl)
			return false;
		SSL_set_tlsext_host_name(ssl, t->host);
		if (d->verify)
			SSL_set1_host(ssl, t->host);
		s->bev = bufferevent_openssl_socket_new(r->srv->base, -1, ssl,
							BUFFEREVENT_SSL_CONNECTING,
							BEV_OPT_CLOSE_ON_FREE);
		if (!s->bev) {
			SSL_free(ssl);
			return false;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	} else {
		s->bev = bufferevent_socket_new(r->srv->base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (!s->bev)
			return false;
	}
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->connecting = true;
	timer_set(s, cf->relay_connect_timeout);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&t->sa, (int)t->len) < 0)
		return false;
	return true;
}

/* "192.0.2.1:25" / "[2001:db8::1]:25" for logs. */
static void addr_text(const struct target *t, char *out, size_t outsz)
{
	bool v6 = t->sa.ss_family == AF_INET6;
	const void *bin = v6 ? (const void *)&((const struct sockaddr_in6 *)&t->sa)->sin6_addr
			     : (const void *)&((const struct sockaddr_in *)&t->sa)->sin_addr;
	char a[INET6_ADDRSTRLEN] = "?";
	inet_ntop(t->sa.ss_family, bin, a, sizeof a);
	unsigned port = ntohs(v6 ? ((const struct sockaddr_in6 *)&t->sa)->sin6_port
				 : ((const struct sockaddr_in *)&t->sa)->sin_port);
	snprintf(out, outsz, v6 ? "[%s]:%u" : "%s:%u", a, port);
}

static void try_next(struct rsession *s)
{
	while (s->cur < s->ntargets) {
		addr_text(&s->targets[s->cur], s->addr, sizeof s->addr);
		if (open_link(s))
			return;
		set_last(s, 0, "4.3.0", "%s", "cannot open a connection (out of resources)");
		close_link(s);
		s->cur++;
	}
	/* Every host failed. Jobs still waiting share the last reason; a
	 * permanent one only when no host failed temporarily. */
	if (!s->ready_once) {
		struct smtp_client_reply rep = s->last;
		if (rep.code >= 500 && s->any_temp) {
			rep.code = 451;
			snprintf(rep.status, sizeof rep.status, "4.4.0");
		}
		if (!rep.text[0])
			snprintf(rep.text, sizeof rep.text, "no host of %s could be reached",
				 s->d->name);
		const char *mta = s->ntargets ? s->targets[s->ntargets - 1].host : NULL;
		dest_fail_all(s->d, &rep, mta);
	}
	session_end(s);
}

static void on_dns(void *arg, const struct dns_result *res)
{
	struct rsession *s = arg;
	s->dns_pending = false;
	if (s->dead) {
		free(s);
		return;
	}
	if (res->status != DNS_OK) {
		struct smtp_client_reply rep;
		memset(&rep, 0, sizeof rep);
		bool mx = s->d->kind == DEST_MX;
		if (res->status == DNS_NULL_MX) {
			/* RFC 7505 4.2 */
			rep.code = 556;
			snprintf(rep.status, sizeof rep.status, "5.1.10");
		} else if (res->status == DNS_NO_DOMAIN && mx) {
			rep.code = 550;
			snprintf(rep.status, sizeof rep.status, "5.1.2");
		} else {
			/* A configured host that does not resolve is our
			 * problem, not the sender's: keep trying. */
			rep.code = 451;
			snprintf(rep.status, sizeof rep.status, "4.4.3");
		}
		snprintf(rep.text, sizeof rep.text, "%s", res->error);
		log_info("relay s%u dns-failed dest=%s error=\"%s\"", s->seq, s->d->key, res->error);
		dest_fail_all(s->d, &rep, NULL);
		session_end(s);
		return;
	}
	size_t n = 0;
	for (size_t h = 0; h < res->nhosts; h++)
		n += res->hosts[h].naddrs;
	if (n > MAX_TARGETS)
		n = MAX_TARGETS;
	s->targets = calloc(n ? n : 1, sizeof *s->targets);
	if (!s->targets) {
		struct smtp_client_reply rep = { .code = 451, .status = "4.3.0",
						 .text = "out of memory" };
		dest_fail_all(s->d, &rep, NULL);
		session_end(s);
		return;
	}
	for (size_t h = 0; h < res->nhosts; h++) {
		const struct dns_host *dh = &res->hosts[h];
		for (size_t i = 0; i < dh->naddrs && s->ntargets < n; i++) {
			struct target *t = &s->targets[s->ntargets++];
			snprintf(t->host, sizeof t->host, "%s", dh->name);
			memcpy(&t->sa, &dh->addrs[i], sizeof t->sa);
			if (t->sa.ss_family == AF_INET6) {
				((struct sockaddr_in6 *)&t->sa)->sin6_port = htons(s->d->port);
				t->len = sizeof(struct sockaddr_in6);
			} else {
				((struct sockaddr_in *)&t->sa)->sin_port = htons(s->d->port);
				t->len = sizeof(struct sockaddr_in);
			}
		}
	}
	try_next(s);
}

unsigned rsession_wake_idle(struct relay *r, struct dest *d)
{
	unsigned woken = 0;
	struct rsession *next;
	for (struct rsession *s = r->sessions; s && d->head; s = next) {
		next = s->next;
		if (s->d != d || !s->idle || !s->core)
			continue;
		start_job(s);
		woken++;
		drain(s); /* may end s; next was taken before */
	}
	return woken;
}

bool rsession_start(struct relay *r, struct dest *d)
{
	struct rsession *s = calloc(1, sizeof *s);
	if (!s)
		return false;
	s->timer = evtimer_new(r->srv->base, on_timer, s);
	if (!s->timer) {
		free(s);
		return false;
	}
	s->r = r;
	s->d = d;
	s->seq = ++session_seq;
	s->next = r->sessions;
	if (s->next)
		s->next->prev = s;
	r->sessions = s;
	d->nsessions++;
	r->nsessions++;
	s->dns_pending = true;
	log_info("relay s%u start dest=%s", s->seq, d->key);
	if (d->kind == DEST_MX)
		dns_resolve_mx(r->dns, d->name, on_dns, s);
	else
		dns_resolve_host(r->dns, d->name, on_dns, s);
	return true;
}

static void session_unlink(struct rsession *s)
{
	struct relay *r = s->r;
	if (s->prev)
		s->prev->next = s->next;
	else if (r->sessions == s)
		r->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->d->nsessions--;
	r->nsessions--;
}

static void session_free(struct rsession *s)
{
	close_link(s);
	if (s->timer)
		event_free(s->timer);
	s->timer = NULL;
	free(s->targets);
	s->targets = NULL;
	if (s->dns_pending)
		s->dead = true; /* on_dns frees it */
	else
		free(s);
}

static void session_end(struct rsession *s)
{
	struct relay *r = s->r;
	struct dest *d = s->d;
	give_back_job(s);
	log_info("relay s%u end dest=%s", s->seq, d->key);
	session_unlink(s);
	session_free(s);
	if (r->stopping) {
		if (r->nsessions == 0)
			server_maybe_stopped(r->srv);
		return;
	}
	if (d->head)
		dest_kick(r, d);
	else
		dest_release(r, d);
	/* A slot under relay_max_sessions is free: destinations that were
	 * waiting for one get it. */
	dests_kick_all(r);
}

void rsessions_free_unbusy(struct relay *r)
{
	struct rsession *next;
	for (struct rsession *s = r->sessions; s; s = next) {
		next = s->next;
		if (s->job)
			continue;
		if (s->idle && s->core) {
			/* A polite QUIT costs nothing; the session ends on 221. */
			start_job(s);
			drain(s);
			continue;
		}
		session_unlink(s);
		session_free(s);
	}
}

void rsessions_free(struct relay *r)
{
	while (r->sessions) {
		struct rsession *s = r->sessions;
		r->sessions = s->next;
		if (r->sessions)
			r->sessions->prev = NULL;
		s->next = NULL;
		s->d->nsessions--;
		r->nsessions--;
		/* Jobs in hand belong to attempts freed by relay_free. */
		if (s->job) {
			free(s->job->idx);
			free(s->job);
			s->job = NULL;
		}
		session_free(s);
	}
}
