#include "net/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"

struct job_queue {
	struct worker_job *head, *tail;
};

struct worker_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job_queue todo;  /* guarded by mu */
	struct job_queue done;  /* guarded by mu */
	bool stopping;          /* guarded by mu */
	size_t pending;         /* loop thread only */
	int efd;
	struct event *ev;
	pthread_t *threads;
	unsigned nthreads;
};

static void queue_push(struct job_queue *q, struct worker_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct worker_job *queue_take_all(struct job_queue *q)
{
	struct worker_job *j = q->head;
	q->head = q->tail = NULL;
	return j;
}

static void *worker_main(void *arg)
{
	struct worker_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->todo.head && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->todo.head)
			break; /* stopping and nothing left */
		struct worker_job *j = p->todo.head;
		p->todo.head = j->next;
		if (!p->todo.head)
			p->todo.tail = NULL;
		pthread_mutex_unlock(&p->mu);

		j->run(j);

		pthread_mutex_lock(&p->mu);
		bool was_empty = p->done.head == NULL;
		queue_push(&p->done, j);
		if (was_empty) {
			uint64_t one = 1;
			/* The loop drains every finished job per wakeup, so one
			 * signal per empty->non-empty transition is enough. */
			while (write(p->efd, &one, sizeof one) < 0 && errno == EINTR)
				;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void run_done(struct worker_pool *p)
{
	uint64_t v;
	while (read(p->efd, &v, sizeof v) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&p->mu);
	struct worker_job *j = queue_take_all(&p->done);
	pthread_mutex_unlock(&p->mu);
	while (j) {
		struct worker_job *next = j->next;
		p->pending--;
		j->done(j);
		j = next;
	}
}

static void on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_done(arg);
}

struct worker_pool *worker_pool_new(struct event_base *base, unsigned nthreads)
{
	if (nthreads == 0)
		nthreads = 1;
	struct worker_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0)
		goto fail;
	p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, on_eventfd, p);
	if (!p->ev || event_add(p->ev, NULL) < 0)
		goto fail;
	p->threads = calloc(nthreads, sizeof *p->threads);
	if (!p->threads)
		goto fail;
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			break;
		p->nthreads++;
	}
	if (p->nthreads == 0)
		goto fail;
	return p;
fail:
	log_error("worker pool: cannot start: %s", strerror(errno));
	if (p->ev)
		event_free(p->ev);
	if (p->efd >= 0)
		close(p->efd);
	free(p->threads);
	free(p);
	return NULL;
}

void worker_pool_submit(struct worker_pool *p, struct worker_job *job)
{
	p->pending++;
	pthread_mutex_lock(&p->mu);
	queue_push(&p->todo, job);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void worker_pool_submit_urgent(struct worker_pool *p, struct worker_job *job)
{
	p->pending++;
	pthread_mutex_lock(&p->mu);
	job->next = p->todo.head;
	p->todo.head = job;
	if (!p->todo.tail)
		p->todo.tail = job;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

size_t worker_pool_pending(const struct worker_pool *p)
{
	return p->pending;
}

void worker_pool_free(struct worker_pool **pp)
{
	struct worker_pool *p = *pp;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* Threads ran every queued job before exiting; finish them here.
	 * The caller stops submitting before freeing the pool. */
	if (p->pending)
		run_done(p);
	event_free(p->ev);
	close(p->efd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
	*pp = NULL;
}
