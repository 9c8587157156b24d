#include "daemon/smtp_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <event2/event.h>

#include "daemon/accounts.h"
#include "daemon/auth_client.h"
#include "daemon/conn.h"
#include "daemon/relay.h"
#include "daemon/store_client.h"
#include "daemon/trace.h"
#include "lib/buf.h"
#include "lib/escape.h"
#include "lib/log.h"
#include "net/worker.h"
#include "proto/smtp_server.h"
#include "queue/spool.h"

/* Replies waiting beyond this stop reading until the client catches up:
 * a client that pipelines without reading cannot grow our memory. */
#define SMTP_OUTPUT_HIGH (256 * 1024)

struct smtp_conn {
	struct smtp_server *core;
	struct smtp_server_cfg cfg;
	bool waiting;        /* a commit, login or recipient check is pending */
	bool in_data;        /* timeout currently set for DATA */
	unsigned txn;        /* transactions committed, for ids */
	bool replied;        /* a reply went out since the deadline was set */
	size_t data_held;    /* this session's share of srv->data_memory */
	char rcpt[512];      /* the recipient being checked */
	bool rcpt_authenticated;
};

struct deliver_job {
	struct worker_job job;
	struct conn *c;
	struct server *srv;
	size_t accounted;    /* bytes of srv->data_memory this job holds */
	char **accounts;     /* local recipients, each once */
	size_t n, cap;
	struct buf head;     /* trace headers */
	uint8_t *body;
	size_t body_len;
	int result;          /* enum smtp_commit_result */
	char id[QUEUE_ID_MAX + 1];
	char err[256];
	/* Foreign recipients: the whole transaction goes to the outbound
	 * queue instead (local recipients included, delivered from there),
	 * one durable write either way. */
	struct queue_env qenv;
	bool queued;
	const char *spool_dir;
};

static void smtp_process(struct conn *c);
static void drain_outputs(struct conn *c);

/* A transaction with a foreign recipient goes to the queue, written here
 * on a worker; one with local recipients only goes to the store process
 * (store_delivered). */
static void enqueue_run(struct worker_job *job)
{
	struct deliver_job *d = (struct deliver_job *)job;
	d->result = SMTP_COMMIT_OK;
	struct iovec qiov[2] = {
		{ d->head.data, d->head.len },
		{ d->body, d->body_len },
	};
	if (spool_enqueue(d->spool_dir, &d->qenv, qiov, 2, d->err, sizeof d->err) < 0)
		d->result = (errno == ENOSPC || errno == EDQUOT) ?
			SMTP_COMMIT_NO_SPACE : SMTP_COMMIT_TEMPFAIL;
}

static void deliver_free(struct deliver_job *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->accounts[i]);
	free(d->accounts);
	buf_release(&d->head);
	free(d->body);
	queue_env_free(&d->qenv);
	if (d->srv)
		d->srv->data_memory -= d->accounted;
	free(d);
}

static void deliver_finish(struct deliver_job *d)
{
	struct conn *c = d->c;
	if (d->result == SMTP_COMMIT_OK && d->queued) {
		c->srv->messages_stored++;
		log_info("smtp %s queued id=%s rcpts=%zu size=%zu", c->id, d->id, d->qenv.nrcpts,
			 d->head.len + d->body_len);
		relay_notify(c->srv->relay, d->id);
	} else if (d->result == SMTP_COMMIT_OK) {
		c->srv->messages_stored++;
		log_info("smtp %s stored id=%s rcpts=%zu size=%zu", c->id, d->id, d->n,
			 d->head.len + d->body_len);
	} else {
		log_error("smtp %s store-failed id=%s error=\"%s\"", c->id, d->id, d->err);
	}
	if (conn_job_finished(c)) {
		struct smtp_conn *sc = c->proto;
		sc->waiting = false;
		struct smtp_in in = { .kind = SMTP_IN_COMMIT_RESULT, .result = d->result,
				      .id = d->result == SMTP_COMMIT_OK ? d->id : NULL };
		smtp_server_input(sc->core, &in);
		smtp_process(c);
	}
	deliver_free(d);
}

static void enqueue_done(struct worker_job *job)
{
	deliver_finish((struct deliver_job *)job);
}

static void store_delivered(void *arg, int status, const char *text)
{
	struct deliver_job *d = arg;
	if (status == STORE_LOST) {
		/* Stored or not, nobody knows: no 250 and no 451 either. The
		 * client retries, as after a crash (RFC 5321 6.1). */
		struct conn *c = d->c;
		log_error("smtp %s store-lost id=%s: closing without a reply", c->id, d->id);
		if (conn_job_finished(c))
			conn_abort(c);
		deliver_free(d);
		return;
	}
	d->result = status == IPCMSG_OK ? SMTP_COMMIT_OK
		  : status == IPCMSG_NOSPACE ? SMTP_COMMIT_NO_SPACE : SMTP_COMMIT_TEMPFAIL;
	snprintf(d->err, sizeof d->err, "%s", text);
	deliver_finish(d);
}

static bool add_account(struct deliver_job *d, const char *name)
{
	/* The same mailbox named twice (alias, postmaster) gets one copy. */
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->accounts[i], name))
			return true;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		char **m = realloc(d->accounts, cap * sizeof *m);
		if (!m)
			return false;
		d->accounts = m;
		d->cap = cap;
	}
	char *p = strdup(name);
	if (!p)
		return false;
	d->accounts[d->n++] = p;
	return true;
}

static void commit_answer(struct conn *c, int result)
{
	struct smtp_conn *sc = c->proto;
	struct smtp_in in = { .kind = SMTP_IN_COMMIT_RESULT, .result = result };
	smtp_server_input(sc->core, &in);
}

/* Sorts the recipients: local accounts, and (when some are foreign) the
 * queue envelope with every recipient. */
static bool plan_delivery(struct conn *c, struct smtp_commit *cm, struct deliver_job *d)
{
	struct accounts *a = c->srv->accounts;
	struct queue_env *q = &d->qenv;
	bool ok = true;
	size_t remote = 0;
	for (size_t i = 0; ok && i < cm->nrcpts; i++) {
		struct alias_targets t;
		enum alias_result res = accounts_expand(a, cm->rcpts[i], &t);
		if (res == ALIAS_OK || res == ALIAS_FOREIGN) {
			for (size_t k = 0; ok && k < t.nlocal; k++)
				ok = add_account(d, t.local[k]) &&
				     queue_env_add_rcpt(q, t.local[k], cm->rcpts[i], true);
			for (size_t k = 0; ok && k < t.nremote; k++, remote++)
				ok = queue_env_add_rcpt(q, t.remote[k], cm->rcpts[i], false);
		}
		/* A recipient accepted at RCPT whose alias vanished since
		 * (file reloaded) is dropped, not a reason to fail all. */
		alias_targets_free(&t);
	}
	d->queued = remote > 0;
	return ok && (d->n > 0 || d->queued);
}

static void start_commit(struct conn *c, struct smtp_commit *cm)
{
	struct smtp_conn *sc = c->proto;
	const struct conf *cf = c->srv->conf;
	/* RFC 5321 6.3: too many Received: fields means a loop. */
	if (trace_count_received(cm->body, cm->body_len, cf->max_hops) >= cf->max_hops) {
		log_warn("smtp %s loop-detected hops>=%u from=<%s>", c->id, cf->max_hops,
			 cm->mail_from);
		free(cm->body);
		cm->body = NULL;
		commit_answer(c, SMTP_COMMIT_LOOP);
		return;
	}
	/* The body leaves the core: its buffer is no longer the session's
	 * but this commit's, and a message that arrived whole in one read
	 * meets the budget here. */
	struct server *srv = c->srv;
	srv->data_memory -= sc->data_held;
	sc->data_held = 0;
	if (srv->data_memory + cm->body_len > cf->max_data_memory) {
		log_warn("smtp %s data-shed size=%zu total=%llu max_data_memory=%llu", c->id,
			 cm->body_len, (unsigned long long)srv->data_memory,
			 (unsigned long long)cf->max_data_memory);
		free(cm->body);
		cm->body = NULL;
		commit_answer(c, SMTP_COMMIT_NO_SPACE);
		return;
	}
	struct deliver_job *d = calloc(1, sizeof *d);
	if (!d) {
		free(cm->body);
		cm->body = NULL;
		commit_answer(c, SMTP_COMMIT_TEMPFAIL);
		return;
	}
	d->c = c;
	d->srv = c->srv;
	d->body = cm->body;
	d->body_len = cm->body_len;
	d->accounted = cm->body_len;
	c->srv->data_memory += d->accounted;
	cm->body = NULL;
	buf_init(&d->head, 0);
	bool planned = plan_delivery(c, cm, d);
	if (d->queued) {
		spool_new_id(d->id, sizeof d->id);
		snprintf(d->qenv.id, sizeof d->qenv.id, "%s", d->id);
		d->qenv.sender = strdup(cm->mail_from);
		d->qenv.created = d->qenv.next_attempt = time(NULL);
		d->qenv.body_8bit = cm->body_8bit;
		d->spool_dir = c->srv->relay ? relay_spool_dir(c->srv->relay) : NULL;
		planned = planned && d->qenv.sender && d->spool_dir;
	} else {
		snprintf(d->id, sizeof d->id, "%s.%u", c->id, ++sc->txn);
	}
	struct trace_info t = {
		.mail_from = cm->mail_from, .helo = cm->helo, .peer = c->peer,
		.hostname = cf->hostname, .id = d->id,
		.for_rcpt = cm->nrcpts == 1 ? cm->rcpts[0] : NULL,
		.esmtp = cm->esmtp, .tls = cm->tls, .authenticated = cm->authenticated,
		.when = time(NULL), .queued = d->queued,
	};
	if (!planned || !trace_headers(&d->head, &t)) {
		deliver_free(d);
		commit_answer(c, SMTP_COMMIT_TEMPFAIL);
		return;
	}
	sc->waiting = true;
	conn_job_started(c);
	if (d->queued) {
		d->job.run = enqueue_run;
		d->job.done = enqueue_done;
		worker_pool_submit(c->srv->pool, &d->job);
	} else if (!store_deliver(c->srv->store, (const char *const *)d->accounts, d->n,
				  d->head.data, d->head.len, d->body, d->body_len,
				  store_delivered, d)) {
		log_error("smtp %s store-failed id=%s error=\"no store process\"", c->id, d->id);
		sc->waiting = false;
		conn_job_finished(c);
		deliver_free(d);
		commit_answer(c, SMTP_COMMIT_TEMPFAIL);
	}
}

static int rcpt_verdict(struct conn *c, const char *rcpt, bool authenticated)
{
	struct accounts *a = c->srv->accounts;
	const struct conf *cf = c->srv->conf;
	struct alias_targets t;
	int result = SMTP_RCPT_TEMPFAIL;
	switch (accounts_expand(a, rcpt, &t)) {
	case ALIAS_OK:
		/* Forwarding by alias is ours to do, whoever sends. */
		result = t.nremote && !c->srv->relay ? SMTP_RCPT_RELAY_UNAVAILABLE : SMTP_RCPT_OK;
		break;
	case ALIAS_FOREIGN:
		/* Never an open relay: only authenticated clients and
		 * relay_networks may send to foreign domains. */
		if (!authenticated && !cidr_match_text(cf->relay_nets, cf->nrelay_nets, c->peer))
			result = SMTP_RCPT_RELAY_DENIED;
		else
			result = c->srv->relay ? SMTP_RCPT_OK : SMTP_RCPT_RELAY_UNAVAILABLE;
		break;
	case ALIAS_UNKNOWN:
	case ALIAS_BAD:
		result = SMTP_RCPT_UNKNOWN_USER;
		break;
	case ALIAS_LOOP:
		result = SMTP_RCPT_LOOP;
		break;
	case ALIAS_NOMEM:
		break;
	}
	alias_targets_free(&t);
	return result;
}

static void give_rcpt_result(struct conn *c, int result)
{
	struct smtp_conn *sc = c->proto;
	struct smtp_in in = { .kind = SMTP_IN_RCPT_RESULT, .result = result };
	smtp_server_input(sc->core, &in);
}

/* An unknown recipient may be an account added a moment ago: the auth
 * process looks at the files once more before we say 550. */
static void rcpt_refreshed(void *arg, int status, const char *name)
{
	(void)status;
	(void)name;
	struct conn *c = arg;
	if (!conn_job_finished(c))
		return;
	struct smtp_conn *sc = c->proto;
	sc->waiting = false;
	give_rcpt_result(c, rcpt_verdict(c, sc->rcpt, sc->rcpt_authenticated));
	smtp_process(c);
}

static void check_rcpt(struct conn *c, const char *data, size_t len, bool authenticated)
{
	struct smtp_conn *sc = c->proto;
	if (len >= sizeof sc->rcpt || memchr(data, '\0', len)) {
		give_rcpt_result(c, SMTP_RCPT_TEMPFAIL);
		return;
	}
	memcpy(sc->rcpt, data, len);
	sc->rcpt[len] = '\0';
	int result = rcpt_verdict(c, sc->rcpt, authenticated);
	if (result == SMTP_RCPT_UNKNOWN_USER && !c->srv->stopping) {
		sc->rcpt_authenticated = authenticated;
		conn_job_started(c);
		if (auth_client_refresh(c->srv->auth, rcpt_refreshed, c)) {
			sc->waiting = true;
			return;
		}
		conn_job_finished(c);
	}
	give_rcpt_result(c, result);
}

/* ---- AUTH ---- */

static void give_auth_result(struct conn *c, int result, const char *user)
{
	struct smtp_conn *sc = c->proto;
	sc->waiting = false;
	struct smtp_in in = { .kind = SMTP_IN_AUTH_RESULT, .result = result, .user = user };
	smtp_server_input(sc->core, &in);
}

static void answer_auth_failed(struct conn *c)
{
	give_auth_result(c, SMTP_AUTH_BAD, NULL);
	smtp_process(c);
}

static void auth_answered(void *arg, int status, const char *name)
{
	struct conn *c = arg;
	if (!conn_job_finished(c))
		return;
	if (status == IPCMSG_OK) {
		conn_login_succeeded(c);
		give_auth_result(c, SMTP_AUTH_OK, name);
		smtp_process(c);
	} else if (status == IPCMSG_BAD) {
		conn_login_failed(c, answer_auth_failed);
	} else {
		give_auth_result(c, SMTP_AUTH_TEMPFAIL, NULL);
		smtp_process(c);
	}
}

/* The password goes to the auth process, which alone holds the hashes;
 * the core keeps its copy (and wipes it) until AUTH_RESULT. */
static void start_auth(struct conn *c, const struct smtp_auth_creds *cr)
{
	struct smtp_conn *sc = c->proto;
	conn_job_started(c);
	if (!auth_client_pass(c->srv->auth, cr->authcid, cr->password, auth_answered, c)) {
		conn_job_finished(c);
		struct smtp_in in = { .kind = SMTP_IN_AUTH_RESULT, .result = SMTP_AUTH_TEMPFAIL };
		smtp_server_input(sc->core, &in);
		return;
	}
	sc->waiting = true;
}

static void smtp_on_tls_ready(struct conn *c, bool ok)
{
	struct smtp_conn *sc = c->proto;
	sc->waiting = false;
	struct smtp_in in = { .kind = ok ? SMTP_IN_TLS_STARTED : SMTP_IN_TLS_FAILED };
	smtp_server_input(sc->core, &in);
	if (ok)
		smtp_process(c);
	else
		drain_outputs(c);
}

static void drain_outputs(struct conn *c)
{
	struct smtp_conn *sc = c->proto;
	struct smtp_out out;
	while (smtp_server_next(sc->core, &out)) {
		switch (out.kind) {
		case SMTP_OUT_REPLY:
			conn_write(c, out.data, out.len);
			if (sc->cfg.transcript)
				conn_log_reply(c, out.data, out.len);
			sc->replied = true;
			break;
		case SMTP_OUT_LOG:
			log_info("smtp %s %.*s", c->id, (int)out.len, out.data);
			break;
		case SMTP_OUT_CHECK_RCPT:
			check_rcpt(c, out.data, out.len, out.authenticated);
			break;
		case SMTP_OUT_COMMIT:
			start_commit(c, &out.commit);
			break;
		case SMTP_OUT_CLOSE:
			conn_close_after_write(c);
			break;
		case SMTP_OUT_STARTTLS:
			sc->waiting = true;
			conn_start_tls(c);
			break;
		case SMTP_OUT_AUTH:
			start_auth(c, &out.auth);
			break;
		}
	}
}

static void update_timeout(struct conn *c)
{
	struct smtp_conn *sc = c->proto;
	bool in_data = smtp_server_in_data(sc->core);
	const struct conf *cf = c->srv->conf;
	if (in_data != sc->in_data) {
		sc->in_data = in_data;
		conn_set_timeout(c, in_data ? cf->smtp_data_timeout : cf->smtp_timeout);
	}
	/* Between commands a client gets smtp_timeout to finish the next
	 * one, however it trickles it in; DATA is bounded by the idle
	 * timeout only (a large message on a slow link is legitimate), and
	 * a session waiting on us is not timed out. */
	conn_progress(c, in_data || sc->waiting ? 0 : cf->smtp_timeout);
}

/* Keeps srv->data_memory up to date with what this session's message
 * holds, and sheds the message that takes the total over max_data_memory
 * (it is refused with 452 4.3.1 at its end; the others go on). */
static void account_data(struct conn *c)
{
	struct smtp_conn *sc = c->proto;
	struct server *srv = c->srv;
	size_t held = smtp_server_data_held(sc->core);
	srv->data_memory = srv->data_memory - sc->data_held + held;
	sc->data_held = held;
	if (held && srv->data_memory > srv->conf->max_data_memory) {
		log_warn("smtp %s data-shed held=%zu total=%llu max_data_memory=%llu", c->id, held,
			 (unsigned long long)srv->data_memory,
			 (unsigned long long)srv->conf->max_data_memory);
		struct smtp_in in = { .kind = SMTP_IN_SHED_DATA };
		smtp_server_input(sc->core, &in);
		held = smtp_server_data_held(sc->core);
		srv->data_memory = srv->data_memory - sc->data_held + held;
		sc->data_held = held;
	}
}

static void smtp_process(struct conn *c)
{
	struct smtp_conn *sc = c->proto;
	drain_outputs(c);
	while (!c->gone && !sc->waiting && !smtp_server_closed(sc->core) &&
	       conn_output_pending(c) < SMTP_OUTPUT_HIGH) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		if (evbuffer_get_length(in) == 0)
			break;
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t n = smtp_server_feed(sc->core, v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		drain_outputs(c);
		if (!c->gone)
			account_data(c);
		if (n == 0 && !sc->waiting)
			break; /* the core wants nothing more now */
	}
	if (c->gone || c->closing)
		return;
	if (sc->replied || sc->waiting || smtp_server_in_data(sc->core) != sc->in_data) {
		sc->replied = false;
		update_timeout(c);
	}
	/* Back-pressure both ways: stop reading while a commit is pending
	 * (the input watermark bounds what is buffered) or while the client
	 * is not reading its replies. */
	conn_read_enable(c, !sc->waiting && conn_output_pending(c) < SMTP_OUTPUT_HIGH);
	if (c->peer_eof && !sc->waiting)
		conn_close_after_write(c);
}

static void smtp_on_read(struct conn *c)
{
	smtp_process(c);
}

static void smtp_on_drained(struct conn *c)
{
	struct smtp_conn *sc = c->proto;
	if (!sc->waiting)
		smtp_process(c);
}

static void smtp_on_timeout(struct conn *c)
{
	struct smtp_conn *sc = c->proto;
	/* During a commit the core answers the commit first, then closes. */
	struct smtp_in in = { .kind = SMTP_IN_TIMEOUT };
	smtp_server_input(sc->core, &in);
	drain_outputs(c);
	if (!c->gone && !sc->waiting)
		conn_close_after_write(c);
}

static void smtp_on_shutdown(struct conn *c)
{
	struct smtp_conn *sc = c->proto;
	struct smtp_in in = { .kind = SMTP_IN_SHUTDOWN };
	smtp_server_input(sc->core, &in);
	drain_outputs(c);
}

static void smtp_destroy(struct conn *c)
{
	struct smtp_conn *sc = c->proto;
	if (!sc)
		return;
	c->srv->data_memory -= sc->data_held;
	smtp_server_free(&sc->core);
	free(sc);
	c->proto = NULL;
}

static const struct conn_ops smtp_ops = {
	.proto = "smtp",
	.on_read = smtp_on_read,
	.on_drained = smtp_on_drained,
	.on_timeout = smtp_on_timeout,
	.on_shutdown = smtp_on_shutdown,
	.destroy = smtp_destroy,
	.on_tls_ready = smtp_on_tls_ready,
};

void smtp_conn_accept(struct server *srv, enum listener_proto listener, int fd,
		      const struct sockaddr *sa, socklen_t salen)
{
	char refuse[300];
	snprintf(refuse, sizeof refuse, "421 4.7.0 %s Too many connections, try again later\r\n",
		 srv->conf->hostname);
	struct conn *c = conn_new(srv, fd, sa, salen, listener, &smtp_ops, refuse);
	if (!c)
		return;
	struct smtp_conn *sc = calloc(1, sizeof *sc);
	if (!sc) {
		conn_abort(c);
		return;
	}
	const struct conf *cf = srv->conf;
	sc->cfg = (struct smtp_server_cfg){
		.hostname = cf->hostname,
		.max_cmd_line = cf->smtp_max_line,
		.max_text_line = cf->smtp_max_text_line,
		.max_msg_size = cf->max_message_size,
		.max_rcpts = cf->max_recipients,
		.max_errors = cf->max_errors,
		.vrfy_enabled = cf->vrfy,
		.starttls_offered = srv->tls != NULL && listener != LISTEN_SMTPS,
		.tls_active = listener == LISTEN_SMTPS,
		.auth_offered = true,
		.auth_plaintext_ok = c->cleartext_auth_ok,
		.submission = listener == LISTEN_SUBMISSION || listener == LISTEN_SMTPS,
		.max_auth_failures = cf->max_auth_failures,
		.transcript = (cf->transcript_mask >> listener) & 1,
	};
	c->proto = sc;
	sc->core = smtp_server_new(&sc->cfg);
	if (!sc->core) {
		conn_abort(c);
		return;
	}
	conn_set_timeout(c, cf->smtp_timeout);
	conn_progress(c, cf->smtp_timeout);
	smtp_process(c);
}
