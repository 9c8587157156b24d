/* spool_enqueue: storing a new entry (spool_enqueue in queue/spool.h).
 *
 * The message is written to tmp/ under a flock it keeps until the call
 * returns, named msg/<id> with link() (which, unlike rename(), fails on a
 * taken name), and made durable before the envelope gets its name, the
 * commit point. doc/queue.md has the steps and what a crash after each
 * one leaves behind.
 *
 * Runs on worker threads and in the command line tools: blocking, state
 * on the stack or the heap. Never touches a socket. */
#include "queue/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/sysio.h"
#include "queue/spool_io.h"

struct enqueue {
	int root;
	const char *id;
	const char *env_sub;         /* env/ or hold/ */
	int msgfd;                   /* the message: flocked from creation to the end */
	char tmpmsg[SPOOL_REL_MAX];
	char tmpenv[SPOOL_REL_MAX];
	char msg[SPOOL_REL_MAX];     /* msg/<id> */
	char env[SPOOL_REL_MAX];     /* env/<id> or hold/<id> */
	bool tmpmsg_named, tmpenv_named;
	bool msg_placed, env_placed; /* ours: undone on failure */
	char *err;
	size_t errlen;
};

/* 0 when no entry has the id; -1 with EEXIST when one has. */
static int enqueue_check_free(struct enqueue *q)
{
	const char *sub = spool_locate(q->root, q->id);
	if (sub) {
		sysio_err(q->err, q->errlen, EEXIST, "spool: %s/%s exists", sub, q->id);
		return -1;
	}
	if (errno != ENOENT) {
		sysio_err(q->err, q->errlen, errno, "spool: look up %s", q->id);
		return -1;
	}
	return 0;
}

/* msg/<id> exists: whose is it? Returns 0 when it was a leftover and
 * our message replaced it, 1 when it vanished meanwhile (try the link
 * again), -1 otherwise. */
static int enqueue_replace_leftover(struct enqueue *q)
{
	int fd = sysio_openat(q->root, q->msg, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		sysio_err(q->err, q->errlen, errno, "spool: open %s", q->msg);
		return -1;
	}
	if (spool_flock(fd, false) < 0) {
		int e = errno;
		close(fd);
		if (e != EWOULDBLOCK) {
			sysio_err(q->err, q->errlen, e, "spool: lock %s", q->msg);
			return -1;
		}
		/* Someone works on it: an entry being changed (EEXIST), or
		 * another enqueue of this id in progress, or spool_recover
		 * looking at a leftover. Only the first is a final answer. */
		if (enqueue_check_free(q) < 0)
			return -1;
		sysio_err(q->err, q->errlen, EAGAIN, "spool: %s is busy", q->msg);
		return -1;
	}
	/* Under its lock, with no envelope: the leftover of an interrupted
	 * enqueue or removal. Answering EEXIST here would make a caller
	 * believe a bounce is stored when only its leftover is; the
	 * envelope of a live entry cannot appear while we hold the lock. */
	if (enqueue_check_free(q) < 0) {
		sysio_close_keep_errno(fd);
		return -1;
	}
	if (!spool_same_file(q->root, q->msg, fd)) {
		close(fd);
		return 1;
	}
	if (renameat(q->root, q->tmpmsg, q->root, q->msg) < 0) {
		sysio_err(q->err, q->errlen, errno, "spool: rename to %s", q->msg);
		close(fd);
		return -1;
	}
	q->tmpmsg_named = false;
	q->msg_placed = true;
	close(fd);
	return 0;
}

/* The message goes to tmp/ under a lock that it keeps when it becomes
 * msg/<id>: another enqueue of the id, or spool_recover, sees a busy
 * file rather than a leftover. link() fails with EEXIST where rename()
 * would replace: that is what stops two enqueues of one id. */
static int enqueue_msg(struct enqueue *q, const struct iovec *parts, size_t nparts)
{
	q->msgfd = spool_tmp_create(q->root, q->id, "msg", q->tmpmsg);
	if (q->msgfd < 0) {
		sysio_err(q->err, q->errlen, errno, "spool: create in tmp/ for %s", q->id);
		return -1;
	}
	q->tmpmsg_named = true;
	if (sysio_writev_all(q->msgfd, parts, nparts) < 0 || sysio_fsync(q->msgfd) < 0) {
		sysio_err(q->err, q->errlen, errno, "spool: write %s", q->tmpmsg);
		return -1;
	}
	for (int attempt = 0; attempt < 4; attempt++) {
		if (linkat(q->root, q->tmpmsg, q->root, q->msg, 0) == 0) {
			q->msg_placed = true;
			return 0;
		}
		if (errno != EEXIST) {
			sysio_err(q->err, q->errlen, errno, "spool: link %s", q->msg);
			return -1;
		}
		int r = enqueue_replace_leftover(q);
		if (r <= 0)
			return r;
	}
	sysio_err(q->err, q->errlen, EAGAIN, "spool: %s keeps changing", q->msg);
	return -1;
}

static int enqueue_env(struct enqueue *q, const struct buf *text)
{
	/* The message's name must be durable before the envelope's: a
	 * crash must never leave an envelope without its message. */
	if (sysio_fsync_dir(q->root, SPOOL_MSG) < 0) {
		sysio_err(q->err, q->errlen, errno, "spool: fsync " SPOOL_MSG "/");
		return -1;
	}
	struct iovec iov = { text->data, text->len };
	if (spool_tmp_write(q->root, q->id, "env", &iov, 1, q->tmpenv) < 0) {
		sysio_err(q->err, q->errlen, errno, "spool: write envelope of %s", q->id);
		return -1;
	}
	q->tmpenv_named = true;
	/* The commit point. link() again: it cannot replace an entry. */
	if (linkat(q->root, q->tmpenv, q->root, q->env, 0) < 0) {
		sysio_err(q->err, q->errlen, errno, "spool: link %s", q->env);
		return -1;
	}
	q->env_placed = true;
	if (sysio_fsync_dir(q->root, q->env_sub) < 0) {
		sysio_err(q->err, q->errlen, errno, "spool: fsync %s/", q->env_sub);
		return -1;
	}
	return 0;
}

/* Undoes what failed half-way (envelope first, as spool_remove does),
 * drops the tmp/ names, and releases the lock last. */
static void enqueue_end(struct enqueue *q, bool ok)
{
	int e = errno;
	if (!ok && q->env_placed) {
		unlinkat(q->root, q->env, 0);
		sysio_fsync_dir(q->root, q->env_sub);
	}
	if (!ok && q->msg_placed) {
		unlinkat(q->root, q->msg, 0);
		sysio_fsync_dir(q->root, SPOOL_MSG);
	}
	if (q->tmpenv_named)
		unlinkat(q->root, q->tmpenv, 0);
	if (q->tmpmsg_named)
		unlinkat(q->root, q->tmpmsg, 0);
	if (q->msgfd >= 0)
		close(q->msgfd);
	close(q->root);
	errno = e;
}

int spool_enqueue(const char *dir, struct queue_env *env,
		  const struct iovec *parts, size_t nparts, char *err, size_t errlen)
{
	if (!env || !queue_id_valid(env->id) || (nparts && !parts)) {
		sysio_err(err, errlen, EINVAL, "spool: enqueue: bad id or message");
		return -1;
	}
	uint64_t size = 0;
	for (size_t i = 0; i < nparts; i++)
		size += parts[i].iov_len;
	env->size = size;
	struct buf text;
	buf_init(&text, SPOOL_ENV_FILE_MAX);
	if (!queue_env_format(env, &text)) {
		buf_release(&text);
		sysio_err(err, errlen, EINVAL, "spool: %s: envelope invalid or too large", env->id);
		return -1;
	}
	struct enqueue q = {
		.root = spool_open_root(dir, err, errlen),
		.id = env->id,
		.env_sub = env->held ? SPOOL_HOLD : SPOOL_ENV,
		.msgfd = -1,
		.err = err,
		.errlen = errlen,
	};
	if (q.root < 0) {
		buf_release(&text);
		return -1;
	}
	int rc = -1;
	if (spool_join(q.msg, sizeof q.msg, SPOOL_MSG, q.id, NULL) < 0 ||
	    spool_join(q.env, sizeof q.env, q.env_sub, q.id, NULL) < 0)
		sysio_err(err, errlen, errno, "spool: %s", q.id);
	/* The early check answers a repeated enqueue (a bounce after a
	 * crash) without writing anything; the one that counts is made
	 * again under the message's lock. */
	else if (enqueue_check_free(&q) == 0 && enqueue_msg(&q, parts, nparts) == 0 &&
		 enqueue_env(&q, &text) == 0)
		rc = 0;
	enqueue_end(&q, rc == 0);
	int e = errno;
	buf_release(&text);
	errno = e;
	return rc;
}
