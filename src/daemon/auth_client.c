#include "daemon/auth_client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon/accounts.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/secure.h"

/* How long the start waits for the auth process's first directory: it
 * reads a few small files. */
#define FIRST_DIRECTORY_MS 10000

struct auth_req {
	struct auth_req *next;
	uint32_t id;
	auth_client_cb cb;
	void *arg;
};

struct waiter {
	struct waiter *next;
	auth_client_cb cb;
	void *arg;
};

struct auth_client {
	struct bufferevent *bev;
	struct accounts *accounts;
	struct auth_req *pending;
	uint32_t next_id;
	bool lost;
	void (*on_lost)(void *arg);
	void *lost_arg;
	bool refreshing;              /* a REFRESH is on its way */
	struct waiter *refresh_now;   /* answered by the one on its way */
	struct waiter *refresh_next;  /* need one sent after it */
};

static bool load_directory(struct auth_client *ac, const struct authmsg *m)
{
	char err[512];
	if (accounts_set_directory(ac->accounts, m->field[0], m->len[0], m->field[1], m->len[1],
				   m->field[2], err, sizeof err) < 0) {
		log_error("auth directory-refused error=\"%s\"", err);
		return false;
	}
	return true;
}

/* ---- the first directory, read blocking at start ---- */

static int read_exact(int fd, uint8_t *p, size_t n, struct timespec deadline)
{
	while (n) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (deadline.tv_sec - now.tv_sec) * 1000 +
			  (deadline.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			return -1;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, (int)ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t got = read(fd, p, n);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

static bool first_directory(struct auth_client *ac, int fd)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += FIRST_DIRECTORY_MS / 1000;
	uint8_t head[4];
	if (read_exact(fd, head, sizeof head, deadline) < 0)
		return false;
	size_t body = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
	if (body > AUTHMSG_MAX_DIRECTORY)
		return false;
	uint8_t *frame = malloc(sizeof head + body);
	if (!frame)
		return false;
	memcpy(frame, head, sizeof head);
	struct authmsg m;
	size_t used;
	bool ok = read_exact(fd, frame + sizeof head, body, deadline) == 0 &&
		  authmsg_decode(frame, sizeof head + body, AUTHMSG_MAX_DIRECTORY, &m, &used) == 1;
	free(frame);
	if (!ok)
		return false;
	ok = m.type == AUTHMSG_DIRECTORY && load_directory(ac, &m);
	authmsg_clear(&m);
	return ok;
}

/* ---- requests and answers ---- */

static void call_waiters(struct waiter *w, int status)
{
	while (w) {
		struct waiter *next = w->next;
		w->cb(w->arg, status, NULL);
		free(w);
		w = next;
	}
}

static void lose(struct auth_client *ac)
{
	if (ac->lost)
		return;
	ac->lost = true;
	bufferevent_disable(ac->bev, EV_READ | EV_WRITE);
	if (ac->on_lost) /* else the server is stopping and closed it */
		log_error("auth process-lost");
	/* Callbacks may send again: they now fail at once. */
	struct auth_req *r = ac->pending;
	ac->pending = NULL;
	while (r) {
		struct auth_req *next = r->next;
		r->cb(r->arg, AUTHMSG_TEMPFAIL, NULL);
		free(r);
		r = next;
	}
	struct waiter *w = ac->refresh_next;
	ac->refresh_next = NULL;
	call_waiters(w, AUTHMSG_TEMPFAIL);
	if (ac->on_lost)
		ac->on_lost(ac->lost_arg);
}

static bool send_msg(struct auth_client *ac, struct authmsg *m, auth_client_cb cb, void *arg)
{
	if (ac->lost)
		return false;
	struct auth_req *r = calloc(1, sizeof *r);
	struct buf frame;
	buf_init(&frame, 0);
	m->id = r ? ++ac->next_id : 0;
	bool ok = r && authmsg_encode(&frame, m) &&
		  bufferevent_write(ac->bev, frame.data, frame.len) == 0;
	buf_release_secure(&frame);
	if (!ok) {
		free(r);
		return false;
	}
	r->id = m->id;
	r->cb = cb;
	r->arg = arg;
	r->next = ac->pending;
	ac->pending = r;
	return true;
}

static void set_field(struct authmsg *m, unsigned i, const char *s)
{
	m->field[i] = (char *)s;
	m->len[i] = strlen(s);
}

bool auth_client_pass(struct auth_client *ac, const char *login, const char *password,
		      auth_client_cb cb, void *arg)
{
	struct authmsg m = { .type = AUTHMSG_PASS, .nfields = 2 };
	set_field(&m, 0, login);
	set_field(&m, 1, password);
	return send_msg(ac, &m, cb, arg);
}

bool auth_client_apop(struct auth_client *ac, const char *login, const char *timestamp,
		      const char *digest, auth_client_cb cb, void *arg)
{
	struct authmsg m = { .type = AUTHMSG_APOP, .nfields = 3 };
	set_field(&m, 0, login);
	set_field(&m, 1, timestamp);
	set_field(&m, 2, digest);
	return send_msg(ac, &m, cb, arg);
}

static void refresh_answered(void *arg, int status, const char *name);

static bool send_refresh(struct auth_client *ac)
{
	struct authmsg m = { .type = AUTHMSG_REFRESH };
	ac->refreshing = send_msg(ac, &m, refresh_answered, ac);
	return ac->refreshing;
}

static void refresh_answered(void *arg, int status, const char *name)
{
	(void)name;
	struct auth_client *ac = arg;
	ac->refreshing = false;
	struct waiter *done = ac->refresh_now;
	ac->refresh_now = ac->refresh_next;
	ac->refresh_next = NULL;
	if (ac->refresh_now && !send_refresh(ac)) {
		struct waiter *w = ac->refresh_now;
		ac->refresh_now = NULL;
		call_waiters(w, AUTHMSG_TEMPFAIL);
	}
	call_waiters(done, status);
}

bool auth_client_refresh(struct auth_client *ac, auth_client_cb cb, void *arg)
{
	if (ac->lost)
		return false;
	struct waiter *w = calloc(1, sizeof *w);
	if (!w)
		return false;
	w->cb = cb;
	w->arg = arg;
	if (ac->refreshing) {
		w->next = ac->refresh_next;
		ac->refresh_next = w;
		return true;
	}
	w->next = ac->refresh_now;
	ac->refresh_now = w;
	if (!send_refresh(ac)) {
		ac->refresh_now = w->next;
		free(w);
		return false;
	}
	return true;
}

static void answer(struct auth_client *ac, const struct authmsg *m)
{
	struct auth_req **pp = &ac->pending;
	while (*pp && (*pp)->id != m->id)
		pp = &(*pp)->next;
	struct auth_req *r = *pp;
	if (!r) {
		log_warn("auth unexpected-answer id=%u", (unsigned)m->id);
		return;
	}
	*pp = r->next;
	bool ok = m->status == AUTHMSG_OK && m->len[0];
	r->cb(r->arg, m->status, ok ? m->field[0] : NULL);
	free(r);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct auth_client *ac = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!ac->lost) {
		uint8_t head[4];
		if (evbuffer_copyout(in, head, sizeof head) < (ev_ssize_t)sizeof head)
			return;
		size_t body = (size_t)head[0] << 24 | (size_t)head[1] << 16 |
			      (size_t)head[2] << 8 | head[3];
		if (body <= AUTHMSG_MAX_DIRECTORY && evbuffer_get_length(in) < sizeof head + body)
			return; /* wait for the whole frame before copying it */
		size_t n = evbuffer_get_length(in);
		const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(body <= AUTHMSG_MAX_DIRECTORY
								? sizeof head + body : n));
		struct authmsg m;
		size_t used = 0;
		if (!p || authmsg_decode(p, n, AUTHMSG_MAX_DIRECTORY, &m, &used) != 1) {
			log_error("auth bad-message from the auth process");
			lose(ac);
			return;
		}
		evbuffer_drain(in, used);
		if (m.type == AUTHMSG_DIRECTORY) {
			if (load_directory(ac, &m))
				log_info("auth directory accounts=%zu", accounts_count(ac->accounts));
		} else if (m.type == AUTHMSG_RESULT) {
			answer(ac, &m);
		} else {
			log_error("auth unexpected-message type=%u", (unsigned)m.type);
			authmsg_clear(&m);
			lose(ac);
			return;
		}
		authmsg_clear(&m);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	lose(arg);
}

struct auth_client *auth_client_new(struct event_base *base, int fd, struct accounts *a,
				    void (*on_lost)(void *arg), void *lost_arg)
{
	struct auth_client *ac = calloc(1, sizeof *ac);
	if (!ac) {
		close(fd);
		return NULL;
	}
	ac->accounts = a;
	ac->on_lost = on_lost;
	ac->lost_arg = lost_arg;
	if (!first_directory(ac, fd)) {
		log_error("auth: no directory from the auth process");
		close(fd);
		free(ac);
		return NULL;
	}
	log_info("auth directory accounts=%zu", accounts_count(a));
	evutil_make_socket_nonblocking(fd);
	ac->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!ac->bev) {
		close(fd);
		free(ac);
		return NULL;
	}
	bufferevent_setcb(ac->bev, on_read, NULL, on_event, ac);
	bufferevent_enable(ac->bev, EV_READ | EV_WRITE);
	return ac;
}

void auth_client_free(struct auth_client **acp)
{
	struct auth_client *ac = *acp;
	if (!ac)
		return;
	/* No one may wait past this point: the sessions are gone. */
	ac->on_lost = NULL;
	lose(ac);
	struct waiter *w = ac->refresh_now;
	ac->refresh_now = NULL;
	call_waiters(w, AUTHMSG_TEMPFAIL);
	bufferevent_free(ac->bev);
	free(ac);
	*acp = NULL;
}
