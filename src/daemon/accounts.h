/* accounts: the daemon's view of the account files (passwd, apop,
 * aliases) and
 * where a recipient's mail goes.
 *
 * The files are re-read when they change (checked at most once a second),
 * so "facteur user add" takes effect on a running server. Lookups run on
 * the loop thread and only touch memory; the rare re-read is a small file. */
#ifndef FACTEUR_DAEMON_ACCOUNTS_H
#define FACTEUR_DAEMON_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/aliases.h"
#include "conf/conf.h"

struct accounts;

struct accounts *accounts_new(const struct conf *c);
void accounts_free(struct accounts **ap);
/* Re-reads the files if they changed since the last look and at least a
 * second has passed (now = time(NULL)). Keeps the old data on error. */
void accounts_refresh(struct accounts *a, time_t now);
size_t accounts_count(const struct accounts *a);

enum route_result {
	ROUTE_LOCAL,         /* maildir filled in */
	ROUTE_UNKNOWN_USER,  /* local domain, no such account */
	ROUTE_FOREIGN,       /* not one of ours */
	ROUTE_BAD,           /* unusable address */
};

/* Routes an RFC 5321 forward-path (without <>): "bob@localhost",
 * "Postmaster" (RFC 5321 4.5.1: always accepted, sent to the configured
 * postmaster account). Writes the absolute Maildir path into maildir. */
enum route_result accounts_route(struct accounts *a, const char *rcpt,
				 char *maildir, size_t maildir_sz);

/* For a login name (full address, or bare local part when unambiguous):
 * copies the canonical name, the password hash and the APOP secret (either
 * may come back NULL) and the maildir path. Returns false when the login
 * is unknown (the out-pointers are then NULL). Copies are malloc()ed and
 * owned by the caller; the secret must be wiped before free(). */
bool accounts_login(struct accounts *a, const char *login, char **name,
		    char **hash, char **apop_secret, char **maildir);

/* Expands a forward-path through the aliases file (re-read with the
 * account files) into local accounts and remote addresses; see
 * aliases_expand. A bare "Postmaster" is postmaster of the first domain.
 * The caller frees out (alias_targets_free) whatever the result. */
enum alias_result accounts_expand(struct accounts *a, const char *rcpt,
				  struct alias_targets *out);

/* The Maildir of a canonical account name "local@domain". */
int accounts_maildir(const struct accounts *a, const char *name, char *out, size_t outsz);

#endif
