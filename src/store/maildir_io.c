/* maildir_io: EINTR-safe wrappers and byte counting for the Maildir
 * store. Blocking; runs on worker threads; no global state. */
#include "store/maildir_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void maildir_io_err(char *err, size_t errlen, int e, const char *fmt, ...)
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

int maildir_io_join(char *out, size_t outsz, const char *a, const char *b)
{
	int n = snprintf(out, outsz, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int maildir_io_open(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd;
	do
		fd = openat(dirfd, path, flags, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

int maildir_io_fsync(int fd)
{
	int r;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

/* close() is not retried on EINTR: on Linux the descriptor is gone. An
 * error still matters (NFS reports write failures here). */
int maildir_io_close(int fd)
{
	if (close(fd) < 0 && errno != EINTR)
		return -1;
	return 0;
}

void maildir_io_close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

int maildir_io_fsync_dir(int dirfd, const char *path)
{
	int fd = maildir_io_open(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (maildir_io_fsync(fd) < 0) {
		maildir_io_close_keep_errno(fd);
		return -1;
	}
	return maildir_io_close(fd);
}

int maildir_io_write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* writev() every part, resuming after short writes and EINTR. */
int maildir_io_writev_all(int fd, const struct iovec *parts, size_t nparts)
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
		size_t cnt = nparts - i;
		if (cnt > IOV_MAX)
			cnt = IOV_MAX;
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

/* The POP3 size: every LF not preceded by CR grows to CRLF (RFC 1939 11:
 * sizes are counted with CRLF line ends). prev_cr carries across chunks. */
uint64_t maildir_io_crlf_extra(const uint8_t *p, size_t len, bool *prev_cr)
{
	uint64_t extra = 0;
	bool cr = *prev_cr;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && !cr)
			extra++;
		cr = p[i] == '\r';
	}
	*prev_cr = cr;
	return extra;
}

/* Reads fd to the end; returns bytes and CRLF-form bytes. */
uint64_t maildir_io_unterminated_extra(uint64_t len, uint8_t last)
{
	return len > 0 && last != '\n' ? 2 : 0;
}

int maildir_io_count(int fd, uint64_t *bytes, uint64_t *octets)
{
	uint8_t *chunk = malloc(MAILDIR_IO_CHUNK);
	if (!chunk)
		return -1;
	uint64_t b = 0, w = 0;
	bool prev_cr = false;
	uint8_t last = '\n';
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, chunk, MAILDIR_IO_CHUNK);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		b += (uint64_t)r;
		w += (uint64_t)r + maildir_io_crlf_extra(chunk, (size_t)r, &prev_cr);
		last = chunk[r - 1];
	}
	w += maildir_io_unterminated_extra(b, last);
	int e = errno;
	free(chunk);
	errno = e;
	*bytes = b;
	*octets = w;
	return rc;
}
