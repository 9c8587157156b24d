/* store_proc: the store process (doc/design.md, "Processes").
 *
 * Forked at start like the auth process, it alone reads and writes the
 * Maildirs: the network process asks it, in the typed messages of
 * lib/ipcmsg.h, to deliver a message to some accounts (it answers once
 * the message is on disk, fsynced, in every new/), and to open, read and
 * delete a POP3 maildrop's messages by number. It never takes a path
 * from the network process: an account name ("local@domain", validated
 * like "facteur user" does) is the only way to name a Maildir. */
#ifndef FACTEUR_DAEMON_STORE_PROC_H
#define FACTEUR_DAEMON_STORE_PROC_H

#include "conf/conf.h"

/* Serves fd until it closes. Returns the exit status: 0 when the network
 * process closed the socket, 1 after an error or a message that breaks
 * the protocol. */
int store_proc_main(const struct conf *c, int fd);

#endif
