#include "daemon/authd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lib/ipcmsg.h"
#include "auth/verify.h"
#include "daemon/accounts.h"
#include "daemon/ipc_io.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "net/worker.h"

/* Logins being checked at once; beyond it the auth process stops reading
 * until some finish, and the network process's requests wait in the
 * socket. crypt(3) is the cost, so the worker threads bound the rate. */
#define MAX_IN_FLIGHT 256
/* How often the account files are looked at without being asked. */
#define CHECK_INTERVAL_SEC 1

struct authd {
	const struct conf *conf;
	struct event_base *base;
	struct bufferevent *bev;
	struct worker_pool *pool;
	struct accounts *accounts;
	struct event *timer;
	size_t in_flight;
	int status;                 /* exit status */
	bool stopping;              /* the loop is over: no new request */
};

struct check_job {
	struct worker_job job;
	struct authd *d;
	uint32_t id;
	bool apop;
	char *name, *hash, *secret; /* accounts_login's copies */
	char *login, *password, *timestamp, *digest; /* the request's */
	bool ok;
};

static void wipe_free(char *s)
{
	if (s) {
		secure_wipe(s, strlen(s));
		free(s);
	}
}

static void reply(struct authd *d, uint32_t id, int status, const char *name)
{
	struct ipcmsg m = { .type = IPCMSG_RESULT, .id = id, .status = (uint8_t)status,
			     .nfields = 1 };
	m.field[0] = (char *)(name ? name : "");
	m.len[0] = strlen(m.field[0]);
	if (!ipc_send(d->bev, &m)) {
		log_error("auth cannot answer: out of memory");
		d->status = 1;
		event_base_loopbreak(d->base);
	}
}

static void publish(struct authd *d)
{
	struct buf names;
	buf_init(&names, 0);
	struct ipcmsg m = { .type = IPCMSG_DIRECTORY, .nfields = 3 };
	const char *aliases, *aliases_name;
	size_t aliases_len;
	bool ok = accounts_directory(d->accounts, &names, &aliases, &aliases_len, &aliases_name);
	if (ok) {
		m.field[0] = names.len ? (char *)names.data : (char *)"";
		m.len[0] = names.len;
		m.field[1] = (char *)aliases;
		m.len[1] = aliases_len;
		m.field[2] = (char *)aliases_name;
		m.len[2] = strlen(aliases_name);
		ok = ipc_send(d->bev, &m);
	}
	if (!ok) {
		log_error("auth cannot publish the directory: out of memory");
		d->status = 1;
		event_base_loopbreak(d->base);
	}
	buf_release(&names);
}

static void check_run(struct worker_job *job)
{
	struct check_job *j = (struct check_job *)job;
	/* An unknown login costs the same crypt(3) work as a known one
	 * (verify_password/verify_apop with NULL do the dummy work). */
	if (j->apop)
		j->ok = verify_apop(j->timestamp, j->secret, j->digest) && j->name;
	else
		j->ok = verify_password(j->hash, j->password) && j->name;
}

static void check_free(struct check_job *j)
{
	free(j->name);
	free(j->hash);
	wipe_free(j->secret);
	free(j->login);
	wipe_free(j->password);
	free(j->timestamp);
	free(j->digest);
	free(j);
}

static void on_read(struct bufferevent *bev, void *arg);

static void check_done(struct worker_job *job)
{
	struct check_job *j = (struct check_job *)job;
	struct authd *d = j->d;
	reply(d, j->id, j->ok ? IPCMSG_OK : IPCMSG_BAD, j->ok ? j->name : NULL);
	check_free(j);
	if (d->in_flight-- == MAX_IN_FLIGHT && !d->stopping) {
		bufferevent_enable(d->bev, EV_READ);
		on_read(d->bev, d); /* requests may wait in the buffer */
	}
}

/* Takes the request's fields (m is cleared by the caller either way). */
static void start_check(struct authd *d, struct ipcmsg *m)
{
	struct check_job *j = calloc(1, sizeof *j);
	if (!j) {
		reply(d, m->id, IPCMSG_TEMPFAIL, NULL);
		return;
	}
	j->d = d;
	j->id = m->id;
	j->apop = m->type == IPCMSG_APOP;
	j->login = m->field[0];
	j->password = j->apop ? NULL : m->field[1];
	j->timestamp = j->apop ? m->field[1] : NULL;
	j->digest = j->apop ? m->field[2] : NULL;
	for (unsigned i = 0; i < IPCMSG_MAX_FIELDS; i++)
		m->field[i] = NULL;
	accounts_refresh(d->accounts, time(NULL));
	accounts_login(d->accounts, j->login, &j->name, &j->hash, &j->secret);
	j->job.run = check_run;
	j->job.done = check_done;
	if (++d->in_flight == MAX_IN_FLIGHT)
		bufferevent_disable(d->bev, EV_READ);
	worker_pool_submit(d->pool, &j->job);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct authd *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (d->in_flight < MAX_IN_FLIGHT) {
		struct ipcmsg m;
		int r = ipc_next(in, IPCMSG_MAX_REQUEST, &m);
		if (r == 0)
			return;
		if (r < 0 || m.type < IPCMSG_PASS || m.type > IPCMSG_REFRESH) {
			/* The network process is either broken or taken over:
			 * answer nothing more. */
			log_error("auth bad-request from the network process; stopping");
			if (r > 0)
				ipcmsg_clear(&m);
			d->status = 1;
			event_base_loopbreak(d->base);
			return;
		}
		if (m.type == IPCMSG_REFRESH) {
			if (accounts_check(d->accounts))
				publish(d);
			reply(d, m.id, IPCMSG_OK, NULL);
		} else {
			start_check(d, &m);
		}
		ipcmsg_clear(&m);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct authd *d = arg;
	if (!(what & BEV_EVENT_EOF)) {
		log_error("auth socket error");
		d->status = 1;
	}
	event_base_loopbreak(d->base);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct authd *d = arg;
	if (accounts_refresh(d->accounts, time(NULL)))
		publish(d);
}

int authd_main(const struct conf *c, int fd)
{
	struct authd d = { .conf = c, .status = 0 };
	d.base = event_base_new();
	if (!d.base)
		return 1;
	d.accounts = accounts_new(c);
	d.pool = worker_pool_new(d.base, c->workers);
	d.bev = bufferevent_socket_new(d.base, fd, BEV_OPT_CLOSE_ON_FREE);
	d.timer = event_new(d.base, -1, EV_PERSIST, on_timer, &d);
	struct timeval every = { CHECK_INTERVAL_SEC, 0 };
	if (!d.accounts || !d.pool || !d.bev || !d.timer || event_add(d.timer, &every) < 0) {
		log_error("auth cannot start: out of memory");
		d.status = 1;
	} else {
		evutil_make_socket_nonblocking(fd);
		bufferevent_setcb(d.bev, on_read, NULL, on_event, &d);
		bufferevent_enable(d.bev, EV_READ | EV_WRITE);
		publish(&d);
		event_base_dispatch(d.base);
	}
	d.stopping = true;
	/* Jobs still on the workers finish; their answers go nowhere. */
	worker_pool_free(&d.pool);
	if (d.timer)
		event_free(d.timer);
	if (d.bev)
		bufferevent_free(d.bev);
	accounts_free(&d.accounts);
	event_base_free(d.base);
	return d.status;
}
