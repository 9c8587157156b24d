/* aliases: the aliases file and recipient expansion (pure).
 *
 * File syntax (like aliases(5)): "name: target, target, ..." per line,
 * '#' comments, blank lines, continuation lines start with a blank.
 *   name   "local" (in every local domain), "local@domain" (that domain
 *          only) or "@domain" (catch-all for addresses of that domain that
 *          match no account and no alias). Case-insensitive.
 *   target "local" (same domain as the address being expanded),
 *          "local@domain" (local or remote), never a file or a program.
 * Errors are "FILE:LINE: message". Duplicated names are an error. */
#ifndef FACTEUR_CONF_ALIASES_H
#define FACTEUR_CONF_ALIASES_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

struct aliases;

/* Pure parse; *out is an empty table when text is empty. */
int aliases_parse(const char *name, const char *text, size_t len,
		  struct aliases **out, char *err, size_t errlen);
/* Reads path whole into text (replacing its content); a missing file is
 * empty text. */
int aliases_read(const char *path, struct buf *text, char *err, size_t errlen);
/* Reads and parses path; a missing file is an empty table. */
int aliases_load(const char *path, struct aliases **out, char *err, size_t errlen);
void aliases_free(struct aliases **ap);
size_t aliases_count(const struct aliases *a);

/* What the expansion needs from the rest of facteur. */
struct alias_env {
	void *arg;
	/* domain is lower-case */
	bool (*is_local_domain)(void *arg, const char *domain);
	/* addr is "local@domain", lower-case domain; true when an account */
	bool (*is_account)(void *arg, const char *addr);
	/* The account for postmaster@ and abuse@ of a local domain when no
	 * account or alias of that name exists (RFC 5321 4.5.1, RFC 2142);
	 * NULL when there is none. */
	const char *(*postmaster)(void *arg, const char *domain);
	char delimiter;           /* sub-address separator ('+'); 0 = none */
};

enum alias_result {
	ALIAS_OK,        /* out holds >= 1 target */
	ALIAS_UNKNOWN,   /* a local domain and nothing matches: 550 5.1.1 */
	ALIAS_FOREIGN,   /* not a local domain: out holds the address itself */
	ALIAS_LOOP,      /* expansion deeper than 16 or more than 1000 targets */
	ALIAS_BAD,       /* not "local@domain" */
	ALIAS_NOMEM,
};

struct alias_targets {
	char **local;    /* accounts "local@domain" (deduplicated) */
	size_t nlocal;
	char **remote;   /* addresses in foreign domains (deduplicated) */
	size_t nremote;
};

/* Expands one RFC 5321 forward-path without <> ("Bob+x@Example.org").
 * Order for an address in a local domain, at each level:
 *   1. the whole local part as an alias (local@domain, then local),
 *   2. the whole address as an account,
 *   3. the part before the delimiter ("bob" of "bob+x"), alias then account,
 *   4. postmaster/abuse -> env->postmaster,
 *   5. the domain's catch-all alias.
 * Alias targets are expanded again (a target that names itself, or an
 * account, stops there); cycles end without error as long as a target is
 * left. The local part is compared case-insensitively; the domain is
 * lower-cased in the results. */
enum alias_result aliases_expand(const struct aliases *a, const struct alias_env *env,
				 const char *addr, struct alias_targets *out);
void alias_targets_free(struct alias_targets *t);

#endif
