#include "daemon/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/accounts.h"
#include "daemon/auth_client.h"
#include "daemon/conn.h"
#include "daemon/pop3_conn.h"
#include "daemon/relay.h"
#include "daemon/smtp_conn.h"
#include "daemon/store_client.h"
#include "daemon/throttle.h"
#include "lib/log.h"
#include "net/listener.h"
#include "net/worker.h"
#include "tls/tls.h"

/* How long in-flight sessions get to finish after SIGTERM. */
#define SHUTDOWN_GRACE_SEC 30

/* What a listening socket needs to know when a client arrives. */
struct listen_ctx {
	struct server *srv;
	enum listener_proto proto;
};

static void on_accept(evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct listen_ctx *lc = arg;
	if (lc->proto == LISTEN_POP3 || lc->proto == LISTEN_POP3S)
		pop3_conn_accept(lc->srv, lc->proto, fd, sa, salen);
	else
		smtp_conn_accept(lc->srv, lc->proto, fd, sa, salen);
}

static bool is_loopback(const char *addr)
{
	return !strncmp(addr, "127.", 4) || !strcmp(addr, "::1");
}

static void on_helper_lost(void *arg)
{
	struct server *srv = arg;
	/* Without the auth process no one can log in, without the store
	 * process no mail is stored; a supervisor (dist/facteur.service)
	 * starts all three again. */
	log_error("server stopping: a helper process is gone");
	srv->exit_status = 1;
	server_shutdown(srv);
}

static void refreshed(void *arg, int status, const char *name)
{
	(void)arg;
	(void)status;
	(void)name;
}

int server_start(struct server *srv, const struct conf *c, struct event_base *base,
		 int auth_fd, int store_fd)
{
	memset(srv, 0, sizeof *srv);
	srv->conf = c;
	srv->base = base;
	srv->store = store_client_new(base, store_fd, on_helper_lost, srv);
	srv->accounts = accounts_new_directory(c);
	if (!srv->accounts) {
		close(auth_fd);
		return -1;
	}
	srv->auth = auth_client_new(base, auth_fd, srv->accounts, on_helper_lost, srv);
	if (!srv->auth || !srv->store)
		return -1;
	srv->pool = worker_pool_new(base, c->workers);
	srv->throttle = throttle_new(c->auth_fail_delay_ms);
	srv->listeners = calloc(c->nlisteners ? c->nlisteners : 1, sizeof(struct listener *));
	srv->listen_ctx = calloc(c->nlisteners ? c->nlisteners : 1, sizeof *srv->listen_ctx);
	if (!srv->accounts || !srv->pool || !srv->listeners || !srv->listen_ctx || !srv->throttle)
		return -1;
	/* Without its queue the server still serves local mail; foreign
	 * recipients then get 451 4.4.0. */
	srv->relay = relay_new(srv);
	if (c->tls_cert && *c->tls_cert) {
		char err[512];
		srv->tls = tls_ctx_new(c->tls_cert, c->tls_key, err, sizeof err);
		if (!srv->tls) {
			log_error("server tls-unavailable error=\"%s\"", err);
			for (size_t i = 0; i < c->nlisteners; i++) {
				enum listener_proto p = c->listeners[i].proto;
				if (p == LISTEN_SMTPS || p == LISTEN_POP3S) {
					log_error("server: %s needs TLS", listener_proto_names[p]);
					return -1;
				}
			}
		}
	}
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_cfg *lc = &c->listeners[i];
		if (c->loopback_only && !is_loopback(lc->addr)) {
			log_error("server: quick-start mode listens on loopback only, not %s", lc->addr);
			return -1;
		}
		struct listen_ctx *ctx = &srv->listen_ctx[i];
		ctx->srv = srv;
		ctx->proto = lc->proto;
		struct listener *l = listener_new(base, lc->addr, lc->port, on_accept, ctx);
		if (!l)
			return -1;
		srv->listeners[srv->nlisteners++] = l;
		bool v6 = strchr(lc->addr, ':') != NULL;
		printf(v6 ? "%s [%s]:%u\n" : "%s %s:%u\n", listener_proto_names[lc->proto],
		       lc->addr, (unsigned)lc->port);
	}
	fflush(stdout);
	return 0;
}

static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct server *srv = arg;
	log_warn("server shutdown grace over, closing %zu sessions", srv->nconns);
	relay_abort(srv->relay);
	for (struct conn *c = srv->conns; c; c = c->next)
		conn_abort(c);
	server_maybe_stopped(srv);
}

void server_maybe_stopped(struct server *srv)
{
	if (srv->stopping && srv->nconns == 0 && !relay_busy(srv->relay))
		event_base_loopbreak(srv->base);
}

void server_shutdown(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("server stopping sessions=%zu", srv->nconns);
	for (size_t i = 0; i < srv->nlisteners; i++)
		listener_disable(srv->listeners[i]);
	relay_shutdown(srv->relay);
	if (srv->nconns == 0 && !relay_busy(srv->relay)) {
		event_base_loopbreak(srv->base);
		return;
	}
	/* Each session answers 421 / -ERR now, or after its transaction's
	 * commit if one is on the disk. */
	struct conn *next;
	for (struct conn *c = srv->conns; c; c = next) {
		next = c->next;
		if (!c->gone)
			c->ops->on_shutdown(c);
	}
	srv->stop_timer = evtimer_new(srv->base, on_grace_over, srv);
	struct timeval tv = { SHUTDOWN_GRACE_SEC, 0 };
	if (srv->stop_timer)
		evtimer_add(srv->stop_timer, &tv);
}

void server_free(struct server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++)
		listener_free(&srv->listeners[i]);
	free(srv->listeners);
	free(srv->listen_ctx);
	/* Workers finish what they hold; their done() runs here. */
	worker_pool_free(&srv->pool);
	relay_free(&srv->relay);
	if (srv->stop_timer)
		event_free(srv->stop_timer);
	auth_client_free(&srv->auth);
	store_client_free(&srv->store);
	accounts_free(&srv->accounts);
	throttle_free(&srv->throttle);
	tls_ctx_free(&srv->tls);
}

void server_reload(struct server *srv)
{
	if (srv->tls) {
		char err[512];
		if (tls_ctx_reload(srv->tls, err, sizeof err) < 0)
			log_error("server tls-reload-failed error=\"%s\" (keeping the old certificate)", err);
		else
			log_info("server tls-reloaded");
	}
	if (srv->auth)
		auth_client_refresh(srv->auth, refreshed, NULL);
}
