#include "daemon/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/tls.h"

#include "daemon/throttle.h"
#include "lib/escape.h"
#include "lib/log.h"

/* Open sessions per client address, for max_connections_per_ip. */
struct ip_count {
	struct ip_count *next;
	char addr[64];
	unsigned n;
};

static struct ip_count **ip_slot(struct server *srv, const char *addr)
{
	struct ip_count **pp = &srv->ip_counts;
	while (*pp && strcmp((*pp)->addr, addr) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* A list is enough while per-address counting stays a small set of
 * distinct peers; see doc/limits.md. */
static unsigned ip_get(struct server *srv, const char *addr)
{
	struct ip_count *e = *ip_slot(srv, addr);
	return e ? e->n : 0;
}

static bool ip_inc(struct server *srv, const char *addr)
{
	struct ip_count **pp = ip_slot(srv, addr);
	if (!*pp) {
		struct ip_count *e = calloc(1, sizeof *e);
		if (!e)
			return false;
		snprintf(e->addr, sizeof e->addr, "%s", addr);
		*pp = e;
	}
	(*pp)->n++;
	return true;
}

static void ip_dec(struct server *srv, const char *addr)
{
	struct ip_count **pp = ip_slot(srv, addr);
	struct ip_count *e = *pp;
	if (!e)
		return;
	if (--e->n == 0) {
		*pp = e->next;
		free(e);
	}
}

static void peer_text(const struct sockaddr *sa, char *out, size_t outsz)
{
	out[0] = '\0';
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outsz);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		/* Show v4-mapped peers as plain IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outsz);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outsz);
	}
	if (!out[0])
		snprintf(out, outsz, "unknown");
}

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	log_info("%s %s disconnect", c->ops->proto, c->id);
	if (c->ops->destroy)
		c->ops->destroy(c);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->flush_timer)
		event_free(c->flush_timer);
	if (c->deadline)
		event_free(c->deadline);
	if (c->login_delay)
		event_free(c->login_delay);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	ip_dec(srv, c->peer);
	free(c);
	server_maybe_stopped(srv);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (!c->gone)
		c->ops->on_read(c);
}

static void close_when_flushed(struct conn *c);

static void on_flush_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (!c->gone)
		close_when_flushed(c);
}

/* Closes once every byte reached the kernel. With a TLS filter the
 * encrypted bytes wait in the socket bufferevent underneath, which
 * reports nothing to us: poll it briefly. */
static void close_when_flushed(struct conn *c)
{
	if (conn_output_pending(c) == 0) {
		conn_abort(c);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		if (!c->flush_timer)
			c->flush_timer = evtimer_new(c->srv->base, on_flush_poll, c);
		struct timeval tv = { 0, 20000 };
		if (!c->flush_timer || evtimer_add(c->flush_timer, &tv) < 0)
			conn_abort(c);
	}
	/* else: on_write fires when the top buffer drains */
}

static void on_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (c->closing) {
		close_when_flushed(c);
		return;
	}
	if (c->ops->on_drained)
		c->ops->on_drained(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		/* A TLS handshake completed. */
		char desc[128];
		conn_tls_describe(c, desc, sizeof desc);
		log_info("%s %s tls %s", c->ops->proto, c->id, desc);
		if (c->tls_pending) {
			c->tls_pending = false;
			c->ops->on_tls_ready(c, true);
		}
		return;
	}
	if ((what & BEV_EVENT_ERROR) && c->tls) {
		unsigned long e;
		char reason[160] = "";
		while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
			ERR_error_string_n(e, reason, sizeof reason);
		if (reason[0])
			log_info("%s %s tls-error reason=\"%s\"", c->ops->proto, c->id, reason);
		if (c->tls_pending) {
			c->tls_pending = false;
			c->ops->on_tls_ready(c, false);
			if (!c->gone)
				conn_abort(c);
			return;
		}
	}
	if (what & BEV_EVENT_TIMEOUT) {
		/* libevent disables the direction that timed out; a protocol
		 * decides what to say, then the session closes. */
		if (c->closing || c->gone || (what & BEV_EVENT_WRITING)) {
			conn_abort(c);
			return;
		}
		c->ops->on_timeout(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* The peer finished sending; what it sent before still gets
		 * processed and answered (a client may pipeline "QUIT" and
		 * shut down its side). */
		c->peer_eof = true;
		bufferevent_disable(c->bev, EV_READ);
		c->ops->on_read(c);
		if (c->gone)
			return;
		if (!c->jobs && !c->closing && !c->gone)
			conn_close_after_write(c);
		return;
	}
	conn_abort(c);
}

static bool is_implicit_tls(enum listener_proto p)
{
	return p == LISTEN_SMTPS || p == LISTEN_POP3S;
}

struct conn *conn_new(struct server *srv, int fd, const struct sockaddr *sa,
		      socklen_t salen, enum listener_proto listener,
		      const struct conn_ops *ops, const char *refuse_line)
{
	(void)salen;
	char peer[64];
	peer_text(sa, peer, sizeof peer);
	const struct conf *cf = srv->conf;
	bool refuse = srv->stopping || srv->nconns >= cf->max_connections ||
		      ip_get(srv, peer) >= cf->max_connections_per_ip;
	if (refuse) {
		if (!is_implicit_tls(listener)) { /* no plaintext on a TLS port */
			/* Best effort, non-blocking: the socket buffer is empty. */
			ssize_t w = write(fd, refuse_line, strlen(refuse_line));
			(void)w;
		}
		close(fd);
		/* One line per second at most: a flood must not flood the log. */
		time_t now = time(NULL);
		if (now != srv->refused_logged_at) {
			log_warn("%s - refused peer=%s reason=%s suppressed=%lu", ops->proto, peer,
				 srv->stopping ? "shutdown" : "too-many-connections",
				 srv->refused_suppressed);
			srv->refused_logged_at = now;
			srv->refused_suppressed = 0;
		} else {
			srv->refused_suppressed++;
		}
		return NULL;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return NULL;
	}
	/* Replies are whole lines written once; a RETR is "+OK" then the
	 * message from a worker. Nagle's algorithm would hold the second
	 * write for the peer's delayed ACK (40 ms a command). */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (is_implicit_tls(listener)) {
		/* RFC 8314 3.3: TLS from the first byte. */
		SSL *ssl = srv->tls ? tls_ctx_new_ssl(srv->tls) : NULL;
		if (ssl) {
			c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
								BUFFEREVENT_SSL_ACCEPTING,
								BEV_OPT_CLOSE_ON_FREE);
			if (!c->bev)
				SSL_free(ssl);
			else
				bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
		}
		c->tls = true;
	} else {
		c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c->bev || !ip_inc(srv, peer)) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			close(fd);
		free(c);
		return NULL;
	}
	c->srv = srv;
	c->ops = ops;
	c->listener = listener;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	c->cleartext_auth_ok = cidr_match_text(cf->cleartext_auth_nets,
					       cf->ncleartext_auth_nets, peer);
	uint32_t seq = ++srv->session_seq;
	snprintf(c->id, sizeof c->id, "%08x", (unsigned)((seq * 2654435761u) ^ (uint32_t)getpid()));
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	/* Stop reading while 64 KiB of input waits unprocessed: a session
	 * waiting for a disk commit does not buffer a flood. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 64 * 1024);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_info("%s %s connect peer=%s listener=%s", ops->proto, c->id, peer,
		 listener_proto_names[listener]);
	return c;
}

void conn_start_tls(struct conn *c)
{
	if (c->gone)
		return;
	struct server *srv = c->srv;
	/* CVE-2011-0411: plaintext pipelined after STARTTLS is never run. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t junk = evbuffer_get_length(in);
	if (junk) {
		log_info("%s %s tls-discard bytes=%zu", c->ops->proto, c->id, junk);
		evbuffer_drain(in, junk);
	}
	SSL *ssl = srv->tls ? tls_ctx_new_ssl(srv->tls) : NULL;
	struct bufferevent *tb = ssl ? bufferevent_openssl_filter_new(srv->base, c->bev, ssl,
			BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (!tb) {
		if (ssl)
			SSL_free(ssl);
		log_error("%s %s tls-setup-failed", c->ops->proto, c->id);
		c->ops->on_tls_ready(c, false);
		if (!c->gone)
			conn_abort(c);
		return;
	}
	/* The filter owns the socket bufferevent from now on; the "220
	 * Ready" still in its output goes out in plaintext first. */
	bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
	c->bev = tb;
	c->tls = true;
	c->tls_pending = true;
	bufferevent_setwatermark(tb, EV_READ, 0, 64 * 1024);
	bufferevent_setcb(tb, on_read, on_write, on_event, c);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
}

void conn_tls_describe(const struct conn *c, char *out, size_t outsz)
{
	out[0] = '\0';
	if (c->gone || !c->tls)
		return;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	if (ssl)
		tls_describe(ssl, out, outsz);
}

void conn_write(struct conn *c, const void *data, size_t len)
{
	if (!c->gone && len)
		bufferevent_write(c->bev, data, len);
}

void conn_close_after_write(struct conn *c)
{
	if (c->gone)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	close_when_flushed(c);
}

static void on_free_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

/* Freeing is always deferred to the next loop turn, so a callback that
 * closes its session may go on reading its fields until it returns. */
static void free_later(struct conn *c)
{
	if (c->free_scheduled || c->jobs)
		return;
	c->free_scheduled = true;
	struct timeval zero = { 0, 0 };
	if (event_base_once(c->srv->base, -1, EV_TIMEOUT, on_free_later, c, &zero) < 0)
		log_error("%s %s cannot schedule free", c->ops->proto, c->id);
}

void conn_abort(struct conn *c)
{
	if (c->flush_timer)
		event_del(c->flush_timer);
	if (c->deadline)
		event_del(c->deadline);
	if (!c->gone) {
		c->gone = true;
		/* Close the socket now; the session's state may live on until
		 * its worker jobs report back. */
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	free_later(c);
}

void conn_job_started(struct conn *c)
{
	c->jobs++;
}

bool conn_job_finished(struct conn *c)
{
	c->jobs--;
	if (c->gone)
		free_later(c);
	return !c->gone;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->gone || c->closing)
		return;
	log_info("%s %s deadline", c->ops->proto, c->id);
	c->ops->on_timeout(c);
}

void conn_progress(struct conn *c, unsigned seconds)
{
	if (c->gone)
		return;
	if (!seconds) {
		if (c->deadline)
			event_del(c->deadline);
		return;
	}
	if (!c->deadline && !(c->deadline = evtimer_new(c->srv->base, on_deadline, c)))
		return;
	struct timeval tv = { (time_t)seconds, 0 };
	evtimer_add(c->deadline, &tv);
}

static void on_login_delay(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (conn_job_finished(c))
		c->login_then(c);
}

void conn_login_failed(struct conn *c, void (*answer)(struct conn *c))
{
	unsigned ms = throttle_failure(c->srv->throttle, c->peer, time(NULL));
	if (ms && !c->login_delay)
		c->login_delay = evtimer_new(c->srv->base, on_login_delay, c);
	if (!ms || !c->login_delay) {
		answer(c);
		return;
	}
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	c->login_then = answer;
	conn_job_started(c);
	evtimer_add(c->login_delay, &tv);
}

void conn_login_succeeded(struct conn *c)
{
	throttle_success(c->srv->throttle, c->peer);
}

void conn_set_timeout(struct conn *c, unsigned seconds)
{
	if (c->gone)
		return;
	struct timeval tv = { (time_t)seconds, 0 };
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

void conn_read_enable(struct conn *c, bool on)
{
	if (c->gone || c->closing || c->peer_eof || c->tls_pending)
		return;
	if (on)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

size_t conn_output_pending(const struct conn *c)
{
	if (c->gone)
		return 0;
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

void conn_log_reply(const struct conn *c, const char *data, size_t len)
{
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) + 1 : len;
		size_t show = n;
		while (show && (data[show - 1] == '\n' || data[show - 1] == '\r'))
			show--;
		char esc[700];
		escape_log(esc, sizeof esc, (const uint8_t *)data, show);
		log_info("%s %s S: %s", c->ops->proto, c->id, esc);
		data += n;
		len -= n;
	}
}
