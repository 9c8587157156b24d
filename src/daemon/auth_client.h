/* auth_client: the network process's end of the auth process's socket
 * (doc/design.md, "Processes").
 *
 * Logins are checked over there, so the password hashes and APOP secrets
 * never enter this process: a request goes out, and its callback runs
 * once, on the loop thread, with the verdict and the canonical account
 * name. The directory the auth process publishes (account names, aliases)
 * is loaded into the server's accounts view as it arrives. */
#ifndef FACTEUR_DAEMON_AUTH_CLIENT_H
#define FACTEUR_DAEMON_AUTH_CLIENT_H

#include <stdbool.h>

#include "lib/ipcmsg.h"

struct event_base;
struct accounts;
struct auth_client;

/* status is enum ipcmsg_status; name is the account ("local@domain") when
 * IPCMSG_OK after a login, NULL otherwise. */
typedef void (*auth_client_cb)(void *arg, int status, const char *name);

/* Takes fd (closed by auth_client_free). Waits, blocking, for the first
 * directory so that the first session already routes recipients right;
 * NULL if it does not come. on_lost runs once if the auth process goes
 * away; every request then gets IPCMSG_TEMPFAIL. */
struct auth_client *auth_client_new(struct event_base *base, int fd, struct accounts *a,
				    void (*on_lost)(void *arg), void *lost_arg);
void auth_client_free(struct auth_client **acp);

/* Each returns false (cb not called) when the request cannot be sent:
 * the auth process is gone, or memory ran out. Otherwise cb runs exactly
 * once, later. The strings are copied. */
bool auth_client_pass(struct auth_client *ac, const char *login, const char *password,
		      auth_client_cb cb, void *arg);
bool auth_client_apop(struct auth_client *ac, const char *login, const char *timestamp,
		      const char *digest, auth_client_cb cb, void *arg);
/* Asks the auth process to look at the account files now; cb runs once
 * any change is in the view. Calls made while a look is on its way wait
 * for the next one, which starts afterwards: the first may have looked
 * before the change the caller wants to see. */
bool auth_client_refresh(struct auth_client *ac, auth_client_cb cb, void *arg);

#endif
