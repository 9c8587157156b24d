#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "lib/log.h"

struct listener {
	struct evconnlistener *evl;
	struct event *resume;   /* re-enables accepting after EMFILE */
	listener_accept_fn fn;
	void *arg;
	char name[80];
};

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	(void)evl;
	struct listener *l = arg;
	l->fn(fd, sa, (socklen_t)salen, l->arg);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct listener *l = arg;
	evconnlistener_enable(l->evl);
}

static void on_accept_error(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* The pending connection stays in the backlog; retrying at once
		 * would spin. Pause, let sessions end, then try again. */
		log_warn("listener %s accept-paused error=\"%s\"", l->name, strerror(err));
		evconnlistener_disable(evl);
		struct timeval tv = { 1, 0 };
		event_add(l->resume, &tv);
		return;
	}
	log_warn("listener %s accept-error error=\"%s\"", l->name, strerror(err));
}

struct listener *listener_new(struct event_base *base, const char *addr,
			      uint16_t port, listener_accept_fn fn, void *arg)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t sslen;
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
			 LEV_OPT_REUSEABLE;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sslen = sizeof *sin;
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sslen = sizeof *sin6;
		/* "[::]" and "0.0.0.0" may both be configured. */
		flags |= LEV_OPT_BIND_IPV6ONLY;
	} else {
		log_error("listener: bad address '%s'", addr);
		return NULL;
	}

	struct listener *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->fn = fn;
	l->arg = arg;
	if (sin->sin_family == AF_INET6)
		snprintf(l->name, sizeof l->name, "[%s]:%u", addr, (unsigned)port);
	else
		snprintf(l->name, sizeof l->name, "%s:%u", addr, (unsigned)port);
	l->evl = evconnlistener_new_bind(base, on_accept, l, flags, 1024,
					 (struct sockaddr *)&ss, (int)sslen);
	if (!l->evl) {
		log_error("listener %s cannot listen: %s", l->name, strerror(errno));
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->evl, on_accept_error);
	l->resume = evtimer_new(base, on_resume, l);
	if (!l->resume) {
		evconnlistener_free(l->evl);
		free(l);
		return NULL;
	}
	return l;
}

void listener_disable(struct listener *l)
{
	evconnlistener_disable(l->evl);
	event_del(l->resume);
}

void listener_free(struct listener **lp)
{
	struct listener *l = *lp;
	if (!l)
		return;
	evconnlistener_free(l->evl);
	event_free(l->resume);
	free(l);
	*lp = NULL;
}
