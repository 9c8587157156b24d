#include "daemon/ipc_io.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "lib/buf.h"

int ipc_next(struct evbuffer *in, size_t max_in, struct ipcmsg *m)
{
	uint8_t head[4];
	if (evbuffer_copyout(in, head, sizeof head) < (ev_ssize_t)sizeof head)
		return 0;
	size_t body = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
	if (body > max_in)
		return -1;
	if (evbuffer_get_length(in) < sizeof head + body)
		return 0; /* wait for the whole frame before copying it */
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(sizeof head + body));
	size_t used = 0;
	if (!p || ipcmsg_decode(p, sizeof head + body, max_in, m, &used) != 1)
		return -1;
	evbuffer_drain(in, used);
	return 1;
}

bool ipc_send(struct bufferevent *bev, const struct ipcmsg *m)
{
	struct buf frame;
	buf_init(&frame, 0);
	bool ok = ipcmsg_encode(&frame, m) && bufferevent_write(bev, frame.data, frame.len) == 0;
	buf_release_secure(&frame);
	return ok;
}
