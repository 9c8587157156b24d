#include "daemon/pop3_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon/accounts.h"
#include "daemon/auth_client.h"
#include "daemon/conn.h"
#include "lib/buf.h"
#include "lib/escape.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "net/worker.h"
#include "proto/pop3_body.h"
#include "proto/pop3_server.h"
#include "store/maildir.h"

/* A RETR's bytes are handed over whole; the next command waits until the
 * client has taken most of them, so pipelined RETRs cannot pile up. */
#define POP3_OUTPUT_HIGH (256 * 1024)

struct pop3_conn {
	struct pop3_server *core;
	struct pop3_server_cfg cfg;
	char apop_unique[64];
	bool waiting;             /* a worker job or delay is pending */
	bool sent_pending;        /* RETR output queued, SENT not yet given */
	struct send_job *retr;    /* the message being streamed */
	bool retr_busy;           /* its next chunk is on a worker */
	int lock_fd;              /* maildrop lock, -1 when not logged in */
	char *maildir;
	char *user;
	struct maildir_msg *msgs;
	size_t nmsgs;
};

static void pop3_process(struct conn *c);

/* ---- authentication ---- */

/* After the auth process said yes: open the maildrop on a worker. */
struct auth_job {
	struct worker_job job;
	struct conn *c;
	char *name, *maildir;
	int result;               /* enum pop3_auth_result */
	int lock_fd;
	struct maildir_msg *msgs;
	size_t nmsgs;
	char err[256];
};

static void auth_run(struct worker_job *job)
{
	struct auth_job *j = (struct auth_job *)job;
	j->lock_fd = -1;
	if (maildir_ensure(j->maildir, j->err, sizeof j->err) < 0) {
		j->result = POP3_AUTH_TEMPFAIL;
		return;
	}
	j->lock_fd = maildir_lock(j->maildir);
	if (j->lock_fd < 0) {
		j->result = (errno == EWOULDBLOCK || errno == EAGAIN) ?
			POP3_AUTH_IN_USE : POP3_AUTH_TEMPFAIL;
		snprintf(j->err, sizeof j->err, "lock: %s", strerror(errno));
		return;
	}
	if (maildir_scan(j->maildir, &j->msgs, &j->nmsgs, j->err, sizeof j->err) < 0) {
		maildir_unlock(j->lock_fd);
		j->lock_fd = -1;
		j->result = POP3_AUTH_TEMPFAIL;
		return;
	}
	/* Stale leftovers of deliveries interrupted by a crash (a day old). */
	maildir_clean_tmp(j->maildir, 36 * 3600);
	j->result = POP3_AUTH_OK;
}

static void auth_job_free(struct auth_job *j)
{
	free(j->name);
	free(j->maildir);
	if (j->lock_fd >= 0)
		maildir_unlock(j->lock_fd);
	maildir_list_free(&j->msgs, j->nmsgs);
	free(j);
}

static void give_auth_result(struct conn *c, int result)
{
	struct pop3_conn *pc = c->proto;
	struct pop3_msg_info *info = NULL;
	struct pop3_in in = { .kind = POP3_IN_AUTH_RESULT, .result = result };
	if (result == POP3_AUTH_OK) {
		info = calloc(pc->nmsgs ? pc->nmsgs : 1, sizeof *info);
		if (!info) {
			in.result = POP3_AUTH_TEMPFAIL;
		} else {
			for (size_t i = 0; i < pc->nmsgs; i++) {
				info[i].octets = pc->msgs[i].octets;
				info[i].uidl = pc->msgs[i].uidl;
			}
			in.msgs = info;
			in.nmsgs = pc->nmsgs;
		}
	}
	pc->waiting = false;
	pop3_server_input(pc->core, &in);
	free(info);
}

static void answer_login_failed(struct conn *c)
{
	give_auth_result(c, POP3_AUTH_BAD);
	pop3_process(c);
}

static void auth_done(struct worker_job *job)
{
	struct auth_job *j = (struct auth_job *)job;
	struct conn *c = j->c;
	char user[160];
	escape_log(user, sizeof user, (const uint8_t *)(j->name ? j->name : "-"),
		   j->name ? strlen(j->name) : 1);
	if (!conn_job_finished(c)) {
		auth_job_free(j);
		return;
	}
	struct pop3_conn *pc = c->proto;
	if (j->result == POP3_AUTH_OK) {
		conn_login_succeeded(c);
		log_info("pop3 %s maildrop account=%s messages=%zu", c->id, user, j->nmsgs);
		pc->lock_fd = j->lock_fd;
		j->lock_fd = -1;
		pc->maildir = j->maildir;
		j->maildir = NULL;
		pc->user = j->name;
		j->name = NULL;
		pc->msgs = j->msgs;
		pc->nmsgs = j->nmsgs;
		j->msgs = NULL;
		j->nmsgs = 0;
		give_auth_result(c, POP3_AUTH_OK);
		auth_job_free(j);
		pop3_process(c);
		return;
	}
	if (j->err[0])
		log_warn("pop3 %s maildrop-error account=%s error=\"%s\"", c->id, user, j->err);
	int result = j->result;
	auth_job_free(j);
	if (result == POP3_AUTH_BAD) {
		/* RFC 1939 13: no hint whether the user exists. */
		conn_login_failed(c, answer_login_failed);
		return;
	}
	give_auth_result(c, result);
	pop3_process(c);
}

static void auth_answered(void *arg, int status, const char *name)
{
	struct conn *c = arg;
	if (!conn_job_finished(c))
		return;
	struct pop3_conn *pc = c->proto;
	if (status == IPCMSG_BAD) {
		/* RFC 1939 13: no hint whether the user exists. */
		conn_login_failed(c, answer_login_failed);
		return;
	}
	struct auth_job *j = status == IPCMSG_OK ? calloc(1, sizeof *j) : NULL;
	char path[4096];
	if (!j || accounts_maildir(c->srv->accounts, name, path, sizeof path) < 0 ||
	    !(j->name = strdup(name)) || !(j->maildir = strdup(path))) {
		if (j) {
			j->lock_fd = -1;
			auth_job_free(j);
		}
		give_auth_result(c, POP3_AUTH_TEMPFAIL);
		pop3_process(c);
		return;
	}
	j->c = c;
	j->lock_fd = -1;
	j->job.run = auth_run;
	j->job.done = auth_done;
	pc->waiting = true;
	conn_job_started(c);
	worker_pool_submit(c->srv->pool, &j->job);
}

/* The secret goes to the auth process, which alone holds the hashes and
 * APOP secrets. */
static void start_auth(struct conn *c, const struct pop3_out *out)
{
	struct pop3_conn *pc = c->proto;
	const char *user = out->user ? out->user : "";
	conn_job_started(c);
	bool sent = out->apop_digest
		? auth_client_apop(c->srv->auth, user,
				   out->apop_timestamp ? out->apop_timestamp : "",
				   out->apop_digest, auth_answered, c)
		: auth_client_pass(c->srv->auth, user, out->pass ? out->pass : "", auth_answered, c);
	if (!sent) {
		conn_job_finished(c);
		give_auth_result(c, POP3_AUTH_TEMPFAIL);
		return;
	}
	pc->waiting = true;
}

/* ---- RETR / TOP ----
 *
 * A message is streamed in chunks: a worker reads and encodes one chunk,
 * the loop queues it, and the next chunk is read only once the client
 * has taken most of the output. A stalled reader of a 10 MiB message
 * costs about one chunk plus POP3_OUTPUT_HIGH, not the message. */

#define RETR_CHUNK (128 * 1024)

struct send_job {
	struct worker_job job;
	struct conn *c;
	char *path;               /* absolute */
	int fd;                   /* -1 until opened (on the worker) */
	struct pop3_body_enc enc;
	struct buf out;           /* this chunk, encoded */
	bool complete;            /* terminator written, fd closed */
	bool failed;
	char err[256];
};

static void send_run(struct worker_job *job)
{
	struct send_job *j = (struct send_job *)job;
	buf_clear(&j->out);
	if (j->fd < 0) {
		j->fd = open(j->path, O_RDONLY | O_CLOEXEC);
		if (j->fd < 0) {
			snprintf(j->err, sizeof j->err, "open: %s", strerror(errno));
			j->failed = true;
			return;
		}
	}
	uint8_t chunk[RETR_CHUNK / 2];
	bool eof = false;
	/* Encoding can double a chunk (LF -> CRLF, stuffing): read half. */
	while (!j->enc.done && j->out.len < RETR_CHUNK / 2) {
		ssize_t n = read(j->fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(j->err, sizeof j->err, "read: %s", strerror(errno));
			j->failed = true;
			break;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		if (!pop3_body_encode(&j->enc, chunk, (size_t)n, &j->out)) {
			snprintf(j->err, sizeof j->err, "out of memory");
			j->failed = true;
			break;
		}
	}
	if (!j->failed && (eof || j->enc.done)) {
		if (!pop3_body_finish(&j->enc, &j->out)) {
			snprintf(j->err, sizeof j->err, "out of memory");
			j->failed = true;
		} else {
			j->complete = true;
		}
	}
	if (j->failed || j->complete) {
		close(j->fd);
		j->fd = -1;
	}
}

static void send_free(struct send_job *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	buf_release(&j->out);
	free(j->path);
	free(j);
}

static void send_next_chunk(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	struct send_job *j = pc->retr;
	pc->retr_busy = true;
	conn_job_started(c);
	worker_pool_submit(c->srv->pool, &j->job);
}

static void send_done(struct worker_job *job)
{
	struct send_job *j = (struct send_job *)job;
	struct conn *c = j->c;
	struct pop3_conn *pc = c->proto;
	pc->retr_busy = false;
	if (!conn_job_finished(c)) {
		/* The session is gone (its memory lives until the next loop
		 * turn); it could not free the job while a worker held it. */
		pc->retr = NULL;
		send_free(j);
		return;
	}
	if (j->failed) {
		/* "+OK" already went out: the only honest move left is to
		 * drop the session rather than send a wrong message. */
		log_error("pop3 %s retr-failed error=\"%s\"", c->id, j->err);
		pc->retr = NULL;
		send_free(j);
		conn_abort(c);
		return;
	}
	conn_write(c, j->out.data, j->out.len);
	conn_progress(c, c->srv->conf->pop3_timeout);
	if (j->complete) {
		pc->retr = NULL;
		send_free(j);
		pc->waiting = false;
		pc->sent_pending = true;
		pop3_process(c);
		return;
	}
	if (conn_output_pending(c) < POP3_OUTPUT_HIGH)
		send_next_chunk(c);
	/* else pop3_on_drained asks for the next chunk */
}

static void start_send(struct conn *c, size_t msg, long top_lines)
{
	struct pop3_conn *pc = c->proto;
	struct send_job *j = calloc(1, sizeof *j);
	char path[4096];
	if (!j || msg >= pc->nmsgs ||
	    snprintf(path, sizeof path, "%s/%s", pc->maildir, pc->msgs[msg].path) >= (int)sizeof path ||
	    !(j->path = strdup(path))) {
		free(j);
		conn_abort(c);
		return;
	}
	j->c = c;
	j->fd = -1;
	pop3_body_init(&j->enc, top_lines);
	buf_init(&j->out, 0);
	j->job.run = send_run;
	j->job.done = send_done;
	pc->retr = j;
	pc->waiting = true;
	send_next_chunk(c);
}

/* ---- UPDATE ---- */

struct update_job {
	struct worker_job job;
	struct conn *c;
	const char *maildir;      /* borrowed from the session, which lives on */
	const struct maildir_msg *msgs;
	size_t *idx;
	size_t n;
	int result;
	char err[256];
};

static void update_run(struct worker_job *job)
{
	struct update_job *j = (struct update_job *)job;
	j->result = j->n ? maildir_delete(j->maildir, j->msgs, j->idx, j->n, j->err, sizeof j->err) : 0;
}

static void update_done(struct worker_job *job)
{
	struct update_job *j = (struct update_job *)job;
	struct conn *c = j->c;
	if (j->result < 0)
		log_error("pop3 %s update-failed error=\"%s\"", c->id, j->err);
	else
		log_info("pop3 %s update deleted=%zu", c->id, j->n);
	if (conn_job_finished(c)) {
		struct pop3_conn *pc = c->proto;
		pc->waiting = false;
		/* Release the maildrop before "+OK": a client that reconnects
		 * as soon as it reads the reply must not find it locked. */
		if (pc->lock_fd >= 0) {
			maildir_unlock(pc->lock_fd);
			pc->lock_fd = -1;
		}
		struct pop3_in in = { .kind = POP3_IN_UPDATE_RESULT, .result = j->result < 0 ? -1 : 0 };
		pop3_server_input(pc->core, &in);
		pop3_process(c);
	}
	free(j->idx);
	free(j);
}

static void start_update(struct conn *c, const struct pop3_out *out)
{
	struct pop3_conn *pc = c->proto;
	struct update_job *j = calloc(1, sizeof *j);
	if (j && out->ndel)
		j->idx = calloc(out->ndel, sizeof *j->idx);
	if (!j || (out->ndel && !j->idx) || !pc->maildir) {
		if (j)
			free(j->idx);
		free(j);
		struct pop3_in in = { .kind = POP3_IN_UPDATE_RESULT, .result = -1 };
		pop3_server_input(pc->core, &in);
		return;
	}
	for (size_t i = 0; i < out->ndel; i++)
		if (out->del_idx[i] < pc->nmsgs)
			j->idx[j->n++] = out->del_idx[i];
	j->c = c;
	j->maildir = pc->maildir;
	j->msgs = pc->msgs;
	j->job.run = update_run;
	j->job.done = update_done;
	pc->waiting = true;
	conn_job_started(c);
	worker_pool_submit(c->srv->pool, &j->job);
}

/* ---- the session ---- */

static void drain_outputs(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	struct pop3_out out;
	while (!pc->waiting && pop3_server_next(pc->core, &out)) {
		switch (out.kind) {
		case POP3_OUT_REPLY:
			conn_write(c, out.data, out.len);
			if (pc->cfg.transcript)
				conn_log_reply(c, out.data, out.len);
			/* RFC 1939 3: the autologout timer covers a client that
			 * trickles a command without ever finishing it. */
			conn_progress(c, c->srv->conf->pop3_timeout);
			break;
		case POP3_OUT_LOG:
			log_info("pop3 %s %.*s", c->id, (int)out.len, out.data);
			break;
		case POP3_OUT_AUTH:
			start_auth(c, &out);
			break;
		case POP3_OUT_SEND_MSG:
			start_send(c, out.msg, out.top_lines);
			break;
		case POP3_OUT_UPDATE:
			start_update(c, &out);
			break;
		case POP3_OUT_CLOSE:
			conn_close_after_write(c);
			break;
		case POP3_OUT_STLS:
			pc->waiting = true;
			conn_start_tls(c);
			break;
		}
	}
}

static void maybe_sent(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	if (pc->sent_pending && conn_output_pending(c) < POP3_OUTPUT_HIGH) {
		pc->sent_pending = false;
		struct pop3_in in = { .kind = POP3_IN_SENT };
		pop3_server_input(pc->core, &in);
	}
}

static void pop3_process(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	maybe_sent(c);
	drain_outputs(c);
	while (!c->gone && !pc->waiting && !pc->sent_pending && !pop3_server_closed(pc->core) &&
	       conn_output_pending(c) < POP3_OUTPUT_HIGH) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		if (evbuffer_get_length(in) == 0)
			break;
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t n = pop3_server_feed(pc->core, v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		drain_outputs(c);
		if (n == 0 && !pc->waiting)
			break;
	}
	if (c->gone || c->closing)
		return;
	bool busy = pc->waiting || pc->sent_pending;
	conn_read_enable(c, !busy && conn_output_pending(c) < POP3_OUTPUT_HIGH);
	if (c->peer_eof && !busy)
		conn_close_after_write(c);
}

static void pop3_on_read(struct conn *c)
{
	pop3_process(c);
}

static void pop3_on_drained(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	if (pc->retr && !pc->retr_busy) {
		send_next_chunk(c);
		return;
	}
	pop3_process(c);
}

static void pop3_on_timeout(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	/* A login check, a RETR or the UPDATE deletions are on a worker: the
	 * core answers them first and then closes. */
	struct pop3_in in = { .kind = POP3_IN_TIMEOUT };
	pop3_server_input(pc->core, &in);
	drain_outputs(c);
	if (!c->gone && !pc->waiting && !pc->sent_pending)
		conn_close_after_write(c);
}

static void pop3_on_shutdown(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	struct pop3_in in = { .kind = POP3_IN_SHUTDOWN };
	pop3_server_input(pc->core, &in);
	drain_outputs(c);
}

static void pop3_destroy(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	if (!pc)
		return;
	pop3_server_free(&pc->core);
	send_free(pc->retr); /* not on a worker: destroy runs with no job */
	if (pc->lock_fd >= 0)
		maildir_unlock(pc->lock_fd);
	maildir_list_free(&pc->msgs, pc->nmsgs);
	free(pc->maildir);
	free(pc->user);
	free(pc);
	c->proto = NULL;
}

static void pop3_on_tls_ready(struct conn *c, bool ok)
{
	struct pop3_conn *pc = c->proto;
	pc->waiting = false;
	struct pop3_in in = { .kind = ok ? POP3_IN_TLS_STARTED : POP3_IN_TLS_FAILED };
	pop3_server_input(pc->core, &in);
	if (ok)
		pop3_process(c);
	else
		drain_outputs(c);
}

static const struct conn_ops pop3_ops = {
	.proto = "pop3",
	.on_read = pop3_on_read,
	.on_drained = pop3_on_drained,
	.on_timeout = pop3_on_timeout,
	.on_shutdown = pop3_on_shutdown,
	.destroy = pop3_destroy,
	.on_tls_ready = pop3_on_tls_ready,
};

void pop3_conn_accept(struct server *srv, enum listener_proto listener, int fd,
		      const struct sockaddr *sa, socklen_t salen)
{
	struct conn *c = conn_new(srv, fd, sa, salen, listener, &pop3_ops,
				  "-ERR [SYS/TEMP] Too many connections, try again later\r\n");
	if (!c)
		return;
	struct pop3_conn *pc = calloc(1, sizeof *pc);
	if (!pc) {
		conn_abort(c);
		return;
	}
	pc->lock_fd = -1;
	c->proto = pc;
	const struct conf *cf = srv->conf;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	/* RFC 1939 7: the timestamp must differ for every greeting. */
	snprintf(pc->apop_unique, sizeof pc->apop_unique, "%ld.%lld.%s", (long)getpid(),
		 (long long)now.tv_sec, c->id);
	pc->cfg = (struct pop3_server_cfg){
		.hostname = cf->hostname,
		.apop_unique = pc->apop_unique,
		.apop_enabled = cf->apop,
		.max_cmd_line = 255,
		.max_errors = cf->max_errors,
		.implementation = "facteur " FACTEUR_VERSION,
		.stls_offered = srv->tls != NULL && listener != LISTEN_POP3S,
		.tls_active = listener == LISTEN_POP3S,
		.plaintext_auth_ok = c->cleartext_auth_ok,
		.sasl_offered = true,
		.max_auth_failures = cf->max_auth_failures,
		.transcript = (cf->transcript_mask >> listener) & 1,
	};
	pc->core = pop3_server_new(&pc->cfg);
	if (!pc->core) {
		conn_abort(c);
		return;
	}
	conn_set_timeout(c, cf->pop3_timeout);
	pop3_process(c);
}
