/* store_client: the network process's requests to the store process,
 * which alone touches the Maildirs (daemon/store_proc.h). Each callback
 * runs once, on the loop thread; status is enum ipcmsg_status, or
 * STORE_LOST when the store process went away before answering: then
 * nobody knows whether a delivery or deletion happened, and the session
 * must not claim either (it closes without a reply, as after a crash;
 * RFC 5321 6.1). */
#ifndef FACTEUR_DAEMON_STORE_CLIENT_H
#define FACTEUR_DAEMON_STORE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ipcmsg.h"

struct event_base;
struct store_client;

#define STORE_LOST (-1)

/* text: the reason of a failure (for the log), "" on success. */
typedef void (*store_done_cb)(void *arg, int status, const char *text);
/* The maildrop of a good OPEN: its handle and, per message, its POP3 size
 * and unique id (arrays of n, valid during the call only). */
struct store_listing {
	uint32_t handle;
	size_t n;
	const uint64_t *octets;
	const char *const *uidl;
};
typedef void (*store_open_cb)(void *arg, int status, const struct store_listing *l,
			      const char *text);
/* data/len: the next bytes of the message, len 0 at its end. */
typedef void (*store_read_cb)(void *arg, int status, const uint8_t *data, size_t len);

/* Takes fd. on_lost runs once if the store process goes away. */
struct store_client *store_client_new(struct event_base *base, int fd,
				      void (*on_lost)(void *arg), void *arg);
void store_client_free(struct store_client **scp);

/* Each returns false (cb not called) when the request cannot be sent. */
/* Stores head then body as one message in each account's new/; the
 * callback says whether it is on disk. */
bool store_deliver(struct store_client *sc, const char *const *accounts, size_t n,
		   const void *head, size_t head_len, const void *body, size_t body_len,
		   store_done_cb cb, void *arg);
/* Locks and lists the account's maildrop (IPCMSG_BUSY: locked). */
bool store_open(struct store_client *sc, const char *account, store_open_cb cb, void *arg);
/* Up to IPCMSG_READ_CHUNK bytes of message index from offset. */
bool store_read(struct store_client *sc, uint32_t handle, size_t index, uint64_t offset,
		store_read_cb cb, void *arg);
/* Deletes the messages idx[0..n) and fsyncs. */
bool store_delete(struct store_client *sc, uint32_t handle, const size_t *idx, size_t n,
		  store_done_cb cb, void *arg);
/* Unlocks the maildrop; no answer is awaited. */
void store_close(struct store_client *sc, uint32_t handle);

#endif
