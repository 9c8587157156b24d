/* pop3_conn: the I/O adapter around the pure POP3 core. Password checks,
 * locking and listing the maildrop, reading messages and the UPDATE
 * state's deletions all run on worker threads. */
#ifndef FACTEUR_DAEMON_POP3_CONN_H
#define FACTEUR_DAEMON_POP3_CONN_H

#include <sys/socket.h>

#include "daemon/server.h"

void pop3_conn_accept(struct server *srv, enum listener_proto listener, int fd,
		      const struct sockaddr *sa, socklen_t salen);

#endif
