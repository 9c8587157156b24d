/* ipc_io: lib/ipcmsg.h frames on a libevent bufferevent, for both ends of
 * a helper's socket (daemon/ipc_client.c in the network process,
 * daemon/authd.c and daemon/store_proc.c in the helpers). */
#ifndef FACTEUR_DAEMON_IPC_IO_H
#define FACTEUR_DAEMON_IPC_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/ipcmsg.h"

struct bufferevent;
struct evbuffer;

/* Takes the next whole frame out of in: 1 (m filled; ipcmsg_clear it),
 * 0 when it has not all arrived (nothing copied until it has), -1 when
 * the bytes break the protocol (a body over max_in, a bad frame). */
int ipc_next(struct evbuffer *in, size_t max_in, struct ipcmsg *m);
/* Encodes m and queues it; false when it cannot be encoded or memory
 * runs out. The encoding buffer is wiped: a password may pass. */
bool ipc_send(struct bufferevent *bev, const struct ipcmsg *m);

#endif
