/* maildir_io: path joining and byte counting for the Maildir store (the
 * EINTR-safe system calls are lib/sysio). Blocking; runs on worker
 * threads; no global state. */
#include "store/maildir_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int maildir_io_join(char *out, size_t outsz, const char *a, const char *b)
{
	int n = snprintf(out, outsz, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
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
