#include "daemon/ipc_client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "daemon/ipc_io.h"
#include "lib/log.h"

struct ipc_req {
	struct ipc_req *next;
	uint32_t id;
	ipc_reply_cb cb;
	void *arg;
};

struct ipc_client {
	struct bufferevent *bev;
	struct ipc_client_cfg cfg;
	struct ipc_req *pending;
	uint32_t next_id;
	bool lost;
};

static void lose(struct ipc_client *ic, bool quiet)
{
	if (ic->lost)
		return;
	ic->lost = true;
	bufferevent_disable(ic->bev, EV_READ | EV_WRITE);
	if (!quiet)
		log_error("%s process-lost", ic->cfg.name);
	/* Callbacks may send again: they now fail at once. */
	struct ipc_req *r = ic->pending;
	ic->pending = NULL;
	while (r) {
		struct ipc_req *next = r->next;
		r->cb(r->arg, NULL);
		free(r);
		r = next;
	}
	if (!quiet && ic->cfg.on_lost)
		ic->cfg.on_lost(ic->cfg.arg);
}

bool ipc_client_lost(const struct ipc_client *ic)
{
	return ic->lost;
}

bool ipc_client_request(struct ipc_client *ic, struct ipcmsg *m, ipc_reply_cb cb, void *arg)
{
	if (ic->lost)
		return false;
	struct ipc_req *r = calloc(1, sizeof *r);
	/* Ids go on from 1 and skip 0 when they wrap: 0 is no request (the
	 * store's "ready", a POP3 session without a maildrop). */
	if (++ic->next_id == 0)
		ic->next_id = 1;
	m->id = ic->next_id;
	if (!r || !ipc_send(ic->bev, m)) {
		free(r);
		return false;
	}
	r->id = m->id;
	r->cb = cb;
	r->arg = arg;
	r->next = ic->pending;
	ic->pending = r;
	return true;
}

static bool answer(struct ipc_client *ic, const struct ipcmsg *m)
{
	struct ipc_req **pp = &ic->pending;
	while (*pp && (*pp)->id != m->id)
		pp = &(*pp)->next;
	struct ipc_req *r = *pp;
	if (!r)
		return false; /* an answer to nothing asked */
	*pp = r->next;
	r->cb(r->arg, m);
	free(r);
	return true;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ipc_client *ic = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!ic->lost) {
		struct ipcmsg m;
		int r = ipc_next(in, ic->cfg.max_in, &m);
		if (r == 0)
			return;
		if (r < 0) {
			log_error("%s bad-message", ic->cfg.name);
			lose(ic, false);
			return;
		}
		bool ok = m.type == IPCMSG_RESULT
			? answer(ic, &m)
			: ic->cfg.on_message && ic->cfg.on_message(ic->cfg.arg, &m);
		ipcmsg_clear(&m);
		if (!ok) {
			log_error("%s unexpected-message type=%u id=%u", ic->cfg.name,
				  (unsigned)m.type, (unsigned)m.id);
			lose(ic, false);
			return;
		}
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	lose(arg, false);
}

struct ipc_client *ipc_client_new(struct event_base *base, int fd,
				  const struct ipc_client_cfg *cfg)
{
	struct ipc_client *ic = calloc(1, sizeof *ic);
	if (!ic) {
		close(fd);
		return NULL;
	}
	ic->cfg = *cfg;
	evutil_make_socket_nonblocking(fd);
	ic->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!ic->bev) {
		close(fd);
		free(ic);
		return NULL;
	}
	bufferevent_setcb(ic->bev, on_read, NULL, on_event, ic);
	bufferevent_enable(ic->bev, EV_READ | EV_WRITE);
	return ic;
}

void ipc_client_free(struct ipc_client **icp)
{
	struct ipc_client *ic = *icp;
	if (!ic)
		return;
	lose(ic, true);
	bufferevent_free(ic->bev);
	free(ic);
	*icp = NULL;
}

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

int ipc_read_first(int fd, size_t max_in, int timeout_ms, struct ipcmsg *m)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	uint8_t head[4];
	if (read_exact(fd, head, sizeof head, deadline) < 0)
		return -1;
	size_t body = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
	if (body > max_in)
		return -1;
	uint8_t *frame = malloc(sizeof head + body);
	if (!frame)
		return -1;
	memcpy(frame, head, sizeof head);
	size_t used;
	int rc = read_exact(fd, frame + sizeof head, body, deadline) == 0 &&
			 ipcmsg_decode(frame, sizeof head + body, max_in, m, &used) == 1
		 ? 0 : -1;
	free(frame);
	return rc;
}
