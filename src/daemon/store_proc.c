#include "daemon/store_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth/account.h"
#include "daemon/ipc_io.h"
#include "lib/buf.h"
#include "lib/ipcmsg.h"
#include "lib/log.h"
#include "lib/strnum.h"
#include "net/worker.h"
#include "store/maildir.h"

/* Requests being served at once; beyond it the store stops reading and
 * the network process's requests wait in the socket. */
#define MAX_IN_FLIGHT 256
/* Recipients of one delivery, as the network process's limit allows. */
#define MAX_ACCOUNTS 100000

struct maildrop {
	struct maildrop *next;
	uint32_t handle;           /* the OPEN request's id */
	char *root;
	int lock_fd;
	struct maildir_msg *msgs;
	size_t n;
	unsigned refs;             /* jobs using it */
	bool closed;
};

struct store {
	const struct conf *conf;
	struct event_base *base;
	struct bufferevent *bev;
	struct worker_pool *pool;
	struct maildrop *drops;
	size_t in_flight;
	size_t max_in;
	int status;
	bool stopping;             /* the loop is over: no new request */
};

struct store_job {
	struct worker_job job;
	struct store *s;
	uint8_t type;
	uint32_t id;
	int status;                /* enum ipcmsg_status */
	char err[256];
	struct ipcmsg req;         /* the request, owned */
	char **roots;              /* DELIVER, OPEN: Maildirs */
	size_t nroots;
	struct maildrop *drop;     /* READ, DELETE: held (refs) */
	uint64_t index, offset;
	size_t *idx;               /* DELETE */
	size_t nidx;
	struct buf out;            /* the answer's field */
	int lock_fd;               /* OPEN */
	struct maildir_msg *msgs;
	size_t nmsgs;
};

static int errno_status(int e)
{
	return e == ENOSPC || e == EDQUOT ? IPCMSG_NOSPACE : IPCMSG_TEMPFAIL;
}

static void reply(struct store *s, uint32_t id, int status, const void *data, size_t len)
{
	struct ipcmsg m = { .type = IPCMSG_RESULT, .id = id, .status = (uint8_t)status,
			    .nfields = 1 };
	m.field[0] = (char *)(len ? data : "");
	m.len[0] = len;
	if (!ipc_send(s->bev, &m)) {
		log_error("store cannot answer: out of memory");
		s->status = 1;
		event_base_loopbreak(s->base);
	}
}

static void reply_text(struct store *s, uint32_t id, int status, const char *text)
{
	reply(s, id, status, text, strlen(text));
}

/* ---- maildrops ---- */

static struct maildrop *drop_find(struct store *s, uint32_t handle)
{
	for (struct maildrop *d = s->drops; d; d = d->next)
		if (d->handle == handle && !d->closed)
			return d;
	return NULL;
}

static void drop_release(struct store *s, struct maildrop *d)
{
	if (d->refs || !d->closed)
		return;
	struct maildrop **pp = &s->drops;
	while (*pp != d)
		pp = &(*pp)->next;
	*pp = d->next;
	maildir_unlock(d->lock_fd);
	maildir_list_free(&d->msgs, d->n);
	free(d->root);
	free(d);
}

/* ---- jobs ---- */

static void job_free(struct store_job *j)
{
	for (size_t i = 0; i < j->nroots; i++)
		free(j->roots[i]);
	free(j->roots);
	free(j->idx);
	buf_release(&j->out);
	if (j->lock_fd >= 0)
		maildir_unlock(j->lock_fd);
	maildir_list_free(&j->msgs, j->nmsgs);
	ipcmsg_clear(&j->req);
	free(j);
}

static void deliver_run(struct store_job *j)
{
	for (size_t i = 0; i < j->nroots; i++) {
		if (maildir_ensure(j->roots[i], j->err, sizeof j->err) < 0) {
			j->status = errno_status(errno);
			return;
		}
	}
	struct iovec iov[2] = {
		{ j->req.field[1], j->req.len[1] },
		{ j->req.field[2], j->req.len[2] },
	};
	if (maildir_deliver((const char *const *)j->roots, j->nroots, iov, 2, j->err,
			    sizeof j->err) < 0)
		j->status = errno_status(errno);
}

static void open_run(struct store_job *j)
{
	const char *root = j->roots[0];
	if (maildir_ensure(root, j->err, sizeof j->err) < 0) {
		j->status = IPCMSG_TEMPFAIL;
		return;
	}
	j->lock_fd = maildir_lock(root);
	if (j->lock_fd < 0) {
		j->status = errno == EWOULDBLOCK || errno == EAGAIN ? IPCMSG_BUSY : IPCMSG_TEMPFAIL;
		snprintf(j->err, sizeof j->err, "lock: %s", strerror(errno));
		return;
	}
	if (maildir_scan(root, &j->msgs, &j->nmsgs, j->err, sizeof j->err) < 0) {
		j->status = IPCMSG_TEMPFAIL;
		return;
	}
	/* Stale leftovers of deliveries interrupted by a crash (a day old). */
	maildir_clean_tmp(root, 36 * 3600);
	for (size_t i = 0; i < j->nmsgs; i++)
		if (!buf_printf(&j->out, "%llu %s\n", (unsigned long long)j->msgs[i].octets,
				j->msgs[i].uidl)) {
			snprintf(j->err, sizeof j->err, "out of memory");
			j->status = IPCMSG_TEMPFAIL;
			return;
		}
}

static void read_run(struct store_job *j)
{
	struct maildrop *d = j->drop;
	int fd = maildir_open(d->root, &d->msgs[j->index]);
	if (fd < 0 || !buf_reserve(&j->out, IPCMSG_READ_CHUNK)) {
		snprintf(j->err, sizeof j->err, "open: %s", strerror(errno));
		j->status = IPCMSG_TEMPFAIL;
		if (fd >= 0)
			close(fd);
		return;
	}
	/* Fill the chunk or reach the end: a short answer means the end
	 * (Maildir files never grow), which saves the client a request. */
	while (j->out.len < IPCMSG_READ_CHUNK) {
		ssize_t r = pread(fd, j->out.data + j->out.len, IPCMSG_READ_CHUNK - j->out.len,
				  (off_t)(j->offset + j->out.len));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(j->err, sizeof j->err, "read: %s", strerror(errno));
			j->status = IPCMSG_TEMPFAIL;
		}
		if (r <= 0)
			break;
		j->out.len += (size_t)r;
	}
	close(fd);
}

static void delete_run(struct store_job *j)
{
	struct maildrop *d = j->drop;
	if (j->nidx && maildir_delete(d->root, d->msgs, j->idx, j->nidx, j->err, sizeof j->err) < 0)
		j->status = errno_status(errno);
}

static void job_run(struct worker_job *job)
{
	struct store_job *j = (struct store_job *)job;
	switch (j->type) {
	case IPCMSG_DELIVER: deliver_run(j); break;
	case IPCMSG_OPEN: open_run(j); break;
	case IPCMSG_DELETE: delete_run(j); break;
	default: break;
	}
}

static void on_read(struct bufferevent *bev, void *arg);

static void job_done(struct worker_job *job)
{
	struct store_job *j = (struct store_job *)job;
	struct store *s = j->s;
	if (j->status != IPCMSG_OK) {
		if (j->type != IPCMSG_OPEN || j->status != IPCMSG_BUSY)
			log_error("store failed request=%u error=\"%s\"", (unsigned)j->type, j->err);
		reply_text(s, j->id, j->status, j->err);
	} else if (j->type == IPCMSG_OPEN) {
		struct maildrop *d = calloc(1, sizeof *d);
		if (!d) {
			reply_text(s, j->id, IPCMSG_TEMPFAIL, "out of memory");
		} else {
			d->handle = j->id;
			d->root = j->roots[0];
			j->roots[0] = NULL;
			d->lock_fd = j->lock_fd;
			j->lock_fd = -1;
			d->msgs = j->msgs;
			d->n = j->nmsgs;
			j->msgs = NULL;
			j->nmsgs = 0;
			d->next = s->drops;
			s->drops = d;
			reply(s, j->id, IPCMSG_OK, j->out.data, j->out.len);
		}
	} else {
		reply(s, j->id, IPCMSG_OK, j->out.data, j->out.len);
	}
	if (j->drop) {
		j->drop->refs--;
		drop_release(s, j->drop);
	}
	job_free(j);
	if (s->in_flight-- == MAX_IN_FLIGHT && !s->stopping) {
		bufferevent_enable(s->bev, EV_READ);
		on_read(s->bev, s); /* requests may wait in the buffer */
	}
}

/* ---- requests ---- */

/* The Maildir of an account name the network process gives: it must be
 * a name "facteur user" would accept, already normalised. */
static char *root_of(const struct store *s, const char *name)
{
	char norm[320], path[4096];
	if (!account_normalise(name, norm, sizeof norm) || strcmp(norm, name) != 0 ||
	    maildir_account_path(s->conf->data_dir, norm, path, sizeof path) < 0)
		return NULL;
	return strdup(path);
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	return strnum_u64_cstr(s, max, out);
}

/* Fills the job from its request; false: the request is malformed (the
 * answer is BAD, and the session goes on: a bad number is not worth
 * ending the process over). */
static bool prepare(struct store *s, struct store_job *j)
{
	struct ipcmsg *m = &j->req;
	uint64_t handle;
	switch (m->type) {
	case IPCMSG_DELIVER: {
		char *save = NULL;
		for (char *name = strtok_r(m->field[0], "\n", &save); name;
		     name = strtok_r(NULL, "\n", &save)) {
			if (j->nroots == MAX_ACCOUNTS)
				return false;
			char *root = root_of(s, name);
			if (!root)
				return false;
			bool dup = false;
			for (size_t i = 0; i < j->nroots && !dup; i++)
				dup = !strcmp(j->roots[i], root);
			if (dup) {
				free(root);
				continue;
			}
			char **r = realloc(j->roots, (j->nroots + 1) * sizeof *r);
			if (!r) {
				free(root);
				return false;
			}
			j->roots = r;
			j->roots[j->nroots++] = root;
		}
		return j->nroots > 0;
	}
	case IPCMSG_OPEN:
		/* The request id becomes the handle: it must name one maildrop. */
		if (drop_find(s, m->id) || !(j->roots = calloc(1, sizeof *j->roots)) ||
		    !(j->roots[0] = root_of(s, m->field[0])))
			return false;
		j->nroots = 1;
		return true;
	case IPCMSG_READ:
		if (!parse_u64(m->field[0], UINT32_MAX, &handle) ||
		    !(j->drop = drop_find(s, (uint32_t)handle)) ||
		    !parse_u64(m->field[1], SIZE_MAX, &j->index) || j->index >= j->drop->n ||
		    /* pread needs offset + a chunk to fit an off_t */
		    !parse_u64(m->field[2], INT64_MAX - IPCMSG_READ_CHUNK, &j->offset)) {
			j->drop = NULL;
			return false;
		}
		j->drop->refs++;
		return true;
	case IPCMSG_DELETE: {
		if (!parse_u64(m->field[0], UINT32_MAX, &handle) ||
		    !(j->drop = drop_find(s, (uint32_t)handle))) {
			j->drop = NULL;
			return false;
		}
		struct maildrop *d = j->drop;
		if (d->n && !(j->idx = calloc(d->n, sizeof *j->idx))) {
			j->drop = NULL;
			return false;
		}
		char *save = NULL;
		for (char *t = strtok_r(m->field[1], " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			uint64_t k;
			bool dup = false;
			if (!parse_u64(t, SIZE_MAX, &k) || k >= d->n) {
				j->drop = NULL;
				return false;
			}
			for (size_t i = 0; i < j->nidx && !dup; i++)
				dup = j->idx[i] == k;
			if (!dup) /* at most n distinct numbers below n */
				j->idx[j->nidx++] = (size_t)k;
		}
		d->refs++;
		return true;
	}
	default:
		return false;
	}
}

static void close_drop(struct store *s, const struct ipcmsg *m)
{
	uint64_t handle;
	struct maildrop *d = parse_u64(m->field[0], UINT32_MAX, &handle)
		? drop_find(s, (uint32_t)handle) : NULL;
	if (!d) {
		reply_text(s, m->id, IPCMSG_BAD, "no such maildrop");
		return;
	}
	d->closed = true;
	drop_release(s, d);
	reply_text(s, m->id, IPCMSG_OK, "");
}

static void start(struct store *s, struct ipcmsg *m)
{
	struct store_job *j = calloc(1, sizeof *j);
	if (!j) {
		reply_text(s, m->id, IPCMSG_TEMPFAIL, "out of memory");
		return;
	}
	j->s = s;
	j->type = m->type;
	j->id = m->id;
	j->lock_fd = -1;
	j->req = *m;
	memset(m, 0, sizeof *m); /* the job owns the fields now */
	buf_init(&j->out, 0);
	if (!prepare(s, j)) {
		reply_text(s, j->id, IPCMSG_BAD, "malformed request");
		job_free(j);
		return;
	}
	if (j->type == IPCMSG_READ) {
		/* A RETR chunk is read here, on the loop: a page-cache read of
		 * at most 64 KiB costs less than the two thread hand-offs a
		 * worker would add to every chunk of every RETR. Only this
		 * process's other answers wait meanwhile, never a client. */
		read_run(j);
		if (j->status != IPCMSG_OK)
			log_error("store failed request=read error=\"%s\"", j->err);
		reply(s, j->id, j->status, j->out.data, j->out.len);
		j->drop->refs--;
		drop_release(s, j->drop);
		job_free(j);
		return;
	}
	j->job.run = job_run;
	j->job.done = job_done;
	if (++s->in_flight == MAX_IN_FLIGHT)
		bufferevent_disable(s->bev, EV_READ);
	worker_pool_submit(s->pool, &j->job);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct store *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (s->in_flight < MAX_IN_FLIGHT) {
		struct ipcmsg m;
		int r = ipc_next(in, s->max_in, &m);
		if (r == 0)
			return;
		if (r < 0 || m.type < IPCMSG_DELIVER || m.type > IPCMSG_CLOSE) {
			/* Not the protocol: the network process is broken or
			 * taken over. Answer nothing more. */
			log_error("store bad-request from the network process; stopping");
			if (r > 0)
				ipcmsg_clear(&m);
			s->status = 1;
			event_base_loopbreak(s->base);
			return;
		}
		if (m.type == IPCMSG_CLOSE)
			close_drop(s, &m);
		else
			start(s, &m);
		ipcmsg_clear(&m);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct store *s = arg;
	if (s->in_flight) {
		/* A stopping server waits for every answer before it closes
		 * the socket: requests still here mean the network process
		 * died. Their answers can never reach a client, so finishing
		 * a delivery would only make a duplicate when the client
		 * sends it again; stop where they are, as the crash did
		 * (tmp/ leftovers go at the next start). */
		log_error("store: the network process is gone with %zu requests in flight; "
			  "abandoning them", s->in_flight);
		_exit(1);
	}
	if (!(what & BEV_EVENT_EOF)) {
		log_error("store socket error");
		s->status = 1;
	}
	event_base_loopbreak(s->base);
}

/* At start no delivery of ours is in flight, so whatever a crash left in
 * a tmp/ directory is garbage. Files younger than a minute are left alone
 * in case another program delivers into the same Maildirs. */
static void clean_all_tmp(const struct conf *c)
{
	char mail[4096];
	if (snprintf(mail, sizeof mail, "%s/mail", c->data_dir) >= (int)sizeof mail)
		return;
	DIR *domains = opendir(mail);
	if (!domains)
		return;
	int removed = 0;
	struct dirent *d;
	while ((d = readdir(domains))) {
		if (d->d_name[0] == '.')
			continue;
		char dpath[4096];
		if (snprintf(dpath, sizeof dpath, "%s/%s", mail, d->d_name) >= (int)sizeof dpath)
			continue;
		DIR *users = opendir(dpath);
		if (!users)
			continue;
		struct dirent *u;
		while ((u = readdir(users))) {
			if (u->d_name[0] == '.')
				continue;
			char upath[4096];
			if (snprintf(upath, sizeof upath, "%s/%s", dpath, u->d_name) >= (int)sizeof upath)
				continue;
			int n = maildir_clean_tmp(upath, 60);
			if (n > 0)
				removed += n;
		}
		closedir(users);
	}
	closedir(domains);
	if (removed)
		log_info("store cleaned-tmp files=%d", removed);
}

int store_proc_main(const struct conf *c, int fd)
{
	struct store s = { .conf = c };
	/* A message of max_message_size, our header lines, its recipients. */
	s.max_in = (size_t)c->max_message_size + (8u << 20);
	clean_all_tmp(c);
	s.base = event_base_new();
	if (!s.base)
		return 1;
	s.pool = worker_pool_new(s.base, c->workers);
	s.bev = bufferevent_socket_new(s.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!s.pool || !s.bev) {
		log_error("store cannot start: out of memory");
		s.status = 1;
	} else {
		evutil_make_socket_nonblocking(fd);
		bufferevent_setcb(s.bev, on_read, NULL, on_event, &s);
		bufferevent_enable(s.bev, EV_READ | EV_WRITE);
		reply_text(&s, 0, IPCMSG_OK, "ready"); /* id 0: no request has it */
		event_base_dispatch(s.base);
	}
	s.stopping = true;
	/* Deliveries on the workers finish (they are on disk, unanswered:
	 * the client got no 250 and will send again, RFC 5321 6.1). */
	worker_pool_free(&s.pool);
	while (s.drops) {
		s.drops->closed = true;
		s.drops->refs = 0;
		drop_release(&s, s.drops);
	}
	if (s.bev)
		bufferevent_free(s.bev);
	event_base_free(s.base);
	return s.status;
}
