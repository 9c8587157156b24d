/* accounts: the daemon's view of the account files (passwd, apop,
 * aliases) and where a recipient's mail goes.
 *
 * Two kinds: the auth process's reads the files and re-reads them when
 * they change, so "facteur user add" takes effect on a running server;
 * the network process's holds only the directory the auth process
 * publishes (account names and the aliases text, never a hash or a
 * secret). Lookups only touch memory; the rare re-read is a small file. */
#ifndef FACTEUR_DAEMON_ACCOUNTS_H
#define FACTEUR_DAEMON_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/aliases.h"
#include "conf/conf.h"
#include "lib/buf.h"

struct accounts;

/* Reads the account files (auth process). */
struct accounts *accounts_new(const struct conf *c);
/* Empty until accounts_set_directory (network process). */
struct accounts *accounts_new_directory(const struct conf *c);
void accounts_free(struct accounts **ap);
/* Re-reads the files that changed; true if any did. Keeps the old data of
 * a file that cannot be read or parsed. False for a directory view. */
bool accounts_check(struct accounts *a);
/* accounts_check at most once a second (now = time(NULL)). */
bool accounts_refresh(struct accounts *a, time_t now);

/* What the auth process publishes: appends "name:-" lines (passwd syntax
 * without the hashes) to names, and points at the aliases text as read
 * and the file's name (for error messages). False when out of memory. */
bool accounts_directory(const struct accounts *a, struct buf *names, const char **aliases,
			size_t *aliases_len, const char **aliases_name);
/* Replaces a directory view's content with what accounts_directory gave;
 * -1 (err filled, old content kept) if either part does not parse. */
int accounts_set_directory(struct accounts *a, const char *names, size_t names_len,
			   const char *aliases, size_t aliases_len, const char *aliases_name,
			   char *err, size_t errlen);
size_t accounts_count(const struct accounts *a);

enum route_result {
	ROUTE_LOCAL,         /* account filled in */
	ROUTE_UNKNOWN_USER,  /* local domain, no such account */
	ROUTE_FOREIGN,       /* not one of ours */
	ROUTE_BAD,           /* unusable address */
};

/* Routes an RFC 5321 forward-path (without <>): "bob@localhost",
 * "Postmaster" (RFC 5321 4.5.1: always accepted, sent to the configured
 * postmaster account). Writes the account's name ("local@domain"). */
enum route_result accounts_route(struct accounts *a, const char *rcpt,
				 char *account, size_t account_sz);

/* For a login name (full address, or bare local part when unambiguous):
 * copies the canonical name, the password hash and the APOP secret (may
 * come back NULL). Returns false when the login is unknown (the
 * out-pointers are then NULL). Copies are malloc()ed and owned by the
 * caller; the secret must be wiped before free(). Auth process only: a
 * directory view has no hashes. */
bool accounts_login(struct accounts *a, const char *login, char **name,
		    char **hash, char **apop_secret);

/* Expands a forward-path through the aliases file (re-read with the
 * account files) into local accounts and remote addresses; see
 * aliases_expand. A bare "Postmaster" is postmaster of the first domain.
 * The caller frees out (alias_targets_free) whatever the result. */
enum alias_result accounts_expand(struct accounts *a, const char *rcpt,
				  struct alias_targets *out);

#endif
