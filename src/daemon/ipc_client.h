/* ipc_client: the network process's end of a helper process's socket
 * (the auth process, the store process; doc/design.md, "Processes").
 *
 * A request goes out as one lib/ipcmsg.h frame with a fresh id; its
 * callback runs once, on the loop thread, with the RESULT that carries
 * the same id, or with NULL if the helper goes away first. Messages the
 * helper sends on its own (the auth process's directory) go to
 * on_message. */
#ifndef FACTEUR_DAEMON_IPC_CLIENT_H
#define FACTEUR_DAEMON_IPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ipcmsg.h"

struct event_base;
struct ipc_client;

/* reply is NULL when the helper is gone; it is freed after the call. */
typedef void (*ipc_reply_cb)(void *arg, const struct ipcmsg *reply);

struct ipc_client_cfg {
	const char *name;          /* "auth", "store": for the log */
	size_t max_in;             /* the largest body accepted from it */
	/* A message that is not a RESULT; false: the helper broke the
	 * protocol (it is then treated as lost). */
	bool (*on_message)(void *arg, const struct ipcmsg *m);
	/* Once, when the helper goes away (not at ipc_client_free). */
	void (*on_lost)(void *arg);
	void *arg;
};

/* Takes fd (closed by ipc_client_free); NULL when out of memory. */
struct ipc_client *ipc_client_new(struct event_base *base, int fd,
				  const struct ipc_client_cfg *cfg);
/* Every callback still waiting runs with NULL first. */
void ipc_client_free(struct ipc_client **icp);
/* Sends m with a fresh id (written into m->id). False (cb not called)
 * when the helper is gone, m cannot be encoded, or memory ran out. */
bool ipc_client_request(struct ipc_client *ic, struct ipcmsg *m, ipc_reply_cb cb, void *arg);
bool ipc_client_lost(const struct ipc_client *ic);

/* Before ipc_client_new: reads one whole frame from the blocking start of
 * a helper's socket (its first word: the directory, or "ready"), waiting
 * at most timeout_ms. 0 with m filled (ipcmsg_clear it), -1 otherwise. */
int ipc_read_first(int fd, size_t max_in, int timeout_ms, struct ipcmsg *m);

#endif
