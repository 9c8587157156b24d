/* passwd: the account database file.
 *
 * Format, one account per line ("#" comments, blank lines ignored):
 *     alice@localhost:$y$j9T$...hash...
 * The hash is a crypt(3) string (yescrypt "$y$" or sha512-crypt "$6$").
 *
 * APOP secrets live in a separate file of the same shape,
 *     alice@localhost:the-shared-secret
 * because APOP needs the secret in clear text (RFC 1939 7).
 *
 * The parser is pure; loading and saving touch files. */
#ifndef FACTEUR_AUTH_PASSWD_H
#define FACTEUR_AUTH_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

struct passwd_entry {
	char *name;    /* normalised "local@domain" */
	char *value;   /* hash (passwd) or secret (apop file) */
};

/* entries are kept sorted by name (strcmp) so lookups are binary
 * searches; change them only through passwd_set/passwd_remove. Values
 * are wiped when freed. */
struct passwd_db {
	struct passwd_entry *entries;
	size_t n;
};

/* Parses text into db (overwritten, not freed first). The name is split at
 * the first ':', validated and lower-cased (account_normalise); the value
 * is the rest of the line, 1..1024 bytes without control characters (no
 * trimming; a trailing CR of CRLF is dropped). Lines whose first non-blank
 * byte is '#' and blank lines are skipped; a name given twice is an error.
 * On error returns -1, db is empty, and err holds "line N: reason". */
int passwd_parse(const char *text, size_t len, struct passwd_db *db,
		 char *err, size_t errlen);
/* Loads path; a missing file is an empty database. err gets "path:N: ..."
 * for a bad line, "path: reason" otherwise. */
int passwd_load(const char *path, struct passwd_db *db, char *err, size_t errlen);
/* Writes atomically (tmp file, fsync, rename, dir fsync), mode 0600. */
int passwd_save(const char *path, const struct passwd_db *db, char *err, size_t errlen);
void passwd_free(struct passwd_db *db);

const struct passwd_entry *passwd_find(const struct passwd_db *db, const char *name);
/* Resolves a login: a full address (case-insensitive), or a bare local
 * part when exactly one account has it. NULL if unknown or ambiguous. */
const struct passwd_entry *passwd_resolve_login(const struct passwd_db *db, const char *login);
/* Adds or replaces; value is copied. -1 (errno EINVAL) for an invalid
 * name or value, or ENOMEM. */
int passwd_set(struct passwd_db *db, const char *name, const char *value);
/* Returns 0 if removed, -1 if absent. */
int passwd_remove(struct passwd_db *db, const char *name);
/* Is domain one of the accounts' domains? (case-insensitive) */
bool passwd_has_domain(const struct passwd_db *db, const char *domain);

#endif
