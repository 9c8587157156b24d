/* maildir_name: the pure part of Maildir naming.
 * Names follow the Maildir convention "<sec>.M<usec>P<pid>Q<n>.<host>"
 * with Dovecot's size fields ",S=<size>,W=<crlf size>", and flags after
 * ":2," in cur/. */
#ifndef FACTEUR_STORE_MAILDIR_NAME_H
#define FACTEUR_STORE_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes a new unique name into out. host has '/' and ':' replaced as the
 * convention asks (\057, \072), and also ',', '\\' and bytes outside
 * 0x21..0x7e (octal, e.g. \054), so the name is printable and the unique
 * part ends where the size fields begin. An empty host is "localhost".
 * Returns false if out is too small. */
bool maildir_name_make(char *out, size_t outsz, long long sec, long usec,
		       long pid, unsigned long long counter, const char *host,
		       uint64_t size, uint64_t wsize);
/* Extracts S= and W= when present (sets *has_s / *has_w). */
void maildir_name_sizes(const char *name, uint64_t *s, bool *has_s,
			uint64_t *w, bool *has_w);
/* Length of the unique part: up to the first ',' or ':'. */
size_t maildir_name_uniq_len(const char *name);
/* Seconds field at the start of the name, 0 if absent (sort key). */
long long maildir_name_time(const char *name);

#endif
