/* maildir: the Maildir store on disk.
 *
 * Delivery follows the Maildir protocol with an fsync at every step that a
 * "250 OK" depends on: write tmp/<name>, fsync it, link it into new/ of
 * every recipient, fsync each new/ directory, then remove the tmp name.
 * Anything that fails undoes what was linked so far, so a message is
 * either visible in every maildrop or in none, and errno survives the
 * cleanup (ENOSPC/EDQUOT become "452" upstream).
 *
 * Runs on worker threads: every call blocks on the disk, keeps its state
 * on the stack or the heap (no static buffers; the name counter is
 * atomic) and retries on EINTR. Never touches a socket. */
#include "store/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store/maildir_name.h"

/* Messages are read and copied in chunks of this size. */
#define MAILDIR_IO_CHUNK (64 * 1024)
/* RFC 1939 7 (UIDL): 1 to 70 characters in the range 0x21 to 0x7E. */
#define MAILDIR_UIDL_MAX 70
/* Hex digits of SHA-256 used when a name is unfit as a UIDL. */
#define MAILDIR_UIDL_DIGEST 32

static _Atomic unsigned long long deliver_counter;

/* Formats a message into err, followed by ": <strerror(e)>" when e != 0,
 * and leaves errno == e. */
__attribute__((format(printf, 4, 5)))
static void set_err(char *err, size_t errlen, int e, const char *fmt, ...)
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

static int path_join(char *out, size_t outsz, const char *a, const char *b)
{
	int n = snprintf(out, outsz, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int open_retry(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd;
	do
		fd = openat(dirfd, path, flags, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

static int fsync_retry(int fd)
{
	int r;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

/* close() is not retried on EINTR: on Linux the descriptor is gone. An
 * error still matters (NFS reports write failures here). */
static int close_checked(int fd)
{
	if (close(fd) < 0 && errno != EINTR)
		return -1;
	return 0;
}

static void close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

static int fsync_dir_at(int dirfd, const char *path)
{
	int fd = open_retry(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (fsync_retry(fd) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	return close_checked(fd);
}

static int write_all(int fd, const uint8_t *p, size_t len)
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
static int writev_all(int fd, const struct iovec *parts, size_t nparts)
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
static uint64_t crlf_extra(const uint8_t *p, size_t len, bool *prev_cr)
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
static int count_fd(int fd, uint64_t *bytes, uint64_t *octets)
{
	uint8_t *chunk = malloc(MAILDIR_IO_CHUNK);
	if (!chunk)
		return -1;
	uint64_t b = 0, w = 0;
	bool prev_cr = false;
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
		w += (uint64_t)r + crlf_extra(chunk, (size_t)r, &prev_cr);
	}
	int e = errno;
	free(chunk);
	errno = e;
	*bytes = b;
	*octets = w;
	return rc;
}

static int mkdir_one(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0)
		return 0;
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

int maildir_ensure(const char *root, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len = strlen(root);
	if (len == 0 || len + sizeof "/tmp" > sizeof path) {
		set_err(err, errlen, len ? ENAMETOOLONG : EINVAL, "maildir: bad path");
		return -1;
	}
	memcpy(path, root, len + 1);
	/* Parents first, like mkdir -p. */
	for (size_t i = 1; i < len; i++) {
		if (path[i] != '/' || path[i - 1] == '/')
			continue;
		path[i] = '\0';
		if (mkdir_one(path, 0700) < 0) {
			set_err(err, errlen, errno, "maildir: mkdir %s", path);
			return -1;
		}
		path[i] = '/';
	}
	if (mkdir_one(path, 0700) < 0) {
		set_err(err, errlen, errno, "maildir: mkdir %s", path);
		return -1;
	}
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		if (path_join(path, sizeof path, root, subs[i]) < 0 ||
		    mkdir_one(path, 0700) < 0) {
			set_err(err, errlen, errno, "maildir: mkdir %s/%s", root, subs[i]);
			return -1;
		}
	}
	return 0;
}

int maildir_account_path(const char *data_dir, const char *account,
			 char *out, size_t outsz)
{
	const char *at = strchr(account, '@');
	if (!at || at == account || !at[1] || strchr(at + 1, '@') ||
	    strchr(account, '/') || account[0] == '.' || at[1] == '.') {
		errno = EINVAL;
		return -1;
	}
	int n = snprintf(out, outsz, "%s/mail/%s/%.*s", data_dir, at + 1,
			 (int)(at - account), account);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Copies the finished tmp file into another file system's maildir: the
 * copy goes through that maildir's tmp/ with the same fsync discipline,
 * then is linked into new/. */
static int copy_into(const char *tmppath, const char *maildir, int newfd,
		     const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (path_join(path, sizeof path, maildir, "tmp") < 0) {
		set_err(err, errlen, errno, "maildir: %s/tmp", maildir);
		return -1;
	}
	int tmpdir = open_retry(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (tmpdir < 0) {
		set_err(err, errlen, errno, "maildir: open %s", path);
		return -1;
	}
	int src = -1, dst = -1, rc = -1;
	bool created = false;
	uint8_t *chunk = NULL;
	src = open_retry(AT_FDCWD, tmppath, O_RDONLY | O_CLOEXEC, 0);
	if (src < 0) {
		set_err(err, errlen, errno, "maildir: open %s", tmppath);
		goto out;
	}
	dst = open_retry(tmpdir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dst < 0) {
		set_err(err, errlen, errno, "maildir: create %s/%s", path, name);
		goto out;
	}
	created = true;
	chunk = malloc(MAILDIR_IO_CHUNK);
	if (!chunk) {
		set_err(err, errlen, ENOMEM, "maildir: copy");
		goto out;
	}
	for (;;) {
		ssize_t r = read(src, chunk, MAILDIR_IO_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			set_err(err, errlen, errno, "maildir: read %s", tmppath);
			goto out;
		}
		if (r == 0)
			break;
		if (write_all(dst, chunk, (size_t)r) < 0) {
			set_err(err, errlen, errno, "maildir: write %s/%s", path, name);
			goto out;
		}
	}
	if (fsync_retry(dst) < 0) {
		set_err(err, errlen, errno, "maildir: fsync %s/%s", path, name);
		goto out;
	}
	int fd = dst;
	dst = -1;
	if (close_checked(fd) < 0) {
		set_err(err, errlen, errno, "maildir: close %s/%s", path, name);
		goto out;
	}
	if (linkat(tmpdir, name, newfd, name, 0) < 0) {
		set_err(err, errlen, errno, "maildir: link into %s/new", maildir);
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
		if (!t[i].linked || path_join(path, sizeof path, maildirs[i], "new") < 0)
			continue;
		int fd = open_retry(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		if (fd < 0)
			continue;
		unlinkat(fd, name, 0);
		fsync_retry(fd);
		close(fd);
	}
}

int maildir_deliver(const char *const *maildirs, size_t n,
		    const struct iovec *parts, size_t nparts,
		    char *err, size_t errlen)
{
	if (!maildirs || n == 0 || (nparts && !parts)) {
		set_err(err, errlen, EINVAL, "maildir: nothing to deliver");
		return -1;
	}

	uint64_t size = 0, wsize = 0;
	bool prev_cr = false;
	for (size_t i = 0; i < nparts; i++) {
		size += parts[i].iov_len;
		wsize += parts[i].iov_len +
			 crlf_extra(parts[i].iov_base, parts[i].iov_len, &prev_cr);
	}

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
			set_err(err, errlen, ENAMETOOLONG, "maildir: name");
			return -1;
		}
		int r = snprintf(tmppath, sizeof tmppath, "%s/tmp/%s", maildirs[0], name);
		if (r < 0 || (size_t)r >= sizeof tmppath) {
			set_err(err, errlen, ENAMETOOLONG, "maildir: %s/tmp", maildirs[0]);
			return -1;
		}
		fd = open_retry(AT_FDCWD, tmppath,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			set_err(err, errlen, errno, "maildir: create %s", tmppath);
			return -1;
		}
	}
	if (fd < 0) {
		set_err(err, errlen, errno, "maildir: create %s", tmppath);
		return -1;
	}
	if (writev_all(fd, parts, nparts) < 0) {
		set_err(err, errlen, errno, "maildir: write %s", tmppath);
		close_keep_errno(fd);
		goto fail_tmp;
	}
	if (fsync_retry(fd) < 0) {
		set_err(err, errlen, errno, "maildir: fsync %s", tmppath);
		close_keep_errno(fd);
		goto fail_tmp;
	}
	if (close_checked(fd) < 0) {
		set_err(err, errlen, errno, "maildir: close %s", tmppath);
		goto fail_tmp;
	}

	struct deliver_target *t = calloc(n, sizeof *t);
	if (!t) {
		set_err(err, errlen, ENOMEM, "maildir: deliver");
		goto fail_tmp;
	}
	for (size_t i = 0; i < n; i++) {
		char newpath[PATH_MAX];
		if (path_join(newpath, sizeof newpath, maildirs[i], "new") < 0) {
			set_err(err, errlen, errno, "maildir: %s/new", maildirs[i]);
			goto fail_linked;
		}
		int dfd = open_retry(AT_FDCWD, newpath,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		struct stat st;
		if (dfd < 0 || fstat(dfd, &st) < 0) {
			set_err(err, errlen, errno, "maildir: open %s", newpath);
			if (dfd >= 0)
				close_keep_errno(dfd);
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
		if (linkat(AT_FDCWD, tmppath, dfd, name, 0) == 0) {
			t[i].linked = true;
		} else if (errno == EXDEV) {
			if (copy_into(tmppath, maildirs[i], dfd, name, err, errlen) < 0) {
				close_keep_errno(dfd);
				goto fail_linked;
			}
			t[i].linked = true;
		} else {
			set_err(err, errlen, errno, "maildir: link into %s", newpath);
			close_keep_errno(dfd);
			goto fail_linked;
		}
		if (fsync_retry(dfd) < 0) {
			set_err(err, errlen, errno, "maildir: fsync %s", newpath);
			close_keep_errno(dfd);
			goto fail_linked;
		}
		if (close_checked(dfd) < 0) {
			set_err(err, errlen, errno, "maildir: close %s", newpath);
			goto fail_linked;
		}
	}
	free(t);

	/* Delivered. A leftover tmp name would only be collected by
	 * maildir_clean_tmp, so these failures are not reported. */
	unlink(tmppath);
	char tmpdir[PATH_MAX];
	if (path_join(tmpdir, sizeof tmpdir, maildirs[0], "tmp") == 0)
		fsync_dir_at(AT_FDCWD, tmpdir);
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

/* A SHA-256 prefix in hex, for names unfit as a UIDL. */
static void uidl_digest(const char *s, size_t len, char out[MAILDIR_UIDL_DIGEST + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen * 2 < MAILDIR_UIDL_DIGEST)
		memset(md, 0, sizeof md);
	for (size_t i = 0; i < MAILDIR_UIDL_DIGEST / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[MAILDIR_UIDL_DIGEST] = '\0';
}

static char *make_uidl(const char *name)
{
	size_t len = maildir_name_uniq_len(name);
	bool ok = len > 0 && len <= MAILDIR_UIDL_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = (unsigned char)name[i] >= 0x21 && (unsigned char)name[i] <= 0x7e;
	if (ok)
		return strndup(name, len);
	char d[MAILDIR_UIDL_DIGEST + 1];
	uidl_digest(name, len, d);
	return strdup(d);
}

struct msg_list {
	struct maildir_msg *v;
	size_t n, cap;
};

static int list_push(struct msg_list *l, const char *sub, const char *name,
		     uint64_t size, uint64_t octets)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct maildir_msg *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	struct maildir_msg *m = &l->v[l->n];
	size_t nl = strlen(name);
	m->path = malloc(4 + nl + 1);
	m->uidl = make_uidl(name);
	if (!m->path || !m->uidl) {
		free(m->path);
		free(m->uidl);
		errno = ENOMEM;
		return -1;
	}
	memcpy(m->path, sub, 3);
	m->path[3] = '/';
	memcpy(m->path + 4, name, nl + 1);
	m->size = size;
	m->octets = octets;
	l->n++;
	return 0;
}

/* Lists one of new/ or cur/. A missing directory is empty. */
static int scan_sub(int rootfd, const char *root, const char *sub,
		    struct msg_list *l, char *err, size_t errlen)
{
	int dfd = open_retry(rootfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		set_err(err, errlen, errno, "maildir: open %s/%s", root, sub);
		return -1;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		set_err(err, errlen, errno, "maildir: open %s/%s", root, sub);
		close_keep_errno(dfd);
		return -1;
	}
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				set_err(err, errlen, errno, "maildir: read %s/%s", root, sub);
				rc = -1;
			}
			break;
		}
		const char *name = de->d_name;
		if (name[0] == '.')
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		uint64_t s, w;
		bool has_s, has_w;
		maildir_name_sizes(name, &s, &has_s, &w, &has_w);
		if (de->d_type == DT_UNKNOWN || !has_s) {
			struct stat st;
			if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue; /* moved or deleted meanwhile */
				set_err(err, errlen, errno, "maildir: stat %s/%s/%s",
					root, sub, name);
				rc = -1;
				break;
			}
			if (!S_ISREG(st.st_mode))
				continue;
			if (!has_s)
				s = (uint64_t)st.st_size;
		}
		if (!has_w) {
			/* Written by another program: count the CRLF form. */
			int fd = open_retry(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
			if (fd < 0) {
				if (errno == ENOENT)
					continue;
				set_err(err, errlen, errno, "maildir: open %s/%s/%s",
					root, sub, name);
				rc = -1;
				break;
			}
			uint64_t bytes;
			int cr = count_fd(fd, &bytes, &w);
			close_keep_errno(fd);
			if (cr < 0) {
				set_err(err, errlen, errno, "maildir: read %s/%s/%s",
					root, sub, name);
				rc = -1;
				break;
			}
			if (!has_s)
				s = bytes;
		}
		if (list_push(l, sub, name, s, w) < 0) {
			set_err(err, errlen, errno, "maildir: scan");
			rc = -1;
			break;
		}
	}
	int e = errno;
	closedir(d);
	errno = e;
	return rc;
}

/* Compares names with digit runs taken as numbers, so "M99P" sorts
 * before "M100P" and the microseconds and counter of our names keep
 * deliveries within one second in order. */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		bool da = *a >= '0' && *a <= '9', db = *b >= '0' && *b <= '9';
		if (da && db) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
			if (la != lb)
				return la < lb ? -1 : 1;
			int c = memcmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : *b ? -1 : 0;
}

static int msg_cmp(const void *a, const void *b)
{
	const struct maildir_msg *x = a, *y = b;
	const char *nx = x->path + 4, *ny = y->path + 4;
	long long tx = maildir_name_time(nx), ty = maildir_name_time(ny);
	if (tx != ty)
		return tx < ty ? -1 : 1;
	int c = natural_cmp(nx, ny);
	if (c)
		return c;
	c = strcmp(nx, ny);
	return c ? c : strcmp(x->path, y->path);
}

static int uidl_cmp(const void *a, const void *b)
{
	const struct maildir_msg *const *x = a, *const *y = b;
	int c = strcmp((*x)->uidl, (*y)->uidl);
	if (c)
		return c;
	return *x < *y ? -1 : *x > *y;
}

/* RFC 1939 7: a UIDL names one message in the maildrop. The same unique
 * part twice (a copy left in new/ and cur/ by another program) gets a
 * digest of its full name instead. */
static int uidl_dedupe(struct maildir_msg *v, size_t n)
{
	if (n < 2)
		return 0;
	struct maildir_msg **p = malloc(n * sizeof *p);
	if (!p)
		return -1;
	for (size_t i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof *p, uidl_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(p[i - 1]->uidl, p[i]->uidl) != 0)
			continue;
		char d[MAILDIR_UIDL_DIGEST + 1];
		uidl_digest(p[i]->path, strlen(p[i]->path), d);
		char *u = strdup(d);
		if (!u) {
			free(p);
			return -1;
		}
		free(p[i]->uidl);
		p[i]->uidl = u;
	}
	free(p);
	return 0;
}

int maildir_scan(const char *root, struct maildir_msg **out, size_t *n,
		 char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	int rootfd = open_retry(AT_FDCWD, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (rootfd < 0) {
		set_err(err, errlen, errno, "maildir: open %s", root);
		return -1;
	}
	struct msg_list l = { 0 };
	int rc = scan_sub(rootfd, root, "new", &l, err, errlen);
	if (rc == 0)
		rc = scan_sub(rootfd, root, "cur", &l, err, errlen);
	close_keep_errno(rootfd);
	if (rc == 0 && l.n > 1) {
		qsort(l.v, l.n, sizeof *l.v, msg_cmp);
		if (uidl_dedupe(l.v, l.n) < 0) {
			set_err(err, errlen, ENOMEM, "maildir: scan");
			rc = -1;
		}
	}
	if (rc < 0) {
		int e = errno;
		maildir_list_free(&l.v, l.n);
		errno = e;
		return -1;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

void maildir_list_free(struct maildir_msg **msgs, size_t n)
{
	if (!msgs || !*msgs)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*msgs)[i].path);
		free((*msgs)[i].uidl);
	}
	free(*msgs);
	*msgs = NULL;
}

/* A listed path is "new/<name>" or "cur/<name>" with no further '/': a
 * corrupted list must not reach outside the maildir. */
static bool msg_path_ok(const char *path)
{
	return path && (strncmp(path, "new/", 4) == 0 || strncmp(path, "cur/", 4) == 0) &&
	       path[4] && path[4] != '.' && !strchr(path + 4, '/');
}

int maildir_open(const char *root, const struct maildir_msg *m)
{
	if (!m || !msg_path_ok(m->path)) {
		errno = EINVAL;
		return -1;
	}
	char path[PATH_MAX];
	if (path_join(path, sizeof path, root, m->path) < 0)
		return -1;
	return open_retry(AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
}

/* Another mail program may have moved a message from new/ to cur/ (adding
 * ":2,<flags>") since the scan: delete it under its new name. */
static int delete_moved(int rootfd, const char *const *uniq, size_t nuniq)
{
	int dfd = open_retry(rootfd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close_keep_errno(dfd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (name[0] == '.')
			continue;
		size_t ul = maildir_name_uniq_len(name);
		for (size_t i = 0; i < nuniq; i++) {
			if (strlen(uniq[i]) == ul && memcmp(uniq[i], name, ul) == 0) {
				if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
					rc = -1;
				break;
			}
		}
	}
	int e = errno;
	closedir(d);
	errno = e;
	return rc;
}

int maildir_delete(const char *root, const struct maildir_msg *msgs,
		   const size_t *idx, size_t n, char *err, size_t errlen)
{
	if (n == 0)
		return 0;
	int rootfd = open_retry(AT_FDCWD, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (rootfd < 0) {
		set_err(err, errlen, errno, "maildir: open %s", root);
		return -1;
	}
	int rc = 0, first_errno = 0;
	char **moved = NULL;
	size_t nmoved = 0;
	for (size_t i = 0; i < n; i++) {
		const struct maildir_msg *m = &msgs[idx[i]];
		if (!msg_path_ok(m->path)) {
			if (!first_errno) {
				first_errno = EINVAL;
				set_err(err, errlen, EINVAL, "maildir: bad path");
			}
			continue;
		}
		if (unlinkat(rootfd, m->path, 0) == 0)
			continue;
		if (errno != ENOENT) {
			if (!first_errno) {
				first_errno = errno;
				set_err(err, errlen, errno, "maildir: unlink %s/%s",
					root, m->path);
			}
			continue;
		}
		if (strncmp(m->path, "new/", 4) != 0)
			continue;
		if (!moved && !(moved = calloc(n, sizeof *moved))) {
			first_errno = first_errno ? first_errno : ENOMEM;
			continue;
		}
		const char *base = m->path + 4;
		moved[nmoved] = strndup(base, maildir_name_uniq_len(base));
		if (moved[nmoved])
			nmoved++;
	}
	if (nmoved && delete_moved(rootfd, (const char *const *)moved, nmoved) < 0 &&
	    !first_errno) {
		first_errno = errno;
		set_err(err, errlen, errno, "maildir: delete in %s/cur", root);
	}
	for (size_t i = 0; i < nmoved; i++)
		free(moved[i]);
	free(moved);
	static const char *const subs[] = { "new", "cur" };
	for (size_t i = 0; i < 2; i++) {
		if (fsync_dir_at(rootfd, subs[i]) < 0 && errno != ENOENT && !first_errno) {
			first_errno = errno;
			set_err(err, errlen, errno, "maildir: fsync %s/%s", root, subs[i]);
		}
	}
	close(rootfd);
	if (first_errno) {
		errno = first_errno;
		rc = -1;
	}
	return rc;
}

int maildir_lock(const char *root)
{
	char path[PATH_MAX];
	if (path_join(path, sizeof path, root, ".facteur.lock") < 0)
		return -1;
	int fd = open_retry(AT_FDCWD, path,
			    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	int r;
	do
		r = flock(fd, LOCK_EX | LOCK_NB);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

void maildir_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int maildir_clean_tmp(const char *root, long max_age)
{
	char path[PATH_MAX];
	if (path_join(path, sizeof path, root, "tmp") < 0)
		return -1;
	int dfd = open_retry(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close_keep_errno(dfd);
		return -1;
	}
	time_t now = time(NULL);
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			continue;
		if ((long long)now - (long long)st.st_mtime <= (long long)max_age)
			continue;
		if (unlinkat(dfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}
