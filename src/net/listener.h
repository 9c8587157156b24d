/* listener: the listening sockets. The only place that calls bind/accept.
 * Accepting pauses for a second when the process runs out of file
 * descriptors (EMFILE/ENFILE), so a full table never becomes a busy loop. */
#ifndef FACTEUR_NET_LISTENER_H
#define FACTEUR_NET_LISTENER_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h>

struct event_base;
struct listener;

/* Called on the loop thread with a new non-blocking, close-on-exec socket. */
typedef void (*listener_accept_fn)(evutil_socket_t fd, const struct sockaddr *sa,
				   socklen_t salen, void *arg);

/* addr is a numeric IPv4 or IPv6 address. Returns NULL and logs why. */
struct listener *listener_new(struct event_base *base, const char *addr,
			      uint16_t port, listener_accept_fn fn, void *arg);
void listener_free(struct listener **lp);
/* Stops accepting (for shutdown) without closing established sessions. */
void listener_disable(struct listener *l);

#endif
