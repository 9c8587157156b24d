/* smtp_conn: the I/O adapter around the pure SMTP core: socket bytes in,
 * replies out, recipient checks against the accounts, and message commits
 * on a worker thread (the 250 goes out only after maildir_deliver has
 * fsynced everything). */
#ifndef FACTEUR_DAEMON_SMTP_CONN_H
#define FACTEUR_DAEMON_SMTP_CONN_H

#include <sys/socket.h>

#include "daemon/server.h"

void smtp_conn_accept(struct server *srv, enum listener_proto listener, int fd,
		      const struct sockaddr *sa, socklen_t salen);

#endif
