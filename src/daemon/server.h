/* server: the running daemon: configuration, event loop, listeners, the
 * worker pool, the account view and the table of live sessions.
 * Everything here lives on the loop thread. */
#ifndef FACTEUR_DAEMON_SERVER_H
#define FACTEUR_DAEMON_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "conf/conf.h"

struct event_base;
struct worker_pool;
struct accounts;
struct conn;
struct tls_ctx;
struct auth_throttle;
struct listen_ctx;
struct relay;
struct auth_client;
struct store_client;

struct server {
	const struct conf *conf;
	struct event_base *base;
	struct worker_pool *pool;
	struct accounts *accounts; /* the directory the auth process publishes */
	struct auth_client *auth;   /* logins are checked by the auth process */
	struct store_client *store; /* the Maildirs are the store process's */
	struct relay *relay;        /* the outbound queue; NULL if it could not start */
	struct tls_ctx *tls;        /* NULL when TLS is not configured */
	struct auth_throttle *throttle; /* failed logins per client address */
	struct listener **listeners;
	struct listen_ctx *listen_ctx;
	size_t nlisteners;
	struct conn *conns;         /* doubly linked list of live sessions */
	size_t nconns;
	struct ip_count *ip_counts; /* open sessions per client address */
	bool stopping;
	int exit_status;            /* 1 once a helper process was lost */
	struct event *stop_timer;   /* grace period on shutdown */
	uint32_t session_seq;
	uint64_t messages_stored;
	uint64_t data_memory;       /* bytes held by messages in transit (DATA being
	                             * received, commits being written): the
	                             * max_data_memory budget */
	time_t refused_logged_at;     /* rate limit for "refused" log lines */
	unsigned long refused_suppressed;
};

/* Binds every configured listener and prints "<proto> <addr>:<port>" on
 * stdout for each. auth_fd and store_fd are the helper processes' sockets
 * (taken, closed by server_free). Returns -1 (logged) if any cannot be
 * bound. */
int server_start(struct server *srv, const struct conf *c, struct event_base *base,
		 int auth_fd, int store_fd);
/* Stops accepting, asks every session to finish (in-flight transactions
 * complete or get 421), and breaks the loop once all are gone. */
void server_shutdown(struct server *srv);
/* During shutdown: breaks the loop once no session (inbound or outbound)
 * is left. Called when one ends. */
void server_maybe_stopped(struct server *srv);
void server_free(struct server *srv);
/* SIGHUP: reload the TLS certificate (sessions in progress keep theirs)
 * and have the account files looked at. */
void server_reload(struct server *srv);

#endif
