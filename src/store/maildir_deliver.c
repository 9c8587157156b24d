/* maildir_deliver: writing one message into one or more Maildirs.
 *
 * Follows the Maildir protocol with an fsync at every step that a
 * "250 OK" depends on: write tmp/<name>, fsync it, rename it into new/
 * (one recipient) or link it into new/ of every recipient, fsync each
 * new/ directory, then remove the tmp name.
 * Anything that fails undoes what was linked so far, so a message is
 * either visible in every maildrop or in none, and errno survives the
 * cleanup (ENOSPC/EDQUOT become "452" upstream).
 *
 * Runs on worker threads: state lives on the stack or the heap, the name
 * counter is atomic. Never touches a socket. */
#include "store/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/sysio.h"
#include "store/maildir_io.h"
#include "store/maildir_name.h"

static _Atomic unsigned long long deliver_counter;

/* Copies the finished tmp file into another file system's maildir: the
 * copy goes through that maildir's tmp/ with the same fsync discipline,
 * then is linked into new/. */
static int copy_into(const char *tmppath, const char *maildir, int newfd,
		     const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (maildir_io_join(path, sizeof path, maildir, "tmp") < 0) {
		sysio_err(err, errlen, errno, "maildir: %s/tmp", maildir);
		return -1;
	}
	int tmpdir = sysio_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (tmpdir < 0) {
		sysio_err(err, errlen, errno, "maildir: open %s", path);
		return -1;
	}
	int src = -1, dst = -1, rc = -1;
	bool created = false;
	uint8_t *chunk = NULL;
	src = sysio_openat(AT_FDCWD, tmppath, O_RDONLY | O_CLOEXEC, 0);
	if (src < 0) {
		sysio_err(err, errlen, errno, "maildir: open %s", tmppath);
		goto out;
	}
	dst = sysio_openat(tmpdir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dst < 0) {
		sysio_err(err, errlen, errno, "maildir: create %s/%s", path, name);
		goto out;
	}
	created = true;
	chunk = malloc(MAILDIR_IO_CHUNK);
	if (!chunk) {
		sysio_err(err, errlen, ENOMEM, "maildir: copy");
		goto out;
	}
	for (;;) {
		ssize_t r = read(src, chunk, MAILDIR_IO_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sysio_err(err, errlen, errno, "maildir: read %s", tmppath);
			goto out;
		}
		if (r == 0)
			break;
		if (sysio_write_all(dst, chunk, (size_t)r) < 0) {
			sysio_err(err, errlen, errno, "maildir: write %s/%s", path, name);
			goto out;
		}
	}
	if (sysio_fsync(dst) < 0) {
		sysio_err(err, errlen, errno, "maildir: fsync %s/%s", path, name);
		goto out;
	}
	int fd = dst;
	dst = -1;
	if (sysio_close(fd) < 0) {
		sysio_err(err, errlen, errno, "maildir: close %s/%s", path, name);
		goto out;
	}
	if (linkat(tmpdir, name, newfd, name, 0) < 0) {
		sysio_err(err, errlen, errno, "maildir: link into %s/new", maildir);
		goto out;
	}
	rc = 0;
out:;
	int e = errno;
	free(chunk);
	if (dst >= 0)
		close(dst);
	if (src >= 0)
		close(src);
	if (created)
		unlinkat(tmpdir, name, 0);
	close(tmpdir);
	errno = e;
	return rc;
}

struct deliver_target {
	dev_t dev;
	ino_t ino;
	bool linked;
};

static void unlink_delivered(const char *const *maildirs, size_t n,
			     const struct deliver_target *t, const char *name)
{
	char path[PATH_MAX];
	for (size_t i = 0; i < n; i++) {
		if (!t[i].linked || maildir_io_join(path, sizeof path, maildirs[i], "new") < 0)
			continue;
		int fd = sysio_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		if (fd < 0)
			continue;
		unlinkat(fd, name, 0);
		sysio_fsync(fd);
		close(fd);
	}
}

int maildir_deliver(const char *const *maildirs, size_t n,
		    const struct iovec *parts, size_t nparts,
		    char *err, size_t errlen)
{
	if (!maildirs || n == 0 || (nparts && !parts)) {
		sysio_err(err, errlen, EINVAL, "maildir: nothing to deliver");
		return -1;
	}

	uint64_t size = 0, wsize = 0;
	bool prev_cr = false;
	uint8_t last = '\n';
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].iov_len == 0)
			continue;
		size += parts[i].iov_len;
		wsize += parts[i].iov_len +
			 maildir_io_crlf_extra(parts[i].iov_base, parts[i].iov_len, &prev_cr);
		last = ((const uint8_t *)parts[i].iov_base)[parts[i].iov_len - 1];
	}
	/* W= is what POP3 sends (LIST must match RETR, RFC 1939 11), so an
	 * unterminated last line counts the CRLF RETR will add. */
	wsize += maildir_io_unterminated_extra(size, last);

	char host[256];
	if (gethostname(host, sizeof host) < 0)
		host[0] = '\0';
	host[sizeof host - 1] = '\0';

	char name[NAME_MAX + 1];
	char tmppath[PATH_MAX];
	int fd = -1;
	/* The name is unique by construction (time, pid, per-process
	 * counter); a leftover with the same name from a crashed process
	 * with a recycled pid is still possible, so try a few counters. */
	for (int attempt = 0; attempt < 4 && fd < 0; attempt++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		unsigned long long q = atomic_fetch_add(&deliver_counter, 1);
		if (!maildir_name_make(name, sizeof name, (long long)ts.tv_sec,
				       ts.tv_nsec / 1000, (long)getpid(), q, host,
				       size, wsize) &&
		    !maildir_name_make(name, sizeof name, (long long)ts.tv_sec,
				       ts.tv_nsec / 1000, (long)getpid(), q,
				       "localhost", size, wsize)) {
			sysio_err(err, errlen, ENAMETOOLONG, "maildir: name");
			return -1;
		}
		int r = snprintf(tmppath, sizeof tmppath, "%s/tmp/%s", maildirs[0], name);
		if (r < 0 || (size_t)r >= sizeof tmppath) {
			sysio_err(err, errlen, ENAMETOOLONG, "maildir: %s/tmp", maildirs[0]);
			return -1;
		}
		fd = sysio_openat(AT_FDCWD, tmppath,
				  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			sysio_err(err, errlen, errno, "maildir: create %s", tmppath);
			return -1;
		}
	}
	if (fd < 0) {
		sysio_err(err, errlen, errno, "maildir: create %s", tmppath);
		return -1;
	}
	if (sysio_writev_all(fd, parts, nparts) < 0) {
		sysio_err(err, errlen, errno, "maildir: write %s", tmppath);
		sysio_close_keep_errno(fd);
		goto fail_tmp;
	}
	if (sysio_fsync(fd) < 0) {
		sysio_err(err, errlen, errno, "maildir: fsync %s", tmppath);
		sysio_close_keep_errno(fd);
		goto fail_tmp;
	}
	if (sysio_close(fd) < 0) {
		sysio_err(err, errlen, errno, "maildir: close %s", tmppath);
		goto fail_tmp;
	}

	bool renamed = false;
	struct deliver_target *t = calloc(n, sizeof *t);
	if (!t) {
		sysio_err(err, errlen, ENOMEM, "maildir: deliver");
		goto fail_tmp;
	}
	for (size_t i = 0; i < n; i++) {
		char newpath[PATH_MAX];
		if (maildir_io_join(newpath, sizeof newpath, maildirs[i], "new") < 0) {
			sysio_err(err, errlen, errno, "maildir: %s/new", maildirs[i]);
			goto fail_linked;
		}
		int dfd = sysio_openat(AT_FDCWD, newpath,
				       O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		struct stat st;
		if (dfd < 0 || fstat(dfd, &st) < 0) {
			sysio_err(err, errlen, errno, "maildir: open %s", newpath);
			if (dfd >= 0)
				sysio_close_keep_errno(dfd);
			goto fail_linked;
		}
		t[i].dev = st.st_dev;
		t[i].ino = st.st_ino;
		/* The same maildrop named twice (two aliases, a trailing
		 * slash): one copy is enough. */
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = t[j].dev == st.st_dev && t[j].ino == st.st_ino;
		if (dup) {
			close(dfd);
			continue;
		}
		/* One recipient (the common case): rename, as the Maildir
		 * protocol has it; then there is no tmp name left to remove.
		 * Several: a link each, and the tmp name goes at the end. */
		int moved = n == 1 ? renameat(AT_FDCWD, tmppath, dfd, name)
				   : linkat(AT_FDCWD, tmppath, dfd, name, 0);
		renamed = n == 1 && moved == 0;
		if (moved == 0) {
			t[i].linked = true;
		} else if (errno == EXDEV) {
			if (copy_into(tmppath, maildirs[i], dfd, name, err, errlen) < 0) {
				sysio_close_keep_errno(dfd);
				goto fail_linked;
			}
			t[i].linked = true;
		} else {
			sysio_err(err, errlen, errno, "maildir: link into %s", newpath);
			sysio_close_keep_errno(dfd);
			goto fail_linked;
		}
		if (sysio_fsync(dfd) < 0) {
			sysio_err(err, errlen, errno, "maildir: fsync %s", newpath);
			sysio_close_keep_errno(dfd);
			goto fail_linked;
		}
		if (sysio_close(dfd) < 0) {
			sysio_err(err, errlen, errno, "maildir: close %s", newpath);
			goto fail_linked;
		}
	}
	free(t);

	/* Delivered: every new/ entry is on disk. The tmp name (several
	 * recipients) is only an extra link: if a crash undid its removal,
	 * maildir_clean_tmp collects it at the next start, so neither a
	 * failure here nor an fsync of tmp/ matters to durability. */
	if (!renamed)
		unlink(tmppath);
	return 0;

fail_linked:;
	int e = errno;
	unlink_delivered(maildirs, n, t, name);
	free(t);
	errno = e;
fail_tmp:
	e = errno;
	unlink(tmppath);
	errno = e;
	return -1;
}
