/* spool_io: the helpers shared by spool.c, spool_enqueue.c and
 * spool_recover.c. Internal to src/queue (not part of the contract).
 *
 * The EINTR-safe system calls (open, fsync, close, write, error texts)
 * are lib/sysio.h, shared with store/; the rules here are the same:
 * every helper retries on EINTR and keeps errno meaningful on failure.
 * Paths are relative to a descriptor of the spool directory ("root"), so
 * a long data_dir costs nothing and every name is built in a small fixed
 * buffer. */
#ifndef FACTEUR_QUEUE_SPOOL_IO_H
#define FACTEUR_QUEUE_SPOOL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "queue/envelope.h"

/* The subdirectories (spool.h). */
#define SPOOL_TMP "tmp"
#define SPOOL_MSG "msg"
#define SPOOL_ENV "env"
#define SPOOL_HOLD "hold"
#define SPOOL_CORRUPT "corrupt"

/* A name relative to root: "<sub>/<id><suffix>" or a tmp/ name. */
#define SPOOL_REL_MAX 192
/* The largest envelope written or read. Far above what a real entry
 * needs (100000 recipients of 600 bytes each), and read whole into
 * memory, so it is also what a corrupt file can cost. */
#define SPOOL_ENV_FILE_MAX (64u * 1024u * 1024u)

/* Opens the spool directory (O_DIRECTORY); -1 with err set. */
int spool_open_root(const char *dir, char *err, size_t errlen);
/* "<sub>/<name><suffix>" into out (SPOOL_REL_MAX bytes); -1 with
 * ENAMETOOLONG. suffix may be NULL. */
int spool_join(char *out, size_t outsz, const char *sub, const char *name,
	       const char *suffix);

/* flock(LOCK_EX), non-blocking unless wait; EINTR retried. */
int spool_flock(int fd, bool wait);
/* True when fd is the file named path (relative to root) right now;
 * false with errno ENOENT when nothing has that name, ESTALE when
 * another file has it. */
bool spool_same_file(int root, const char *path, int fd);
/* fstatat without following links; true when path exists. */
bool spool_exists(int root, const char *path);

/* Creates a new file in tmp/ (O_EXCL, 0600) named after id and kind,
 * and flocks it, so that spool_recover leaves it alone while it is
 * written. name receives its path relative to root (SPOOL_REL_MAX
 * bytes). Returns the descriptor. */
int spool_tmp_create(int root, const char *id, const char *kind, char *name);
/* spool_tmp_create, write every part, fsync, close: the file is durable
 * content under a tmp/ name. On failure nothing is left in tmp/. */
int spool_tmp_write(int root, const char *id, const char *kind,
		    const struct iovec *parts, size_t nparts, char *name);

/* Where the envelope of id is: SPOOL_HOLD or SPOOL_ENV (hold/ is looked
 * at first: should both exist, the entry stays held rather than being
 * sent), or NULL with errno ENOENT when the entry is gone (or another
 * errno when the disk fails). */
const char *spool_locate(int root, const char *id);

/* Reads fd to the end into a malloc()ed buffer with a NUL after the
 * *len bytes; -1 with EFBIG past max bytes. */
int spool_read_all(int fd, size_t max, char **data, size_t *len);

#endif
