/* relay_int: the inside of the relay, shared by relay.c (schedule and
 * attempts), relay_dest.c (destinations and their job queues),
 * relay_session.c (one outbound SMTP connection) and relay_notice.c
 * (bounces and delay warnings). Private to src/daemon. */
#ifndef FACTEUR_DAEMON_RELAY_INT_H
#define FACTEUR_DAEMON_RELAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "daemon/relay.h"
#include "net/worker.h"
#include "proto/smtp_client.h"
#include "queue/envelope.h"

struct dns_resolver;
struct event;

/* One queue entry known to the schedule. */
struct qent {
	char id[QUEUE_ID_MAX + 1];
	time_t next;             /* when to look at it again */
	bool active;             /* an attempt is running */
};

/* One attempt at one queue entry: the envelope and message in memory,
 * the entry's lock held, jobs out on destinations and workers. */
struct attempt {
	struct relay *r;
	char id[QUEUE_ID_MAX + 1];
	struct queue_env env;
	char *msg;               /* the queued message (LF line ends) */
	size_t msg_len;
	int lock_fd;
	unsigned outstanding;    /* jobs (local delivery, destinations) not done */
	time_t started;
	struct attempt *prev, *next;
};

/* A share of an attempt for one destination: the recipients (indexes in
 * att->env.rcpts) that go there. */
struct rjob {
	struct attempt *att;
	size_t *idx;
	size_t n;
	struct rjob *next;
};

enum dest_kind { DEST_MX, DEST_HOST };

/* A next hop and the jobs waiting for it. Sessions to a destination take
 * jobs one after another (connection reuse); at most relay_concurrency
 * sessions run per destination. */
struct dest {
	char key[300];           /* "mx:<domain>", "route:<domain>", "relayhost" */
	enum dest_kind kind;
	char name[256];          /* the domain (MX) or host */
	uint16_t port;
	int tls;                 /* enum relay_tls */
	bool verify;             /* check the certificate (relayhost) */
	bool auth;               /* AUTH with the relayhost credentials */
	struct rjob *head, *tail;
	size_t njobs;
	unsigned nsessions;
	struct dest *next;
};

struct rsession;

struct relay {
	struct server *srv;
	char dir[4096];              /* <data_dir>/queue */
	struct dns_resolver *dns;
	SSL_CTX *tls_opportunistic;  /* no verification (RFC 3207 4.1) */
	SSL_CTX *tls_verified;       /* system CAs + host name */
	char *relay_password;        /* relayhost_password_file's first line */
	struct event *tick;
	struct qent *ents;
	size_t nents, cap;
	unsigned nactive;            /* attempts running */
	bool rescan_pending;
	bool rescan_running;
	bool stopping;
	struct attempt *attempts;    /* running attempts */
	struct dest *dests;
	struct rsession *sessions;
	unsigned nsessions;
	uint64_t delivered, bounced, deferred;
};

/* relay.c */
void relay_job_done(struct rjob *j);   /* results recorded; frees j */
void relay_record(struct attempt *a, size_t i, const struct smtp_client_reply *rep,
		  const char *mta, bool accepted);
unsigned relay_session_rand(unsigned n);

/* relay_dest.c */
/* Finds or creates the destination for a remote domain (route,
 * relayhost or MX); NULL when out of memory. */
struct dest *dest_for_domain(struct relay *r, const char *domain);
void dest_push(struct relay *r, struct dest *d, struct rjob *j);
struct rjob *dest_pop(struct dest *d);
/* Ends every job waiting for d with the same reply (DNS failure, no host
 * reachable). */
void dest_fail_all(struct dest *d, const struct smtp_client_reply *rep, const char *mta);
/* Starts sessions while jobs wait and the limits allow. */
void dest_kick(struct relay *r, struct dest *d);
void dest_release(struct relay *r, struct dest *d); /* frees an idle, empty dest */
/* Starts sessions for destinations whose jobs wait without any session
 * (relay_max_sessions was reached when they came). */
void dests_kick_all(struct relay *r);
void dests_free(struct relay *r);

/* relay_session.c */
bool rsession_start(struct relay *r, struct dest *d);
/* Gives waiting jobs of d to its idle sessions; returns how many woke. */
unsigned rsession_wake_idle(struct relay *r, struct dest *d);
void rsessions_free(struct relay *r);
/* Shutdown: frees the sessions not in the middle of a transaction. */
void rsessions_free_unbusy(struct relay *r);

/* relay_notice.c: builds the bounce (or delay warning) for a, and the
 * envelope of it, ready for spool_enqueue; false when none is due
 * (null sender, nothing failed) or out of memory (*env left empty). */
bool notice_build(struct relay *r, const struct attempt *a, bool delay_warning,
		  struct queue_env *env, struct buf *msg);

#endif
