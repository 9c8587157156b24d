/* spool_io: tmp/ files, locks and lookups for the spool (the EINTR-safe
 * system calls are lib/sysio). Blocking; runs on worker threads; the
 * only global state is the atomic tmp name counter. */
#include "queue/spool_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "lib/sysio.h"

static _Atomic unsigned long long tmp_counter;

int spool_open_root(const char *dir, char *err, size_t errlen)
{
	if (!dir || !*dir) {
		sysio_err(err, errlen, EINVAL, "spool: no directory");
		return -1;
	}
	int fd = sysio_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		sysio_err(err, errlen, errno, "spool: open %s", dir);
	return fd;
}

int spool_join(char *out, size_t outsz, const char *sub, const char *name,
	       const char *suffix)
{
	int n = snprintf(out, outsz, "%s/%s%s", sub, name, suffix ? suffix : "");
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int spool_flock(int fd, bool wait)
{
	int r;
	do
		r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
	while (r < 0 && errno == EINTR);
	return r;
}

bool spool_same_file(int root, const char *path, int fd)
{
	struct stat a, b;
	if (fstat(fd, &a) < 0 || fstatat(root, path, &b, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return true;
	errno = ESTALE;
	return false;
}

bool spool_exists(int root, const char *path)
{
	struct stat st;
	return fstatat(root, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The name carries pid and a process-wide counter, so threads and
 * processes never pick the same one; O_EXCL catches a leftover from a
 * crashed process whose pid came back. */
int spool_tmp_create(int root, const char *id, const char *kind, char *name)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		unsigned long long c = atomic_fetch_add(&tmp_counter, 1);
		int n = snprintf(name, SPOOL_REL_MAX, SPOOL_TMP "/%s.%s.%lx.%llx", id, kind,
				 (unsigned long)getpid(), c);
		if (n < 0 || n >= SPOOL_REL_MAX) {
			errno = ENAMETOOLONG;
			return -1;
		}
		int fd = sysio_openat(root, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return -1;
		/* Nobody else knows this file yet, so this never waits. */
		if (spool_flock(fd, false) < 0) {
			sysio_close_keep_errno(fd);
			unlinkat(root, name, 0);
			return -1;
		}
		return fd;
	}
	errno = EEXIST;
	return -1;
}

int spool_tmp_write(int root, const char *id, const char *kind,
		    const struct iovec *parts, size_t nparts, char *name)
{
	int fd = spool_tmp_create(root, id, kind, name);
	if (fd < 0)
		return -1;
	if (sysio_writev_all(fd, parts, nparts) < 0 || sysio_fsync(fd) < 0) {
		sysio_close_keep_errno(fd);
		goto fail;
	}
	if (sysio_close(fd) < 0)
		goto fail;
	return 0;
fail:;
	int e = errno;
	unlinkat(root, name, 0);
	errno = e;
	return -1;
}

const char *spool_locate(int root, const char *id)
{
	static const char *const subs[] = { SPOOL_HOLD, SPOOL_ENV };
	char path[SPOOL_REL_MAX];
	for (size_t i = 0; i < 2; i++) {
		struct stat st;
		if (spool_join(path, sizeof path, subs[i], id, NULL) < 0)
			return NULL;
		if (fstatat(root, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return subs[i];
		if (errno != ENOENT)
			return NULL;
	}
	errno = ENOENT;
	return NULL;
}

int spool_read_all(int fd, size_t max, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)st.st_size > max || max > SIZE_MAX - 2) {
		errno = EFBIG;
		return -1;
	}
	/* The size is a hint: read to the end whatever it says, within max.
	 * One spare byte sees the end without growing, one holds the NUL. */
	size_t cap = (size_t)st.st_size + 2, n = 0;
	char *p = malloc(cap);
	if (!p)
		return -1;
	int e = 0;
	for (;;) {
		if (n + 1 == cap) {
			if (n > max) {
				e = EFBIG;
				break;
			}
			size_t ncap = cap > (max + 2) / 2 ? max + 2 : cap * 2;
			char *q = realloc(p, ncap);
			if (!q) {
				e = ENOMEM;
				break;
			}
			p = q;
			cap = ncap;
		}
		ssize_t r = read(fd, p + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (!e && n > max)
		e = EFBIG;
	if (e) {
		free(p);
		errno = e;
		return -1;
	}
	p[n] = '\0';
	*data = p;
	*len = n;
	return 0;
}
