/* sysio: EINTR-safe wrappers around openat, fsync, close, write and
 * writev, and error-string formatting, shared by store/ and queue/.
 * Blocking; runs on worker threads; no global state. No protocol
 * knowledge and no policy: flags and modes come from the caller. */
#include "lib/sysio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void sysio_err(char *err, size_t errlen, int e, const char *fmt, ...)
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

int sysio_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd;
	do
		fd = openat(dirfd, path, flags, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

int sysio_fsync(int fd)
{
	int r;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

/* close() is not retried on EINTR: on Linux the descriptor is gone. An
 * error still matters (NFS reports write failures here). */
int sysio_close(int fd)
{
	if (close(fd) < 0 && errno != EINTR)
		return -1;
	return 0;
}

void sysio_close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

int sysio_fsync_dir(int dirfd, const char *path)
{
	int fd = sysio_openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (sysio_fsync(fd) < 0) {
		sysio_close_keep_errno(fd);
		return -1;
	}
	return sysio_close(fd);
}

int sysio_write_all(int fd, const void *p, size_t len)
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

int sysio_writev_all(int fd, const struct iovec *parts, size_t nparts)
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

int sysio_mkdir_durable(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0) {
		char parent[PATH_MAX];
		const char *slash = strrchr(path, '/');
		if (slash && slash != path && (size_t)(slash - path) < sizeof parent) {
			memcpy(parent, path, (size_t)(slash - path));
			parent[slash - path] = '\0';
			if (sysio_fsync_dir(AT_FDCWD, parent) < 0)
				return -1;
		}
		return 0;
	}
	if (errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}
