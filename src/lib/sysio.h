/* sysio: EINTR-safe system-call helpers for the layers that touch files
 * (store/ and queue/ are siblings, so their shared helpers live here).
 * Every helper retries on EINTR and keeps errno meaningful on failure.
 * Blocking; safe on any thread; no global state. */
#ifndef FACTEUR_LIB_SYSIO_H
#define FACTEUR_LIB_SYSIO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Formats a message into err, followed by ": <strerror(e)>" when e != 0,
 * and leaves errno == e. err may be NULL (or errlen 0): only errno is set. */
void sysio_err(char *err, size_t errlen, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* openat() retried on EINTR; flags and mode are passed unchanged. */
int sysio_openat(int dirfd, const char *path, int flags, mode_t mode);
/* fsync() retried on EINTR. */
int sysio_fsync(int fd);
/* close() that reports errors (not EINTR: the descriptor is gone). */
int sysio_close(int fd);
/* close() for error paths: ignores its result and leaves errno as it was. */
void sysio_close_keep_errno(int fd);
/* Opens the directory path (relative to dirfd; O_RDONLY | O_DIRECTORY |
 * O_CLOEXEC) and fsyncs it, so that a rename or unlink in it is durable. */
int sysio_fsync_dir(int dirfd, const char *path);
/* write() all len bytes, resuming after short writes; a write of 0 bytes
 * fails with EIO. */
int sysio_write_all(int fd, const void *p, size_t len);
/* writev() every part, resuming after short writes; batches of IOV_MAX.
 * parts is not modified (a copy is advanced); -1 with ENOMEM when the
 * copy cannot be allocated, EIO on a write of 0 bytes. */
int sysio_writev_all(int fd, const struct iovec *parts, size_t nparts);

/* mkdir(path, mode), then fsync the parent so that the new directory's
 * entry survives a crash (the first file stored under it would vanish
 * with it otherwise). An existing directory is success; an existing
 * non-directory is ENOTDIR. */
int sysio_mkdir_durable(const char *path, mode_t mode);

#endif
