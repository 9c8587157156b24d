/* privsep: the process layout that keeps a parser bug away from the
 * secrets (doc/design.md, "Processes"; SECURITY.md).
 *
 *   facteur serve (network process: listeners, SMTP/POP3/TLS, relay)
 *     `-- facteur-auth (account files, crypt(3); no network input but
 *         the typed requests of lib/ipcmsg.h)
 *
 * Started as root, both become the configured user once the ports are
 * bound. The auth process is not dumpable (no ptrace, no core with the
 * hashes) and may only read the data directory; the network process may
 * only touch the mail and queue directories (Landlock, when the kernel
 * has it): neither the account files nor anything outside the mail root
 * is within its reach, whatever a bug in it does. */
#ifndef FACTEUR_DAEMON_PRIVSEP_H
#define FACTEUR_DAEMON_PRIVSEP_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf/conf.h"

/* The configured user, looked up while /etc/passwd is still in reach. */
struct privsep_user {
	bool wanted;         /* started as root with a "user" to become */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Fills u; wanted stays false unless started as root with "user" set.
 * -1 (logged) for an unknown user. */
int privsep_lookup_user(const struct conf *c, struct privsep_user *u);
/* Becomes u (no supplementary groups) and makes sure root cannot be
 * regained; who names the process in the log. 0 when done or not
 * wanted, -1 (logged) on failure. */
int privsep_become(const struct privsep_user *u, const char *who);

enum privsep_helper { PRIVSEP_AUTH, PRIVSEP_STORE };

/* Forks a helper process, which becomes u; returns its pid and puts the
 * network side of its socket into *fd, or -1 (logged). close_in_child
 * (or -1) is closed in the child: an earlier helper's socket. The child
 * never returns. */
pid_t privsep_start(enum privsep_helper which, const struct conf *c,
		    const struct privsep_user *u, int close_in_child, int *fd);
/* After its socket is closed: waits for a helper (killing it after a few
 * seconds) and logs how it ended. */
void privsep_reap(pid_t pid);
/* Confines the network process (sandbox = yes) to the mail and queue
 * directories (which must exist), the certificate's directories and a few
 * public system files. Landlock confines the calling thread and what it
 * starts later: call it before any thread. -1 (logged) only on a real
 * failure; a kernel without Landlock gets a warning. */
int privsep_confine_network(const struct conf *c);

#endif
