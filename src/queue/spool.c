/* spool: the outbound queue on disk (queue/spool.h): reading, replacing
 * and removing one entry, its lock, ids and the flush request.
 * Storing a new entry is in spool_enqueue.c, the passes over the whole
 * spool (list, quarantine, recover) in spool_recover.c; doc/queue.md
 * walks through every state a crash can leave behind.
 *
 * Every change follows the Maildir rule: content is written to tmp/ and
 * fsynced, gets its final name by link() or rename(), and the directory
 * is fsynced before the call returns 0. An entry exists when env/<id>
 * (or hold/<id>) does; msg/<id> is durable before that name appears and
 * outlives it on removal, so no crash leaves an envelope without its
 * message.
 *
 * Runs on worker threads and in "facteur queue": blocking, state on the
 * stack or the heap, EINTR retried. Never touches a socket. */
#include "queue/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/sysio.h"
#include "queue/spool_io.h"

#define SPOOL_FLUSH "flush"

static _Atomic unsigned id_counter;

/* ---- directories and ids ---- */

int spool_ensure(const char *dir, char *err, size_t errlen)
{
	static const char *const subs[] = { SPOOL_TMP, SPOOL_MSG, SPOOL_ENV, SPOOL_HOLD,
					    SPOOL_CORRUPT };
	char path[PATH_MAX];
	size_t len = dir ? strlen(dir) : 0;
	if (len == 0 || len + sizeof "/" SPOOL_CORRUPT > sizeof path) {
		sysio_err(err, errlen, len ? ENAMETOOLONG : EINVAL, "spool: bad directory");
		return -1;
	}
	memcpy(path, dir, len + 1);
	/* Parents first, like mkdir -p. */
	for (size_t i = 1; i < len; i++) {
		if (path[i] != '/' || path[i - 1] == '/')
			continue;
		path[i] = '\0';
		if (sysio_mkdir_durable(path, 0700) < 0) {
			sysio_err(err, errlen, errno, "spool: mkdir %s", path);
			return -1;
		}
		path[i] = '/';
	}
	if (sysio_mkdir_durable(path, 0700) < 0) {
		sysio_err(err, errlen, errno, "spool: mkdir %s", path);
		return -1;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
		if (sysio_mkdir_durable(path, 0700) < 0) {
			sysio_err(err, errlen, errno, "spool: mkdir %s", path);
			return -1;
		}
	}
	return 0;
}

/* Fixed-width hex fields, so ids sort by second of arrival and no two
 * field values run together into the same string. pid and the atomic
 * counter separate processes and threads; the random part covers a pid
 * that comes back within the same second. */
void spool_new_id(char *id, size_t idsz)
{
	if (!id || idsz == 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned c = atomic_fetch_add(&id_counter, 1);
	uint32_t rnd;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)ts.tv_nsec ^ (c * 2654435761u);
	int n = snprintf(id, idsz, "%08llx.%08lx%08x%08x", (unsigned long long)ts.tv_sec,
			 (unsigned long)getpid(), c, (unsigned)rnd);
	if (n < 0 || (size_t)n >= idsz)
		id[0] = '\0';
}

/* ---- load, update, remove ---- */

int spool_load(const char *dir, const char *id, struct queue_env *env,
	       char *err, size_t errlen)
{
	memset(env, 0, sizeof *env);
	if (!queue_id_valid(id)) {
		sysio_err(err, errlen, EINVAL, "spool: bad id");
		return -1;
	}
	int root = spool_open_root(dir, err, errlen);
	if (root < 0)
		return -1;
	static const char *const subs[] = { SPOOL_HOLD, SPOOL_ENV };
	char path[SPOOL_REL_MAX];
	int fd = -1;
	size_t i = 0;
	for (; i < 2 && fd < 0; i++) {
		if (spool_join(path, sizeof path, subs[i], id, NULL) < 0)
			break;
		fd = sysio_openat(root, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
		if (fd < 0 && errno != ENOENT)
			break;
	}
	int e = errno;
	close(root);
	if (fd < 0) {
		/* ELOOP: a symbolic link, which the spool never makes. */
		if (e == ELOOP)
			e = EBADMSG;
		sysio_err(err, errlen, e, "spool: %s %s", e == ENOENT ? "no entry" : "open", id);
		return -1;
	}
	const char *sub = subs[i - 1];
	char *data;
	size_t len;
	if (spool_read_all(fd, SPOOL_ENV_FILE_MAX, &data, &len) < 0) {
		e = errno == EFBIG || errno == EINVAL ? EBADMSG : errno;
		sysio_err(err, errlen, e, "spool: read %s/%s", sub, id);
		close(fd);
		return -1;
	}
	close(fd);
	char perr[256];
	int rc = queue_env_parse(data, len, env, perr, sizeof perr);
	e = errno;
	free(data);
	if (rc < 0) {
		sysio_err(err, errlen, e == ENOMEM ? ENOMEM : EBADMSG, "spool: %s/%s: %s", sub, id,
			  perr);
		return -1;
	}
	if (strcmp(env->id, id) != 0) {
		queue_env_free(env);
		sysio_err(err, errlen, EBADMSG, "spool: %s/%s: holds another id", sub, id);
		return -1;
	}
	/* The directory, not the field, says whether the entry is held:
	 * moving it is the one atomic step of a hold or release. */
	env->held = sub[0] == SPOOL_HOLD[0];
	return 0;
}

/* Puts the new envelope (durable in tmp/) where the entry is, then moves
 * it when held changed. The entry must still be there: the look-up and
 * the rename happen under the caller's spool_lock, so an entry deleted
 * by "facteur queue" is never brought back. */
static int update_move(int root, const struct queue_env *env, const char *tmp,
		       char *err, size_t errlen)
{
	const char *cur = spool_locate(root, env->id);
	if (!cur) {
		sysio_err(err, errlen, errno, "spool: %s %s",
			  errno == ENOENT ? "no entry" : "look up", env->id);
		return -1;
	}
	const char *want = env->held ? SPOOL_HOLD : SPOOL_ENV;
	char from[SPOOL_REL_MAX], to[SPOOL_REL_MAX];
	if (spool_join(from, sizeof from, cur, env->id, NULL) < 0 ||
	    spool_join(to, sizeof to, want, env->id, NULL) < 0) {
		sysio_err(err, errlen, errno, "spool: %s", env->id);
		return -1;
	}
	if (renameat(root, tmp, root, from) < 0 || sysio_fsync_dir(root, cur) < 0) {
		sysio_err(err, errlen, errno, "spool: replace %s", from);
		return -1;
	}
	if (!strcmp(cur, want))
		return 0;
	/* One rename: the entry is never in both directories, nor in
	 * neither. The target first, so the new name is durable before
	 * the old one's removal is. */
	if (renameat(root, from, root, to) < 0 || sysio_fsync_dir(root, want) < 0 ||
	    sysio_fsync_dir(root, cur) < 0) {
		sysio_err(err, errlen, errno, "spool: move %s to %s", from, to);
		return -1;
	}
	return 0;
}

int spool_update(const char *dir, const struct queue_env *env, char *err, size_t errlen)
{
	if (!env || !queue_id_valid(env->id)) {
		sysio_err(err, errlen, EINVAL, "spool: update: bad id");
		return -1;
	}
	struct buf text;
	buf_init(&text, SPOOL_ENV_FILE_MAX);
	if (!queue_env_format(env, &text)) {
		buf_release(&text);
		sysio_err(err, errlen, EINVAL, "spool: %s: envelope invalid or too large", env->id);
		return -1;
	}
	int root = spool_open_root(dir, err, errlen);
	if (root < 0) {
		buf_release(&text);
		return -1;
	}
	char tmp[SPOOL_REL_MAX];
	struct iovec iov = { text.data, text.len };
	int rc = -1;
	if (spool_tmp_write(root, env->id, "env", &iov, 1, tmp) < 0)
		sysio_err(err, errlen, errno, "spool: write envelope of %s", env->id);
	else if ((rc = update_move(root, env, tmp, err, errlen)) < 0)
		unlinkat(root, tmp, 0);
	int e = errno;
	close(root);
	buf_release(&text);
	errno = e;
	return rc;
}

int spool_remove(const char *dir, const char *id, char *err, size_t errlen)
{
	if (!queue_id_valid(id)) {
		sysio_err(err, errlen, EINVAL, "spool: bad id");
		return -1;
	}
	int root = spool_open_root(dir, err, errlen);
	if (root < 0)
		return -1;
	static const char *const subs[] = { SPOOL_HOLD, SPOOL_ENV };
	char path[SPOOL_REL_MAX];
	bool found = false;
	int rc = -1;
	for (size_t i = 0; i < 2; i++) {
		if (spool_join(path, sizeof path, subs[i], id, NULL) < 0) {
			sysio_err(err, errlen, errno, "spool: %s", id);
			goto out;
		}
		if (unlinkat(root, path, 0) < 0) {
			if (errno == ENOENT)
				continue;
			sysio_err(err, errlen, errno, "spool: unlink %s", path);
			goto out;
		}
		found = true;
		if (sysio_fsync_dir(root, subs[i]) < 0) {
			sysio_err(err, errlen, errno, "spool: fsync %s/", subs[i]);
			goto out;
		}
	}
	if (!found) {
		sysio_err(err, errlen, ENOENT, "spool: no entry %s", id);
		goto out;
	}
	/* The entry is gone for good; from here a crash leaves a msg/
	 * leftover, which spool_recover deletes. That is also why msg/ is
	 * not fsynced after the unlink: a message file that comes back after
	 * a power loss is such a leftover (one fsync less per message). */
	if (spool_join(path, sizeof path, SPOOL_MSG, id, NULL) < 0 ||
	    (unlinkat(root, path, 0) < 0 && errno != ENOENT)) {
		sysio_err(err, errlen, errno, "spool: remove " SPOOL_MSG "/%s", id);
		goto out;
	}
	rc = 0;
out:;
	int e = errno;
	close(root);
	errno = e;
	return rc;
}

/* ---- the message and the lock ---- */

int spool_open_msg(const char *dir, const char *id)
{
	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	int root = spool_open_root(dir, NULL, 0);
	if (root < 0)
		return -1;
	char path[SPOOL_REL_MAX];
	int fd = -1;
	if (spool_join(path, sizeof path, SPOOL_MSG, id, NULL) == 0)
		fd = sysio_openat(root, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	sysio_close_keep_errno(root);
	return fd;
}

int spool_read_msg(const char *dir, const char *id, char **data, size_t *len,
		   char *err, size_t errlen)
{
	*data = NULL;
	*len = 0;
	int fd = spool_open_msg(dir, id);
	if (fd < 0) {
		sysio_err(err, errlen, errno, "spool: open " SPOOL_MSG "/%s", id ? id : "");
		return -1;
	}
	if (spool_read_all(fd, SIZE_MAX - 2, data, len) < 0) {
		sysio_err(err, errlen, errno, "spool: read " SPOOL_MSG "/%s", id);
		sysio_close_keep_errno(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int spool_lock(const char *dir, const char *id, bool wait)
{
	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	int root = spool_open_root(dir, NULL, 0);
	if (root < 0)
		return -1;
	char path[SPOOL_REL_MAX];
	int fd = -1;
	if (spool_join(path, sizeof path, SPOOL_MSG, id, NULL) < 0)
		goto out;
	for (int attempt = 0; attempt < 8; attempt++) {
		fd = sysio_openat(root, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
		if (fd < 0)
			goto out;
		if (spool_flock(fd, wait) < 0) {
			sysio_close_keep_errno(fd);
			fd = -1;
			goto out;
		}
		/* The holder before us may have removed the entry, or an
		 * enqueue replaced a leftover: a lock on a file no longer
		 * named msg/<id> guards nothing. */
		if (spool_same_file(root, path, fd))
			goto out;
		int e = errno;
		close(fd);
		fd = -1;
		if (e == ENOENT) {
			errno = ENOENT;
			goto out;
		}
	}
	errno = EAGAIN;
out:
	sysio_close_keep_errno(root);
	return fd;
}

void spool_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* ---- flush requests ---- */

int spool_request_flush(const char *dir, char *err, size_t errlen)
{
	int root = spool_open_root(dir, err, errlen);
	if (root < 0)
		return -1;
	int fd = sysio_openat(root, SPOOL_FLUSH,
			      O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	/* No fsync: a request lost in a crash costs nothing, since the
	 * daemon looks at every entry when it starts. */
	if (fd < 0 || sysio_close(fd) < 0) {
		sysio_err(err, errlen, errno, "spool: create %s/" SPOOL_FLUSH, dir);
		sysio_close_keep_errno(root);
		return -1;
	}
	close(root);
	return 0;
}

/* unlink() succeeds for one caller only, so a request is taken once. */
bool spool_take_flush_request(const char *dir)
{
	int root = spool_open_root(dir, NULL, 0);
	if (root < 0)
		return false;
	bool taken = unlinkat(root, SPOOL_FLUSH, 0) == 0;
	close(root);
	return taken;
}
