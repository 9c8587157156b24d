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
#include "daemon/store_client.h"
#include "lib/buf.h"
#include "lib/escape.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "proto/pop3_body.h"
#include "proto/pop3_server.h"

/* A RETR's bytes are handed over whole; the next command waits until the
 * client has taken most of them, so pipelined RETRs cannot pile up. */
#define POP3_OUTPUT_HIGH (256 * 1024)

struct prefetch {
	bool active;              /* asked for, and still wanted */
	bool done;                /* its answer is in data */
	size_t msg;
	int status;
	struct buf data;
};

struct pop3_conn {
	struct pop3_server *core;
	struct pop3_server_cfg cfg;
	char apop_unique[64];
	bool waiting;             /* a worker job or delay is pending */
	bool sent_pending;        /* RETR output queued, SENT not yet given */
	struct send_job *retr;    /* the message being streamed */
	bool retr_busy;           /* its next chunk is being read */
	struct prefetch pf;       /* the next message's first chunk */
	uint32_t drop;            /* the store process's handle of the maildrop;
				     0: none (handles are request ids, from 1) */
	char *user;
	size_t nmsgs;
	size_t ndeleting;         /* UPDATE: how many are being deleted */
};

static void pop3_process(struct conn *c);

/* ---- authentication ---- */

static void give_auth_result(struct conn *c, int result, const struct store_listing *l)
{
	struct pop3_conn *pc = c->proto;
	struct pop3_msg_info *info = NULL;
	struct pop3_in in = { .kind = POP3_IN_AUTH_RESULT, .result = result };
	if (result == POP3_AUTH_OK) {
		info = calloc(l->n ? l->n : 1, sizeof *info);
		if (!info) {
			in.result = POP3_AUTH_TEMPFAIL;
		} else {
			for (size_t i = 0; i < l->n; i++) {
				info[i].octets = l->octets[i];
				info[i].uidl = l->uidl[i];
			}
			in.msgs = info;
			in.nmsgs = l->n;
		}
	}
	pc->waiting = false;
	pop3_server_input(pc->core, &in);
	free(info);
}

static void answer_login_failed(struct conn *c)
{
	give_auth_result(c, POP3_AUTH_BAD, NULL);
	pop3_process(c);
}

/* The maildrop, opened and locked by the store process. */
static void maildrop_opened(void *arg, int status, const struct store_listing *l,
			    const char *text)
{
	struct conn *c = arg;
	if (!conn_job_finished(c)) {
		if (status == IPCMSG_OK)
			store_close(c->srv->store, l->handle);
		return;
	}
	struct pop3_conn *pc = c->proto;
	char user[160];
	escape_log(user, sizeof user, (const uint8_t *)pc->user, strlen(pc->user));
	if (status == IPCMSG_OK) {
		conn_login_succeeded(c);
		log_info("pop3 %s maildrop account=%s messages=%zu", c->id, user, l->n);
		pc->drop = l->handle;
		pc->nmsgs = l->n;
		give_auth_result(c, POP3_AUTH_OK, l);
	} else {
		if (status != IPCMSG_BUSY)
			log_warn("pop3 %s maildrop-error account=%s error=\"%s\"", c->id, user, text);
		give_auth_result(c, status == IPCMSG_BUSY ? POP3_AUTH_IN_USE : POP3_AUTH_TEMPFAIL,
				 NULL);
	}
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
	free(pc->user);
	pc->user = status == IPCMSG_OK ? strdup(name) : NULL;
	conn_job_started(c);
	if (!pc->user || !store_open(c->srv->store, pc->user, maildrop_opened, c)) {
		conn_job_finished(c);
		give_auth_result(c, POP3_AUTH_TEMPFAIL, NULL);
		pop3_process(c);
	}
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
		give_auth_result(c, POP3_AUTH_TEMPFAIL, NULL);
		return;
	}
	pc->waiting = true;
}

/* ---- RETR / TOP ----
 *
 * A message is streamed in chunks: the store process reads one, the loop
 * encodes and queues it, and the next chunk is asked for only once the
 * client has taken most of the output. A stalled reader of a 10 MiB
 * message costs about one chunk plus POP3_OUTPUT_HIGH, not the message. */

struct send_job {
	struct conn *c;
	size_t msg;
	uint64_t offset;
	struct pop3_body_enc enc;
	struct buf out;           /* this chunk, encoded */
};

static void send_free(struct send_job *j)
{
	if (!j)
		return;
	buf_release(&j->out);
	free(j);
}

static void chunk_read(void *arg, int status, const uint8_t *data, size_t len);

static void send_next_chunk(struct conn *c)
{
	struct pop3_conn *pc = c->proto;
	struct send_job *j = pc->retr;
	pc->retr_busy = true;
	conn_job_started(c);
	if (!store_read(c->srv->store, pc->drop, j->msg, j->offset, chunk_read, c))
		chunk_read(c, IPCMSG_TEMPFAIL, NULL, 0);
}

static void prefetched(void *arg, int status, const uint8_t *data, size_t len);

/* Clients fetch messages in order, each RETR waiting for the one before:
 * the first chunk of the next message is asked for while this one goes
 * out, so the store's round trip overlaps the client's. */
static void prefetch_next(struct conn *c, size_t after)
{
	struct pop3_conn *pc = c->proto;
	if (pc->pf.active || after + 1 >= pc->nmsgs || !pc->drop)
		return;
	pc->pf = (struct prefetch){ .active = true, .msg = after + 1, .data = pc->pf.data };
	buf_clear(&pc->pf.data);
	conn_job_started(c);
	if (!store_read(c->srv->store, pc->drop, pc->pf.msg, 0, prefetched, c)) {
		conn_job_finished(c);
		pc->pf.active = false;
	}
}

/* A chunk for the message being sent: encode it, queue it, ask for the
 * next one or finish. */
static void take_chunk(struct conn *c, int status, const uint8_t *data, size_t len)
{
	struct pop3_conn *pc = c->proto;
	struct send_job *j = pc->retr;
	buf_clear(&j->out);
	bool ok = status == IPCMSG_OK;
	if (ok && len) {
		j->offset += len;
		ok = pop3_body_encode(&j->enc, data, len, &j->out);
	}
	/* The store fills a chunk unless the message ends in it. */
	bool complete = ok && (len < IPCMSG_READ_CHUNK || j->enc.done);
	if (complete)
		ok = pop3_body_finish(&j->enc, &j->out);
	if (!ok) {
		/* "+OK" already went out: the only honest move left is to
		 * drop the session rather than send a wrong message. */
		log_error("pop3 %s retr-failed message=%zu status=%d len=%zu", c->id, j->msg + 1,
			  status, len);
		pc->retr = NULL;
		send_free(j);
		conn_abort(c);
		return;
	}
	conn_write(c, j->out.data, j->out.len);
	conn_progress(c, c->srv->conf->pop3_timeout);
	if (complete) {
		size_t msg = j->msg;
		pc->retr = NULL;
		send_free(j);
		pc->waiting = false;
		pc->sent_pending = true;
		prefetch_next(c, msg);
		pop3_process(c);
		return;
	}
	if (conn_output_pending(c) < POP3_OUTPUT_HIGH)
		send_next_chunk(c);
	/* else pop3_on_drained asks for the next chunk */
}

static void chunk_read(void *arg, int status, const uint8_t *data, size_t len)
{
	struct conn *c = arg;
	struct pop3_conn *pc = c->proto;
	pc->retr_busy = false;
	if (!conn_job_finished(c)) {
		/* The session is gone (its memory lives until the next loop
		 * turn); it could not free the job while a read was out. */
		send_free(pc->retr);
		pc->retr = NULL;
		return;
	}
	take_chunk(c, status, data, len);
}

static void prefetched(void *arg, int status, const uint8_t *data, size_t len)
{
	struct conn *c = arg;
	if (!conn_job_finished(c))
		return; /* pop3_destroy frees the buffer */
	struct pop3_conn *pc = c->proto;
	struct prefetch *pf = &pc->pf;
	if (!pf->active)
		return;
	pf->done = true;
	pf->status = status;
	if (status == IPCMSG_OK && len && !buf_append(&pf->data, data, len))
		pf->status = IPCMSG_TEMPFAIL;
	if (pc->retr && pc->retr_busy && pc->retr->msg == pf->msg && pc->retr->offset == 0) {
		/* A RETR of it is waiting for this very chunk. */
		pc->retr_busy = false;
		pf->active = false;
		take_chunk(c, pf->status, pf->data.data, pf->data.len);
	}
}

static void start_send(struct conn *c, size_t msg, long top_lines)
{
	struct pop3_conn *pc = c->proto;
	struct send_job *j = calloc(1, sizeof *j);
	if (!j || msg >= pc->nmsgs || !pc->drop) {
		free(j);
		conn_abort(c);
		return;
	}
	j->c = c;
	j->msg = msg;
	pop3_body_init(&j->enc, top_lines);
	buf_init(&j->out, 0);
	pc->retr = j;
	pc->waiting = true;
	struct prefetch *pf = &pc->pf;
	if (pf->active && pf->msg == msg) {
		if (pf->done) {
			pf->active = false;
			take_chunk(c, pf->status, pf->data.data, pf->data.len);
		} else {
			pc->retr_busy = true; /* prefetched() takes over */
		}
		return;
	}
	/* Another message than guessed: a late answer is dropped. */
	pf->active = false;
	send_next_chunk(c);
}

/* ---- UPDATE ---- */

static void give_update_result(struct conn *c, int result)
{
	struct pop3_conn *pc = c->proto;
	pc->waiting = false;
	/* Release the maildrop before "+OK": a client that reconnects as
	 * soon as it reads the reply must not find it locked (the store
	 * process handles the CLOSE before any later OPEN). */
	if (pc->drop) {
		store_close(c->srv->store, pc->drop);
		pc->drop = 0;
	}
	struct pop3_in in = { .kind = POP3_IN_UPDATE_RESULT, .result = result };
	pop3_server_input(pc->core, &in);
}

static void deleted(void *arg, int status, const char *text)
{
	struct conn *c = arg;
	struct pop3_conn *pc = c->proto;
	if (status == STORE_LOST) {
		/* Deleted or not, nobody knows: neither +OK nor -ERR. */
		log_error("pop3 %s update-lost: closing without a reply", c->id);
		if (conn_job_finished(c))
			conn_abort(c);
		return;
	}
	if (status != IPCMSG_OK)
		log_error("pop3 %s update-failed error=\"%s\"", c->id, text);
	else
		log_info("pop3 %s update deleted=%zu", c->id, pc->ndeleting);
	if (conn_job_finished(c)) {
		give_update_result(c, status == IPCMSG_OK ? 0 : -1);
		pop3_process(c);
	}
}

static void start_update(struct conn *c, const struct pop3_out *out)
{
	struct pop3_conn *pc = c->proto;
	size_t *idx = calloc(out->ndel ? out->ndel : 1, sizeof *idx);
	size_t n = 0;
	for (size_t i = 0; idx && i < out->ndel; i++)
		if (out->del_idx[i] < pc->nmsgs)
			idx[n++] = out->del_idx[i];
	pc->ndeleting = n;
	if (idx && pc->drop && n == 0) {
		free(idx);
		log_info("pop3 %s update deleted=0", c->id);
		give_update_result(c, 0);
		return;
	}
	conn_job_started(c);
	if (!idx || !pc->drop || !store_delete(c->srv->store, pc->drop, idx, n, deleted, c)) {
		conn_job_finished(c);
		free(idx);
		give_update_result(c, -1);
		return;
	}
	free(idx);
	pc->waiting = true;
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
	send_free(pc->retr); /* no read is out: destroy runs with no job */
	buf_release(&pc->pf.data);
	if (pc->drop)
		store_close(c->srv->store, pc->drop);
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
	buf_init(&pc->pf.data, 0);
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
