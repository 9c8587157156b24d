/* worker: a small thread pool for work that blocks on the disk or burns
 * CPU (fsync, crypt(3), reading a message), so the event loop never does.
 *
 * A job's run() executes on a worker thread and must not touch the event
 * loop or any session; its done() then runs on the loop thread, in the
 * order jobs finish. Completion is signalled through an eventfd watched
 * by the loop, so libevent itself is only ever used from one thread. */
#ifndef FACTEUR_NET_WORKER_H
#define FACTEUR_NET_WORKER_H

#include <stddef.h>

struct event_base;
struct worker_pool;

struct worker_job {
	void (*run)(struct worker_job *job);   /* worker thread */
	void (*done)(struct worker_job *job);  /* loop thread; may free job */
	struct worker_job *next;               /* private to the pool */
};

struct worker_pool *worker_pool_new(struct event_base *base, unsigned nthreads);
/* Waits for queued jobs to run and their done() to be called, then stops
 * the threads and frees the pool. Must run on the loop thread. */
void worker_pool_free(struct worker_pool **pp);
void worker_pool_submit(struct worker_pool *p, struct worker_job *job);
/* Ahead of every queued job: for short writes that record what already
 * happened elsewhere (a relayed message's new state), so that a crash
 * finds as little as possible done but not yet recorded. */
void worker_pool_submit_urgent(struct worker_pool *p, struct worker_job *job);
/* Jobs submitted and not yet done(). */
size_t worker_pool_pending(const struct worker_pool *p);

#endif
