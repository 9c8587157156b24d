/* spool_io: EINTR-safe system calls, tmp/ files and lookups for the
 * spool. Blocking; runs on worker threads; the only global state is the
 * atomic tmp name counter. */
#include "queue/spool_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static _Atomic unsigned long long tmp_counter;

void spool_err(char *err, size_t errlen, int e, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < errlen && e) {
			char ebuf[128];
			const char *s = strerror_r(e, ebuf, sizeof ebuf);
			snprintf(err + n, errlen - (size_t)n, ": %s", s);
		}
	}
	errno = e;
}

int spool_open_root(const char *dir, char *err, size_t errlen)
{
	if (!dir || !*dir) {
		spool_err(err, errlen, EINVAL, "spool: no directory");
		return -1;
	}
	int fd = spool_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		spool_err(err, errlen, errno, "spool: open %s", dir);
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

int spool_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd;
	do
		fd = openat(dirfd, path, flags, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

int spool_fsync(int fd)
{
	int r;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

int spool_close(int fd)
{
	if (close(fd) < 0 && errno != EINTR)
		return -1;
	return 0;
}

void spool_close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

int spool_fsync_dir(int root, const char *sub)
{
	int fd = spool_openat(root, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (spool_fsync(fd) < 0) {
		spool_close_keep_errno(fd);
		return -1;
	}
	return spool_close(fd);
}

int spool_write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t w = write(fd, b, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

int spool_writev_all(int fd, const struct iovec *parts, size_t nparts)
{
	if (nparts == 0)
		return 0;
	struct iovec *v = malloc(nparts * sizeof *v);
	if (!v)
		return -1;
	memcpy(v, parts, nparts * sizeof *v);
	size_t i = 0;
	int rc = 0;
	while (i < nparts) {
		if (v[i].iov_len == 0) {
			i++;
			continue;
		}
		size_t cnt = nparts - i < IOV_MAX ? nparts - i : IOV_MAX;
		ssize_t w = writev(fd, v + i, (int)cnt);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		if (w == 0) {
			errno = EIO;
			rc = -1;
			break;
		}
		size_t left = (size_t)w;
		while (left > 0 && i < nparts) {
			if (left >= v[i].iov_len) {
				left -= v[i].iov_len;
				v[i].iov_len = 0;
				i++;
			} else {
				v[i].iov_base = (uint8_t *)v[i].iov_base + left;
				v[i].iov_len -= left;
				left = 0;
			}
		}
	}
	int e = errno;
	free(v);
	errno = e;
	return rc;
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
		int fd = spool_openat(root, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return -1;
		/* Nobody else knows this file yet, so this never waits. */
		if (spool_flock(fd, false) < 0) {
			spool_close_keep_errno(fd);
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
	if (spool_writev_all(fd, parts, nparts) < 0 || spool_fsync(fd) < 0) {
		spool_close_keep_errno(fd);
		goto fail;
	}
	if (spool_close(fd) < 0)
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
