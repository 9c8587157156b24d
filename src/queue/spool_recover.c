/* spool_recover: the passes over the whole spool (queue/spool.h): the
 * list of entries, quarantine of a corrupt one, and the clean-up at
 * start that resolves whatever a crash left half done (doc/queue.md
 * lists each case).
 *
 * Names found on disk are untrusted: only valid queue ids are acted on,
 * links are never followed, and a file another process holds locked
 * (an enqueue in progress, an entry being changed) is left alone.
 * Runs on worker threads and in "facteur queue"; readdir only on its own
 * DIR. Never touches a socket. */
#include "queue/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/sysio.h"
#include "queue/spool_io.h"

/* A quarantined entry's files: <stem>.env, <stem>.msg, <stem>.reason. */
#define STEM_MAX (QUEUE_ID_MAX + 8)
/* The same id quarantined again gets "<id>~1" and so on; '~' is not an
 * id byte, so the stems of two ids never meet. */
#define STEM_TRIES 100
/* The reason file holds one line of at most this many bytes. */
#define REASON_MAX 1024

static DIR *open_sub(int root, const char *sub)
{
	int fd = sysio_openat(root, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		sysio_close_keep_errno(fd);
	return d;
}

/* ---- list ---- */

struct id_list {
	char **v;
	size_t n, cap;
};

static int list_push(struct id_list *l, const char *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(id)))
		return -1;
	l->n++;
	return 0;
}

/* A missing directory lists as empty (a spool older than hold/). */
static int list_sub(int root, const char *sub, struct id_list *l)
{
	DIR *d = open_sub(root, sub);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			rc = errno ? -1 : 0;
			break;
		}
		if (!queue_id_valid(de->d_name) ||
		    (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		if (list_push(l, de->d_name) < 0) {
			errno = ENOMEM;
			rc = -1;
			break;
		}
	}
	int e = errno;
	closedir(d);
	errno = e;
	return rc;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int spool_list(const char *dir, char ***ids, size_t *n, char *err, size_t errlen)
{
	*ids = NULL;
	*n = 0;
	int root = spool_open_root(dir, err, errlen);
	if (root < 0)
		return -1;
	struct id_list l = { 0 };
	static const char *const subs[] = { SPOOL_ENV, SPOOL_HOLD };
	for (size_t i = 0; i < 2; i++) {
		if (list_sub(root, subs[i], &l) < 0) {
			sysio_err(err, errlen, errno, "spool: list %s/%s", dir, subs[i]);
			sysio_close_keep_errno(root);
			spool_ids_free(&l.v, l.n);
			return -1;
		}
	}
	close(root);
	if (l.n > 1)
		qsort(l.v, l.n, sizeof *l.v, cmp_id);
	/* An id in both env/ and hold/ is one entry. */
	size_t k = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (k && !strcmp(l.v[k - 1], l.v[i]))
			free(l.v[i]);
		else
			l.v[k++] = l.v[i];
	}
	*ids = l.v;
	*n = k;
	return 0;
}

void spool_ids_free(char ***ids, size_t n)
{
	if (!ids || !*ids)
		return;
	for (size_t i = 0; i < n; i++)
		free((*ids)[i]);
	free(*ids);
	*ids = NULL;
}

/* ---- quarantine ---- */

/* Writes corrupt/<stem>.reason under the first free stem: link() fails
 * on a taken name, so the stem is chosen atomically. */
static int quarantine_reason(int root, const char *id, const char *reason, char *stem,
			     char *err, size_t errlen)
{
	char line[REASON_MAX + 1];
	size_t n = 0;
	/* One line for a human; err strings can quote anything. */
	for (const char *p = reason ? reason : ""; *p && n < REASON_MAX; p++)
		line[n++] = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?';
	line[n++] = '\n';
	struct iovec iov = { line, n };
	char tmp[SPOOL_REL_MAX], path[SPOOL_REL_MAX];
	if (spool_tmp_write(root, id, "reason", &iov, 1, tmp) < 0) {
		sysio_err(err, errlen, errno, "spool: write reason for %s", id);
		return -1;
	}
	int rc = -1;
	for (int k = 0; k < STEM_TRIES && rc < 0; k++) {
		if (k)
			snprintf(stem, STEM_MAX, "%s~%d", id, k);
		else
			snprintf(stem, STEM_MAX, "%s", id);
		if (spool_join(path, sizeof path, SPOOL_CORRUPT, stem, ".reason") < 0) {
			sysio_err(err, errlen, errno, "spool: %s", id);
			break;
		}
		if (linkat(root, tmp, root, path, 0) == 0)
			rc = 0;
		else if (errno != EEXIST) {
			sysio_err(err, errlen, errno, "spool: link %s", path);
			break;
		} else if (k == STEM_TRIES - 1) {
			sysio_err(err, errlen, EEXIST, "spool: %s quarantined too often", id);
		}
	}
	int e = errno;
	unlinkat(root, tmp, 0);
	errno = e;
	return rc;
}

/* Order: reason, message (a second link), envelope (the one rename that
 * takes the entry out of the queue), then the old message name. A crash
 * before the rename leaves the entry whole (plus files in corrupt/);
 * after it, msg/<id> is a leftover whose copy in corrupt/ survives
 * spool_recover deleting it. */
static int quarantine_at(int root, const char *id, const char *reason,
			 char *err, size_t errlen)
{
	char msg[SPOOL_REL_MAX], from[SPOOL_REL_MAX], to[SPOOL_REL_MAX], stem[STEM_MAX];
	const char *cur = spool_locate(root, id);
	if (!cur && errno != ENOENT) {
		sysio_err(err, errlen, errno, "spool: look up %s", id);
		return -1;
	}
	if (spool_join(msg, sizeof msg, SPOOL_MSG, id, NULL) < 0) {
		sysio_err(err, errlen, errno, "spool: %s", id);
		return -1;
	}
	bool has_msg = spool_exists(root, msg);
	if (!cur && !has_msg) {
		sysio_err(err, errlen, ENOENT, "spool: no entry %s", id);
		return -1;
	}
	if (quarantine_reason(root, id, reason, stem, err, errlen) < 0)
		return -1;
	if (has_msg && (spool_join(to, sizeof to, SPOOL_CORRUPT, stem, ".msg") < 0 ||
			(linkat(root, msg, root, to, 0) < 0 && errno != ENOENT))) {
		sysio_err(err, errlen, errno, "spool: link %s to %s", msg, to);
		return -1;
	}
	if (sysio_fsync_dir(root, SPOOL_CORRUPT) < 0) {
		sysio_err(err, errlen, errno, "spool: fsync " SPOOL_CORRUPT "/");
		return -1;
	}
	if (cur && (spool_join(from, sizeof from, cur, id, NULL) < 0 ||
		    spool_join(to, sizeof to, SPOOL_CORRUPT, stem, ".env") < 0 ||
		    renameat(root, from, root, to) < 0 || sysio_fsync_dir(root, SPOOL_CORRUPT) < 0 ||
		    sysio_fsync_dir(root, cur) < 0)) {
		sysio_err(err, errlen, errno, "spool: move %s/%s to " SPOOL_CORRUPT "/", cur, id);
		return -1;
	}
	if (has_msg && ((unlinkat(root, msg, 0) < 0 && errno != ENOENT) ||
			sysio_fsync_dir(root, SPOOL_MSG) < 0)) {
		sysio_err(err, errlen, errno, "spool: unlink %s", msg);
		return -1;
	}
	return 0;
}

int spool_quarantine(const char *dir, const char *id, const char *reason,
		     char *err, size_t errlen)
{
	if (!queue_id_valid(id)) {
		sysio_err(err, errlen, EINVAL, "spool: bad id");
		return -1;
	}
	int root = spool_open_root(dir, err, errlen);
	if (root < 0)
		return -1;
	int rc = quarantine_at(root, id, reason, err, errlen);
	sysio_close_keep_errno(root);
	return rc;
}

/* ---- recover ---- */

struct recover {
	int root;
	long min_age;
	time_t now;
	int count;      /* files removed or entries quarantined */
	int first_errno;
	char *err;
	size_t errlen;
};

/* Keeps the first failure and goes on: one bad file must not stop the
 * clean-up of the others. */
static void recover_fail(struct recover *r, int e, const char *what, const char *name)
{
	if (r->first_errno)
		return;
	r->first_errno = e ? e : EIO;
	sysio_err(r->err, r->errlen, r->first_errno, "spool: recover: %s%s", what, name);
}

/* tmp/ holds nothing worth keeping, except files that a live process is
 * writing: spool_tmp_create flocks them. */
static void recover_tmp(struct recover *r)
{
	DIR *d = open_sub(r->root, SPOOL_TMP);
	if (!d) {
		if (errno != ENOENT)
			recover_fail(r, errno, "open ", SPOOL_TMP "/");
		return;
	}
	int dfd = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		struct stat st;
		if (!strcmp(name, ".") || !strcmp(name, "..") ||
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
			continue;
		int fd = -1;
		if (S_ISREG(st.st_mode)) {
			fd = sysio_openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
			if (fd < 0)
				continue;
			if (spool_flock(fd, false) < 0) {
				close(fd);
				continue;
			}
		}
		if (unlinkat(dfd, name, 0) == 0)
			r->count++;
		else if (errno != ENOENT)
			recover_fail(r, errno, "unlink " SPOOL_TMP "/", name);
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
}

/* A msg/ file without an envelope is the leftover of an interrupted
 * enqueue, removal or quarantine, unless an enqueue is still going on:
 * that one holds the file's lock, and min_age covers a process on a
 * system without working flock (NFS). */
static void recover_msg_one(struct recover *r, const char *id)
{
	char path[SPOOL_REL_MAX];
	struct stat st;
	if (spool_locate(r->root, id) || errno != ENOENT ||
	    spool_join(path, sizeof path, SPOOL_MSG, id, NULL) < 0 ||
	    fstatat(r->root, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    (long long)r->now - (long long)st.st_mtime < (long long)r->min_age)
		return;
	int fd = sysio_openat(r->root, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0)
		return;
	/* Under the lock the answer holds: no envelope can appear. */
	if (spool_flock(fd, false) == 0 && !spool_locate(r->root, id) && errno == ENOENT &&
	    spool_same_file(r->root, path, fd)) {
		if (unlinkat(r->root, path, 0) == 0)
			r->count++;
		else if (errno != ENOENT)
			recover_fail(r, errno, "unlink ", path);
	}
	close(fd);
}

static void recover_msgs(struct recover *r)
{
	DIR *d = open_sub(r->root, SPOOL_MSG);
	if (!d) {
		if (errno != ENOENT)
			recover_fail(r, errno, "open ", SPOOL_MSG "/");
		return;
	}
	int before = r->count;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (queue_id_valid(de->d_name))
			recover_msg_one(r, de->d_name);
	closedir(d);
	if (r->count != before && sysio_fsync_dir(r->root, SPOOL_MSG) < 0)
		recover_fail(r, errno, "fsync ", SPOOL_MSG "/");
}

/* No operation ever leaves an envelope without its message, so one is
 * damage (a disk error, a hand-deleted file): quarantined, never sent. */
static void recover_envs(struct recover *r, const char *sub)
{
	DIR *d = open_sub(r->root, sub);
	if (!d) {
		if (errno != ENOENT)
			recover_fail(r, errno, "open ", sub);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char path[SPOOL_REL_MAX], qerr[256];
		if (!queue_id_valid(de->d_name) ||
		    spool_join(path, sizeof path, SPOOL_MSG, de->d_name, NULL) < 0 ||
		    spool_exists(r->root, path) || errno != ENOENT)
			continue;
		if (quarantine_at(r->root, de->d_name, "envelope without message", qerr,
				  sizeof qerr) == 0)
			r->count++;
		else if (errno != ENOENT) /* removed meanwhile: nothing to do */
			recover_fail(r, errno, "quarantine ", de->d_name);
	}
	closedir(d);
}

int spool_recover(const char *dir, long min_age, char *err, size_t errlen)
{
	struct recover r = {
		.root = spool_open_root(dir, err, errlen),
		.min_age = min_age > 0 ? min_age : 0,
		.now = time(NULL),
		.err = err,
		.errlen = errlen,
	};
	if (r.root < 0)
		return -1;
	recover_tmp(&r);
	recover_msgs(&r);
	recover_envs(&r, SPOOL_ENV);
	recover_envs(&r, SPOOL_HOLD);
	close(r.root);
	if (r.first_errno) {
		errno = r.first_errno;
		return -1;
	}
	return r.count;
}
