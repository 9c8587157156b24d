/* relay: the outbound half of facteur. Mail for foreign recipients is
 * queued on disk (queue/spool.h) by the SMTP session before its "250";
 * the relay takes it from there: it schedules attempts, delivers local
 * recipients of queued mail (bounces, forwarded aliases) into Maildirs,
 * sends the rest over SMTP to the next hop (static route, relayhost, or
 * the domain's MX hosts), retries temporary failures with exponential
 * backoff until queue_lifetime, and returns RFC 3464 bounces and delay
 * warnings to the sender.
 *
 * Everything here runs on the loop thread; disk work goes to the worker
 * pool. The queue on disk is the truth: the relay's memory is only a
 * schedule, rebuilt from the spool at start and on "facteur queue flush". */
#ifndef FACTEUR_DAEMON_RELAY_H
#define FACTEUR_DAEMON_RELAY_H

#include <stdbool.h>
#include <time.h>

struct server;
struct relay;

/* Prepares <data_dir>/queue (recovering what a crash left), the resolver
 * and TLS client contexts, and starts the schedule. NULL (logged) on
 * failure. */
struct relay *relay_new(struct server *srv);
/* A new entry was enqueued (by an SMTP session): attempt it now. */
void relay_notify(struct relay *r, const char *id);
/* Stops starting work. Jobs not started yet end as "not attempted" (the
 * entry is retried at once at the next start); sessions in the middle of
 * a transaction finish it and record its outcome, then QUIT, so a
 * restart sends nothing twice. relay_busy() tells when they are done. */
void relay_shutdown(struct relay *r);
bool relay_busy(const struct relay *r);
/* The grace period is over: cut whatever still runs (its messages stay
 * queued as they were and are sent again at the next start). */
void relay_abort(struct relay *r);
/* After the worker pool is gone. */
void relay_free(struct relay **rp);
/* The spool directory, for sessions that enqueue. */
const char *relay_spool_dir(const struct relay *r);

#endif
