/* maildir: the Maildir store on disk: creating, listing, opening,
 * deleting, locking and cleaning (delivery is in maildir_deliver.c).
 *
 * Runs on worker threads: every call blocks on the disk, keeps its state
 * on the stack or the heap (no static buffers; readdir only on its own
 * DIR) and retries on EINTR. Never touches a socket. Names found on disk
 * may come from other mail programs and are treated as untrusted. */
#include "store/maildir.h"

#include "lib/buf.h"
#include "lib/sysio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store/maildir_io.h"
#include "store/maildir_name.h"

/* RFC 1939 7 (UIDL): 1 to 70 characters in the range 0x21 to 0x7E. */
#define MAILDIR_UIDL_MAX 70
/* Hex digits of SHA-256 used when a name is unfit as a UIDL. */
#define MAILDIR_UIDL_DIGEST 32

int maildir_ensure(const char *root, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len = strlen(root);
	if (len == 0 || len + sizeof "/tmp" > sizeof path) {
		sysio_err(err, errlen, len ? ENAMETOOLONG : EINVAL, "maildir: bad path");
		return -1;
	}
	memcpy(path, root, len + 1);
	/* Parents first, like mkdir -p. */
	for (size_t i = 1; i < len; i++) {
		if (path[i] != '/' || path[i - 1] == '/')
			continue;
		path[i] = '\0';
		if (sysio_mkdir_durable(path, 0700) < 0) {
			sysio_err(err, errlen, errno, "maildir: mkdir %s", path);
			return -1;
		}
		path[i] = '/';
	}
	if (sysio_mkdir_durable(path, 0700) < 0) {
		sysio_err(err, errlen, errno, "maildir: mkdir %s", path);
		return -1;
	}
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		if (maildir_io_join(path, sizeof path, root, subs[i]) < 0 ||
		    sysio_mkdir_durable(path, 0700) < 0) {
			sysio_err(err, errlen, errno, "maildir: mkdir %s/%s", root, subs[i]);
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
		return mem_strdup(name, len);
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
	int dfd = sysio_openat(rootfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		sysio_err(err, errlen, errno, "maildir: open %s/%s", root, sub);
		return -1;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		sysio_err(err, errlen, errno, "maildir: open %s/%s", root, sub);
		sysio_close_keep_errno(dfd);
		return -1;
	}
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				sysio_err(err, errlen, errno, "maildir: read %s/%s", root, sub);
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
				sysio_err(err, errlen, errno, "maildir: stat %s/%s/%s",
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
			int fd = sysio_openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
			if (fd < 0) {
				if (errno == ENOENT)
					continue;
				sysio_err(err, errlen, errno, "maildir: open %s/%s/%s",
					  root, sub, name);
				rc = -1;
				break;
			}
			uint64_t bytes;
			int cr = maildir_io_count(fd, &bytes, &w);
			sysio_close_keep_errno(fd);
			if (cr < 0) {
				sysio_err(err, errlen, errno, "maildir: read %s/%s/%s",
					  root, sub, name);
				rc = -1;
				break;
			}
			if (!has_s)
				s = bytes;
		}
		if (list_push(l, sub, name, s, w) < 0) {
			sysio_err(err, errlen, errno, "maildir: scan");
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
	struct maildir_msg **p = malloc(n * sizeof(struct maildir_msg *));
	if (!p)
		return -1;
	for (size_t i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof(struct maildir_msg *), uidl_cmp);
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
	int rootfd = sysio_openat(AT_FDCWD, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (rootfd < 0) {
		sysio_err(err, errlen, errno, "maildir: open %s", root);
		return -1;
	}
	struct msg_list l = { 0 };
	int rc = scan_sub(rootfd, root, "new", &l, err, errlen);
	if (rc == 0)
		rc = scan_sub(rootfd, root, "cur", &l, err, errlen);
	sysio_close_keep_errno(rootfd);
	if (rc == 0 && l.n > 1) {
		qsort(l.v, l.n, sizeof *l.v, msg_cmp);
		if (uidl_dedupe(l.v, l.n) < 0) {
			sysio_err(err, errlen, ENOMEM, "maildir: scan");
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
	if (maildir_io_join(path, sizeof path, root, m->path) < 0)
		return -1;
	return sysio_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
}

/* Another mail program may have moved a message from new/ to cur/ (adding
 * ":2,<flags>") since the scan: delete it under its new name. */
static int delete_moved(int rootfd, const char *const *uniq, size_t nuniq)
{
	int dfd = sysio_openat(rootfd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		sysio_close_keep_errno(dfd);
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
	int rootfd = sysio_openat(AT_FDCWD, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (rootfd < 0) {
		sysio_err(err, errlen, errno, "maildir: open %s", root);
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
				sysio_err(err, errlen, EINVAL, "maildir: bad path");
			}
			continue;
		}
		if (unlinkat(rootfd, m->path, 0) == 0)
			continue;
		if (errno != ENOENT) {
			if (!first_errno) {
				first_errno = errno;
				sysio_err(err, errlen, errno, "maildir: unlink %s/%s",
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
		moved[nmoved] = mem_strdup(base, maildir_name_uniq_len(base));
		if (moved[nmoved])
			nmoved++;
	}
	if (nmoved && delete_moved(rootfd, (const char *const *)moved, nmoved) < 0 &&
	    !first_errno) {
		first_errno = errno;
		sysio_err(err, errlen, errno, "maildir: delete in %s/cur", root);
	}
	for (size_t i = 0; i < nmoved; i++)
		free(moved[i]);
	free(moved);
	static const char *const subs[] = { "new", "cur" };
	for (size_t i = 0; i < 2; i++) {
		if (sysio_fsync_dir(rootfd, subs[i]) < 0 && errno != ENOENT && !first_errno) {
			first_errno = errno;
			sysio_err(err, errlen, errno, "maildir: fsync %s/%s", root, subs[i]);
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
	if (maildir_io_join(path, sizeof path, root, ".facteur.lock") < 0)
		return -1;
	int fd = sysio_openat(AT_FDCWD, path,
			      O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	int r;
	do
		r = flock(fd, LOCK_EX | LOCK_NB);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		sysio_close_keep_errno(fd);
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
	if (maildir_io_join(path, sizeof path, root, "tmp") < 0)
		return -1;
	int dfd = sysio_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		sysio_close_keep_errno(dfd);
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
