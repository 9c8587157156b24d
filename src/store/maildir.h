/* maildir: deliver into, list, read and delete from Maildirs
 * (<root>/{tmp,new,cur}), interoperable with mutt and Dovecot.
 *
 * Durability (the rule behind every "250"): content is written to tmp/,
 * fsync()ed, linked into new/ of every recipient, and each new/ directory
 * is fsync()ed before maildir_deliver() returns 0. A failure leaves nothing
 * visible in new/ and removes the tmp file.
 *
 * These calls block on the disk: the daemon runs them on worker threads,
 * never on the event loop. All are thread-safe. Errors return -1 with
 * errno set (ENOSPC/EDQUOT mean "no space") and a message in err. */
#ifndef FACTEUR_STORE_MAILDIR_H
#define FACTEUR_STORE_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Creates root, root/tmp, root/new, root/cur (mode 0700) as needed,
 * including missing parents. */
int maildir_ensure(const char *root, char *err, size_t errlen);

/* Writes "<data_dir>/mail/<domain>/<local>" for a normalised account
 * "local@domain" (the one layout shared by the daemon and "facteur user").
 * Returns -1 (errno EINVAL) for a name that could leave that directory,
 * or ENAMETOOLONG. */
int maildir_account_path(const char *data_dir, const char *account,
			 char *out, size_t outsz);

/* Writes the concatenation of parts once, then makes it appear in new/ of
 * each of the n maildirs (hard links; a copy when link() fails with EXDEV).
 * The stored name carries ",S=<size>,W=<size with CRLF line ends>".
 * The file is first written in maildirs[0]/tmp; each maildir must exist
 * (maildir_ensure). A maildrop named twice (same new/ directory) gets one
 * copy. W= counts every LF not preceded by CR as two bytes, plus 2 when
 * the content is not empty and does not end in LF (the POP3 size). */
int maildir_deliver(const char *const *maildirs, size_t n,
		    const struct iovec *parts, size_t nparts,
		    char *err, size_t errlen);

struct maildir_msg {
	char *path;        /* relative to root: "new/<name>" or "cur/<name>" */
	char *uidl;        /* the unique part of the name (before ':' and ','),
	                    * stable across new/->cur/ moves and flag changes */
	uint64_t size;     /* bytes on disk */
	uint64_t octets;   /* bytes POP3 RETR sends before the final ".": CRLF line
	                    * ends, plus 2 when the last line is unterminated
	                    * (RETR adds its CRLF); W= when present, else counted */
};

/* Lists new/ and cur/, oldest first (by the time in the name, then name
 * with digit runs compared as numbers, so deliveries within one second
 * keep their order).
 * Skips dot files and anything that is not a regular file; a missing new/
 * or cur/ counts as empty (a missing root is an error). *out is a
 * malloc()ed array owned by the caller (maildir_list_free); on error it is
 * NULL. A uidl is always 1..70 bytes of 0x21..0x7e (RFC 1939 7) and unique
 * in the list: a name unfit for that gets a 32-hex-digit SHA-256 prefix. */
int maildir_scan(const char *root, struct maildir_msg **out, size_t *n,
		 char *err, size_t errlen);
void maildir_list_free(struct maildir_msg **msgs, size_t n);

/* Opens a listed message read-only; returns an fd or -1. */
int maildir_open(const char *root, const struct maildir_msg *m);

/* Unlinks the listed messages idx[0..n) and fsyncs new/ and cur/.
 * A message already gone counts as deleted; one moved from new/ to cur/
 * by another mail program since the scan is found by its unique part and
 * deleted. Keeps going after an error and reports the first. */
int maildir_delete(const char *root, const struct maildir_msg *msgs,
		   const size_t *idx, size_t n, char *err, size_t errlen);

/* Takes an exclusive, non-blocking lock on the maildrop (flock on
 * root/.facteur.lock: released by the kernel if the process dies).
 * Returns an fd, or -1 with errno EWOULDBLOCK when another session holds
 * it. maildir_unlock closes it. */
int maildir_lock(const char *root);
void maildir_unlock(int fd);

/* Removes files in root/tmp older than max_age seconds (stale leftovers of
 * an interrupted delivery). Returns how many were removed (0 when tmp/ is
 * missing), or -1 if tmp/ cannot be read. */
int maildir_clean_tmp(const char *root, long max_age);

#endif
