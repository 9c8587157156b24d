/* relay: the schedule of the outbound queue and the life of one attempt.
 *
 * An attempt: lock the entry and read it (worker) -> expire it, or hand
 * its local recipients to a worker and its remote ones to destinations ->
 * every share reports per-recipient outcomes (relay_record) -> when the
 * last share is done, write the new state (worker): remove the entry once
 * no recipient is pending (with a bounce first when some failed), else
 * set the next attempt with exponential backoff (and a delay warning once
 * delay_warning has passed). The lock is held from load to write, so
 * "facteur queue" never changes an entry in the middle of an attempt. */
#include "daemon/relay_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "daemon/accounts.h"
#include "daemon/store_client.h"
#include "daemon/server.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "net/dns.h"
#include "queue/spool.h"
#include "tls/tls.h"

/* Attempts in memory at once (each holds its message). */
#define RELAY_MAX_ACTIVE 256
/* How long a stale msg/ file without an envelope may be an enqueue in
 * progress by another process before spool_recover removes it. */
#define RECOVER_MIN_AGE 3600

unsigned relay_session_rand(unsigned n)
{
	unsigned v = 0;
	if (n <= 1 || RAND_bytes((unsigned char *)&v, sizeof v) != 1)
		return 0;
	return v % n;
}

const char *relay_spool_dir(const struct relay *r)
{
	return r->dir;
}

/* ---- the schedule ---- */

static struct qent *ent_find(struct relay *r, const char *id)
{
	for (size_t i = 0; i < r->nents; i++)
		if (!strcmp(r->ents[i].id, id))
			return &r->ents[i];
	return NULL;
}

static struct qent *ent_add(struct relay *r, const char *id, time_t next)
{
	struct qent *e = ent_find(r, id);
	if (e) {
		if (next < e->next)
			e->next = next;
		return e;
	}
	if (r->nents == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct qent *n = realloc(r->ents, cap * sizeof *n);
		if (!n)
			return NULL;
		r->ents = n;
		r->cap = cap;
	}
	e = &r->ents[r->nents++];
	memset(e, 0, sizeof *e);
	snprintf(e->id, sizeof e->id, "%s", id);
	e->next = next;
	return e;
}

static void ent_remove(struct relay *r, const char *id)
{
	struct qent *e = ent_find(r, id);
	if (e)
		*e = r->ents[--r->nents];
}

static void start_attempt(struct relay *r, struct qent *e);

static void run_due(struct relay *r)
{
	if (r->stopping)
		return;
	time_t now = time(NULL);
	for (size_t i = 0; i < r->nents && r->nactive < RELAY_MAX_ACTIVE; i++) {
		struct qent *e = &r->ents[i];
		if (!e->active && e->next <= now)
			start_attempt(r, e);
	}
}

void relay_notify(struct relay *r, const char *id)
{
	if (!r || r->stopping)
		return;
	struct qent *e = ent_add(r, id, 0);
	if (e && !e->active && r->nactive < RELAY_MAX_ACTIVE)
		start_attempt(r, e);
}

/* "facteur queue flush": re-read the list of entries and try all now. */
struct rescan_job {
	struct worker_job job;
	struct relay *r;
	bool requested;
	char **ids;
	size_t n;
};

static void rescan_run(struct worker_job *job)
{
	struct rescan_job *j = (struct rescan_job *)job;
	j->requested = spool_take_flush_request(j->r->dir);
	char err[256];
	if (j->requested && spool_list(j->r->dir, &j->ids, &j->n, err, sizeof err) < 0) {
		log_error("relay rescan-failed error=\"%s\"", err);
		j->ids = NULL;
		j->n = 0;
	}
}

static void rescan_done(struct worker_job *job)
{
	struct rescan_job *j = (struct rescan_job *)job;
	struct relay *r = j->r;
	r->rescan_running = false;
	if (j->requested && !r->stopping) {
		log_info("relay flush entries=%zu", j->n);
		for (size_t i = 0; i < r->nents; i++)
			r->ents[i].next = 0;
		for (size_t i = 0; i < j->n; i++)
			ent_add(r, j->ids[i], 0);
		run_due(r);
	}
	spool_ids_free(&j->ids, j->n);
	free(j);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct relay *r = arg;
	if (r->stopping)
		return;
	if (!r->rescan_running) {
		struct rescan_job *j = calloc(1, sizeof *j);
		if (j) {
			j->r = r;
			j->job.run = rescan_run;
			j->job.done = rescan_done;
			r->rescan_running = true;
			worker_pool_submit(r->srv->pool, &j->job);
		}
	}
	dests_kick_all(r);
	run_due(r);
}

/* ---- one attempt ---- */

enum load_result { LOAD_OK, LOAD_BUSY, LOAD_GONE, LOAD_HELD, LOAD_CORRUPT, LOAD_ERROR };

struct load_job {
	struct worker_job job;
	struct attempt *a;
	enum load_result result;
	char err[256];
};

static void attempt_free(struct attempt *a)
{
	struct relay *r = a->r;
	if (a->prev)
		a->prev->next = a->next;
	else if (r->attempts == a)
		r->attempts = a->next;
	if (a->next)
		a->next->prev = a->prev;
	if (a->lock_fd >= 0)
		spool_unlock(a->lock_fd);
	queue_env_free(&a->env);
	free(a->msg);
	r->nactive--;
	free(a);
}

static void load_run(struct worker_job *job)
{
	struct load_job *j = (struct load_job *)job;
	struct attempt *a = j->a;
	const char *dir = a->r->dir;
	a->lock_fd = spool_lock(dir, a->id, false);
	if (a->lock_fd < 0) {
		j->result = errno == EWOULDBLOCK ? LOAD_BUSY : errno == ENOENT ? LOAD_GONE : LOAD_ERROR;
		snprintf(j->err, sizeof j->err, "lock: %.200s", strerror(errno));
		/* The lock lives on the message: no message but an envelope
		 * is damage (spool.h invariant), not an entry that left. */
		struct queue_env probe;
		memset(&probe, 0, sizeof probe);
		char perr[256];
		if (j->result == LOAD_GONE && spool_load(dir, a->id, &probe, perr, sizeof perr) == 0) {
			j->result = LOAD_CORRUPT;
			snprintf(j->err, sizeof j->err, "envelope without message");
		}
		queue_env_free(&probe);
		if (j->result == LOAD_CORRUPT) {
			char qerr[256];
			if (spool_quarantine(dir, a->id, j->err, qerr, sizeof qerr) < 0)
				snprintf(j->err, sizeof j->err, "quarantine: %.200s", qerr);
		}
		return;
	}
	if (spool_load(dir, a->id, &a->env, j->err, sizeof j->err) < 0) {
		j->result = errno == ENOENT ? LOAD_GONE : errno == EBADMSG ? LOAD_CORRUPT : LOAD_ERROR;
	} else if (a->env.held) {
		j->result = LOAD_HELD;
	} else if (spool_read_msg(dir, a->id, &a->msg, &a->msg_len, j->err, sizeof j->err) < 0) {
		j->result = errno == ENOENT ? LOAD_CORRUPT : LOAD_ERROR;
	} else {
		j->result = LOAD_OK;
		return;
	}
	if (j->result == LOAD_CORRUPT) {
		char qerr[256];
		if (spool_quarantine(dir, a->id, j->err, qerr, sizeof qerr) < 0)
			snprintf(j->err, sizeof j->err, "quarantine: %.200s", qerr);
	}
}

static void plan_attempt(struct attempt *a);

static void load_done(struct worker_job *job)
{
	struct load_job *j = (struct load_job *)job;
	struct attempt *a = j->a;
	struct relay *r = a->r;
	enum load_result res = j->result;
	char j_err[256];
	snprintf(j_err, sizeof j_err, "%s", j->err);
	free(j);
	struct qent *e = ent_find(r, a->id);
	bool forced = e && e->next == 0;
	if (r->stopping) {
		attempt_free(a);
		return;
	}
	switch (res) {
	case LOAD_OK:
		/* At start every entry is looked at once; one whose next
		 * attempt lies ahead just goes back to sleep. */
		if (!forced && a->env.next_attempt > time(NULL)) {
			if (e) {
				e->next = a->env.next_attempt;
				e->active = false;
			}
			attempt_free(a);
			return;
		}
		plan_attempt(a);
		return;
	case LOAD_BUSY: /* "facteur queue" holds it: look again soon */
		if (e) {
			e->next = time(NULL) + 1;
			e->active = false;
		}
		break;
	case LOAD_ERROR:
		log_error("relay load-failed id=%s", a->id);
		if (e) {
			e->next = time(NULL) + (time_t)r->srv->conf->retry_min;
			e->active = false;
		}
		break;
	case LOAD_CORRUPT:
		log_error("relay quarantined id=%s reason=\"%s\"", a->id, j_err);
		ent_remove(r, a->id);
		break;
	case LOAD_GONE:
	case LOAD_HELD:
		ent_remove(r, a->id);
		break;
	}
	attempt_free(a);
}

static void start_attempt(struct relay *r, struct qent *e)
{
	struct attempt *a = calloc(1, sizeof *a);
	struct load_job *j = calloc(1, sizeof *j);
	if (!a || !j) {
		free(a);
		free(j);
		return;
	}
	a->r = r;
	a->lock_fd = -1;
	a->started = time(NULL);
	snprintf(a->id, sizeof a->id, "%s", e->id);
	a->next = r->attempts;
	if (a->next)
		a->next->prev = a;
	r->attempts = a;
	r->nactive++;
	e->active = true;
	j->a = a;
	j->job.run = load_run;
	j->job.done = load_done;
	worker_pool_submit(r->srv->pool, &j->job);
}

static void reply_set(struct smtp_client_reply *rep, unsigned code, const char *status,
		      const char *text)
{
	memset(rep, 0, sizeof *rep);
	rep->code = code;
	snprintf(rep->status, sizeof rep->status, "%s", status);
	snprintf(rep->text, sizeof rep->text, "%s", text);
}

void relay_record(struct attempt *a, size_t i, const struct smtp_client_reply *rep,
		  const char *mta, bool accepted)
{
	struct queue_rcpt *q = &a->env.rcpts[i];
	q->attempts++;
	char status[16];
	snprintf(status, sizeof status, "%s", rep->status);
	if (accepted) {
		q->state = RCPT_SENT;
	} else if (rep->code >= 500 && rep->code < 600) {
		q->state = RCPT_FAILED;
	} else {
		q->state = RCPT_PENDING;
		/* A failure without a reply (refused, timeout, TLS) is a
		 * temporary network problem: RFC 3463 4.4.x. */
		if (!*status)
			snprintf(status, sizeof status, "%s",
				 rep->code ? "4.0.0" : "4.4.1");
	}
	if (!queue_rcpt_set_result(q, rep->code, status, mta, rep->text))
		log_error("relay record-failed id=%s (out of memory)", a->id);
	log_info("relay %s id=%s rcpt=%s mta=%s code=%u status=%s text=\"%s\"",
		 accepted ? "sent" : q->state == RCPT_FAILED ? "failed" : "deferred",
		 a->id, q->addr, mta ? mta : "-", rep->code, *status ? status : "-", rep->text);
}

/* ---- local recipients of queued mail ---- */

struct local_job {
	struct rjob *rj;
	char **accounts;
	size_t n;
	char head[600];
};

static void local_done(void *arg, int status, const char *text)
{
	struct local_job *l = arg;
	struct rjob *rj = l->rj;
	/* Recorded even while stopping: the copies are in the Maildirs. */
	struct smtp_client_reply rep;
	bool ok = status == IPCMSG_OK;
	if (ok)
		reply_set(&rep, 250, "2.0.0", "delivered to mailbox");
	else if (status == STORE_LOST) /* maybe stored: a retry may duplicate */
		reply_set(&rep, 451, "4.3.0", "the store process went away");
	else
		reply_set(&rep, 451, "4.3.0", *text ? text : "the store process failed");
	for (size_t i = 0; i < rj->n; i++)
		relay_record(rj->att, rj->idx[i], &rep, NULL, ok);
	for (size_t i = 0; i < l->n; i++)
		free(l->accounts[i]);
	free(l->accounts);
	free(l);
	relay_job_done(rj);
}

static struct rjob *rjob_new(struct attempt *a, size_t cap)
{
	struct rjob *j = calloc(1, sizeof *j);
	if (!j || !(j->idx = calloc(cap ? cap : 1, sizeof *j->idx))) {
		free(j);
		return NULL;
	}
	j->att = a;
	a->outstanding++;
	return j;
}

static void deliver_local(struct attempt *a, struct rjob *rj)
{
	struct relay *r = a->r;
	struct local_job *l = calloc(1, sizeof *l);
	if (l)
		l->accounts = calloc(rj->n, sizeof *l->accounts);
	struct smtp_client_reply gone;
	reply_set(&gone, 550, "5.1.1", "mailbox no longer exists");
	size_t keep = 0;
	for (size_t i = 0; l && l->accounts && i < rj->n; i++) {
		char name[320];
		size_t k = rj->idx[i];
		if (accounts_route(r->srv->accounts, a->env.rcpts[k].addr, name, sizeof name) !=
		    ROUTE_LOCAL) {
			relay_record(a, k, &gone, NULL, false);
			continue;
		}
		bool dup = false;
		for (size_t m = 0; m < l->n && !dup; m++)
			dup = !strcmp(l->accounts[m], name);
		if (!dup && !(l->accounts[l->n++] = strdup(name)))
			l->n--;
		rj->idx[keep++] = k;
	}
	rj->n = keep;
	if (!l || !l->accounts || l->n == 0) {
		if (l && l->accounts && rj->n) {
			struct smtp_client_reply nomem;
			reply_set(&nomem, 451, "4.3.0", "out of memory");
			for (size_t i = 0; i < rj->n; i++)
				relay_record(a, rj->idx[i], &nomem, NULL, false);
		}
		if (l)
			free(l->accounts);
		free(l);
		relay_job_done(rj);
		return;
	}
	/* RFC 5321 4.4: the final delivery adds Return-Path. */
	int hn = snprintf(l->head, sizeof l->head, "Return-Path: <%s>\n", a->env.sender);
	l->rj = rj;
	if (!store_deliver(r->srv->store, (const char *const *)l->accounts, l->n, l->head,
			   hn > 0 && (size_t)hn < sizeof l->head ? (size_t)hn : 0, a->msg,
			   a->msg_len, local_done, l))
		local_done(l, IPCMSG_TEMPFAIL, "the store process is gone");
}

/* ---- planning ---- */

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

static void finish_attempt(struct attempt *a);

static void plan_attempt(struct attempt *a)
{
	struct relay *r = a->r;
	const struct conf *cf = r->srv->conf;
	struct queue_env *env = &a->env;
	time_t now = time(NULL);
	log_info("relay attempt id=%s rcpts=%zu pending=%zu attempts=%u", a->id, env->nrcpts,
		 queue_env_pending(env), env->attempts);
	/* The +1 keeps the "5 days" exact for entries looked at on time. */
	if (now - env->created >= (time_t)cf->queue_lifetime && env->attempts > 0) {
		for (size_t i = 0; i < env->nrcpts; i++) {
			struct queue_rcpt *q = &env->rcpts[i];
			if (q->state != RCPT_PENDING)
				continue;
			/* Keep the last real reason for the DSN. */
			char text[QUEUE_TEXT_MAX + 64];
			snprintf(text, sizeof text, "delivery time expired; last error: %s",
				 q->text ? q->text : "none");
			q->state = RCPT_FAILED;
			queue_rcpt_set_result(q, q->code, "4.4.7", q->mta, text);
		}
	}
	a->outstanding = 1; /* held by planning until every share is out */
	struct rjob *local = NULL;
	for (size_t i = 0; i < env->nrcpts; i++) {
		struct queue_rcpt *q = &env->rcpts[i];
		if (q->state != RCPT_PENDING)
			continue;
		if (q->local) {
			if (!local && !(local = rjob_new(a, env->nrcpts)))
				continue;
			local->idx[local->n++] = i;
			continue;
		}
		/* Remote: one share per domain, with every pending recipient
		 * of that domain not yet taken. */
		bool taken = false;
		for (size_t k = 0; k < i && !taken; k++)
			taken = !env->rcpts[k].local && env->rcpts[k].state == RCPT_PENDING &&
				!strcasecmp(domain_of(env->rcpts[k].addr), domain_of(q->addr));
		if (taken)
			continue;
		struct dest *d = dest_for_domain(r, domain_of(q->addr));
		struct rjob *j = d ? rjob_new(a, env->nrcpts) : NULL;
		if (!j)
			continue;
		for (size_t k = i; k < env->nrcpts; k++)
			if (!env->rcpts[k].local && env->rcpts[k].state == RCPT_PENDING &&
			    !strcasecmp(domain_of(env->rcpts[k].addr), domain_of(q->addr)))
				j->idx[j->n++] = k;
		dest_push(r, d, j);
	}
	if (local)
		deliver_local(a, local);
	if (--a->outstanding == 0)
		finish_attempt(a);
}

void relay_job_done(struct rjob *j)
{
	struct attempt *a = j->att;
	free(j->idx);
	free(j);
	if (--a->outstanding == 0)
		finish_attempt(a);
}

/* ---- the end of an attempt: write the new state ---- */

struct finish_job {
	struct worker_job job;
	struct attempt *a;
	bool remove;                 /* no recipient pending: the entry goes */
	struct queue_env notice_env; /* a bounce or warning to enqueue first */
	struct buf notice;
	bool has_notice;
	bool bounced;                /* the notice is a bounce (not a warning) */
	bool notice_queued;
	int rc;
	char err[256];
};

static void finish_run(struct worker_job *job)
{
	struct finish_job *f = (struct finish_job *)job;
	struct attempt *a = f->a;
	const char *dir = a->r->dir;
	if (f->has_notice) {
		struct iovec iov = { f->notice.data, f->notice.len };
		char err[256];
		/* A fixed id per notice: enqueued once even if a crash
		 * repeats this step (EEXIST). */
		if (spool_enqueue(dir, &f->notice_env, &iov, 1, err, sizeof err) == 0)
			f->notice_queued = true;
		else if (errno != EEXIST) {
			/* Without its bounce the entry must not go: keep it
			 * and try again later. */
			snprintf(f->err, sizeof f->err, "notice: %.200s", err);
			f->rc = -1;
			return;
		}
	}
	f->rc = f->remove ? spool_remove(dir, a->id, f->err, sizeof f->err)
			  : spool_update(dir, &a->env, f->err, sizeof f->err);
}

static void finish_done(struct worker_job *job)
{
	struct finish_job *f = (struct finish_job *)job;
	struct attempt *a = f->a;
	struct relay *r = a->r;
	if (f->rc < 0)
		log_error("relay write-failed id=%s error=\"%s\"", a->id, f->err);
	if (f->has_notice && f->notice_queued)
		log_info("relay %s id=%s notice=%s", f->bounced ? "bounce" : "delay-warning",
			 a->id, f->notice_env.id);
	char notice_id[QUEUE_ID_MAX + 1];
	snprintf(notice_id, sizeof notice_id, "%s", f->notice_queued ? f->notice_env.id : "");
	struct qent *e = ent_find(r, a->id);
	if (f->remove && f->rc == 0) {
		log_info("relay done id=%s", a->id);
		ent_remove(r, a->id);
	} else if (e) {
		e->active = false;
		e->next = f->rc == 0 ? a->env.next_attempt
				     : time(NULL) + (time_t)r->srv->conf->retry_min;
	}
	queue_env_free(&f->notice_env);
	buf_release(&f->notice);
	free(f);
	attempt_free(a);
	if (*notice_id)
		relay_notify(r, notice_id);
}

static time_t backoff(const struct conf *cf, unsigned attempts)
{
	uint64_t d = cf->retry_min;
	for (unsigned i = 1; i < attempts && d < cf->retry_max; i++)
		d *= 2;
	return (time_t)(d < cf->retry_max ? d : cf->retry_max);
}

static void finish_attempt(struct attempt *a)
{
	struct relay *r = a->r;
	const struct conf *cf = r->srv->conf;
	struct queue_env *env = &a->env;
	struct finish_job *f = calloc(1, sizeof *f);
	if (!f) {
		struct qent *e = ent_find(r, a->id);
		if (e) {
			e->active = false;
			e->next = time(NULL) + (time_t)cf->retry_min;
		}
		attempt_free(a);
		return;
	}
	buf_init(&f->notice, 0);
	f->a = a;
	time_t now = time(NULL);
	env->attempts++;
	f->remove = queue_env_pending(env) == 0;
	/* Recipients that failed for good are reported now, not when the
	 * last of the others is done (which may take queue_lifetime). */
	f->has_notice = notice_build(r, a, false, &f->notice_env, &f->notice);
	if (f->has_notice)
		f->bounced = true;
	if (!f->remove) {
		/* Stopping: what was not attempted is tried at once at the
		 * next start. */
		env->next_attempt = r->stopping ? now : now + backoff(cf, env->attempts);
		if (!f->has_notice && cf->delay_warning && !env->warned &&
		    now - env->created >= (time_t)cf->delay_warning) {
			f->has_notice = notice_build(r, a, true, &f->notice_env, &f->notice);
			env->warned = f->has_notice;
		}
		r->deferred++;
		log_info("relay deferred id=%s pending=%zu next-in=%lds", a->id,
			 queue_env_pending(env), (long)(env->next_attempt - now));
	}
	/* The notice's recipients are marked in the state written next; a
	 * crash before that write queues the same notice id again, which
	 * spool_enqueue refuses (EEXIST): never two bounces. */
	for (size_t i = 0; f->bounced && i < env->nrcpts; i++)
		if (env->rcpts[i].state == RCPT_FAILED)
			env->rcpts[i].state = RCPT_BOUNCED;
	f->job.run = finish_run;
	f->job.done = finish_done;
	/* The next hop has the message: record it before new commits, so a
	 * crash leaves few messages to be sent twice. */
	worker_pool_submit_urgent(r->srv->pool, &f->job);
}

/* ---- start and stop ---- */

static SSL_CTX *client_ctx(bool verify)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			log_warn("relay: no system CA certificates found");
	} else {
		/* RFC 3207 4.1 / RFC 7672 1.3: opportunistic TLS protects
		 * against passive listeners only; an unverifiable certificate
		 * is no reason to send in the clear instead. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

static char *read_password(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char line[1024];
	char *p = NULL;
	if (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		p = strdup(line);
	}
	secure_wipe(line, sizeof line);
	fclose(f);
	return p;
}

/* The server binds its ports as root and then runs as "user", who owns
 * data_dir: directories made before the switch must be that user's. */
static void own_like_data_dir(const char *data_dir, const char *dir)
{
	struct stat st;
	if (geteuid() != 0 || stat(data_dir, &st) < 0 || st.st_uid == 0)
		return;
	static const char *const subs[] = { "", "/tmp", "/msg", "/env", "/hold", "/corrupt" };
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		char p[4200];
		snprintf(p, sizeof p, "%s%s", dir, subs[i]);
		if (chown(p, st.st_uid, st.st_gid) < 0 && errno != ENOENT)
			log_warn("relay: cannot chown %s: %s", p, strerror(errno));
	}
}

struct relay *relay_new(struct server *srv)
{
	const struct conf *cf = srv->conf;
	struct relay *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->srv = srv;
	char err[512];
	err[0] = '\0';
	if (snprintf(r->dir, sizeof r->dir, "%s/queue", cf->data_dir) >= (int)sizeof r->dir ||
	    spool_ensure(r->dir, err, sizeof err) < 0) {
		log_error("relay: queue directory unusable: %s", err);
		free(r);
		return NULL;
	}
	own_like_data_dir(cf->data_dir, r->dir);
	int fixed = spool_recover(r->dir, RECOVER_MIN_AGE, err, sizeof err);
	if (fixed < 0)
		log_error("relay recover-failed error=\"%s\"", err);
	else if (fixed > 0)
		log_info("relay recovered files=%d", fixed);
	char **ids = NULL;
	size_t n = 0;
	if (spool_list(r->dir, &ids, &n, err, sizeof err) < 0)
		log_error("relay list-failed error=\"%s\"", err);
	for (size_t i = 0; i < n; i++)
		ent_add(r, ids[i], 0);
	spool_ids_free(&ids, n);
	r->dns = dns_resolver_new(srv->base, cf->dns_servers, 5000, 2, err, sizeof err);
	r->tls_opportunistic = client_ctx(false);
	r->tls_verified = client_ctx(true);
	if (*cf->relayhost_user && !(r->relay_password = read_password(cf->relayhost_password_file)))
		log_error("relay: cannot read relayhost_password_file %s", cf->relayhost_password_file);
	r->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, r);
	struct timeval sec = { 1, 0 };
	if (!r->dns || !r->tls_opportunistic || !r->tls_verified || !r->tick ||
	    event_add(r->tick, &sec) < 0) {
		log_error("relay: cannot start: %s", r->dns ? "out of memory" : err);
		relay_free(&r);
		return NULL;
	}
	log_info("relay started queued=%zu dir=%s", r->nents, r->dir);
	return r;
}

void relay_shutdown(struct relay *r)
{
	if (!r || r->stopping)
		return;
	r->stopping = true;
	if (r->tick)
		event_del(r->tick);
	/* Waiting jobs end now, so that their attempts (some of whose
	 * shares may be on the wire) can record what did happen. */
	struct smtp_client_reply stop;
	reply_set(&stop, 0, "4.3.2", "not attempted: server shutting down");
	for (struct dest *d = r->dests; d; d = d->next)
		dest_fail_all(d, &stop, NULL);
	rsessions_free_unbusy(r);
	log_info("relay stopping sessions=%u", r->nsessions);
}

bool relay_busy(const struct relay *r)
{
	return r && r->nsessions > 0;
}

void relay_abort(struct relay *r)
{
	if (!r)
		return;
	if (r->nsessions)
		log_warn("relay cutting sessions=%u", r->nsessions);
	/* A message not confirmed by its "250" stays queued and is sent
	 * again at the next start (RFC 5321 6.1: a rare duplicate rather
	 * than a loss). */
	rsessions_free(r);
}

void relay_free(struct relay **rp)
{
	struct relay *r = *rp;
	if (!r)
		return;
	r->stopping = true;
	rsessions_free(r);
	dests_free(r);
	while (r->attempts) {
		struct attempt *a = r->attempts;
		r->attempts = a->next;
		a->next = a->prev = NULL;
		attempt_free(a);
	}
	dns_resolver_free(&r->dns);
	if (r->tick)
		event_free(r->tick);
	SSL_CTX_free(r->tls_opportunistic);
	SSL_CTX_free(r->tls_verified);
	if (r->relay_password) {
		secure_wipe(r->relay_password, strlen(r->relay_password));
		free(r->relay_password);
	}
	free(r->ents);
	free(r);
	*rp = NULL;
}
