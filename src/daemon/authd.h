/* authd: the auth process (doc/design.md, "Processes").
 *
 * Forked at start, before the network process binds or parses anything.
 * It alone reads the account files (passwd, apop, aliases) and runs
 * crypt(3); the network process asks it, over one socket and in the
 * typed messages of lib/ipcmsg.h, whether a login is good, and gets the
 * account directory without hashes or secrets. It exits when that socket
 * closes: the network process stopped or died. */
#ifndef FACTEUR_DAEMON_AUTHD_H
#define FACTEUR_DAEMON_AUTHD_H

#include "conf/conf.h"

/* Serves fd until it closes. Returns the process's exit status: 0 when
 * the network process closed the socket, 1 after an error or a message
 * that breaks the protocol. */
int authd_main(const struct conf *c, int fd);

#endif
