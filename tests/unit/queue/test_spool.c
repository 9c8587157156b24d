/* Unit tests for src/queue/spool*.c: the queue on disk, in a temporary
 * directory under /tmp. Crash states are made by hand (files written,
 * aged with utimensat, locked with a second descriptor), never by
 * sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "queue/spool.h"
#include "queue_test.h"

/* ---- helpers ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct spooldir {
	char top[64];
	char dir[96]; /* <top>/data/queue: spool_ensure makes the parents */
};

static void spool_make(struct spooldir *s)
{
	snprintf(s->top, sizeof s->top, "/tmp/facteur-queue-XXXXXX");
	assert_non_null(mkdtemp(s->top));
	snprintf(s->dir, sizeof s->dir, "%s/data/queue", s->top);
	char err[256];
	assert_int_equal(spool_ensure(s->dir, err, sizeof err), 0);
}

static void spool_drop(struct spooldir *s)
{
	nftw(s->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void rel(char *out, size_t outsz, const char *dir, const char *r)
{
	int n = snprintf(out, outsz, "%s/%s", dir, r);
	assert_true(n > 0 && (size_t)n < outsz);
}

static bool exists(const char *dir, const char *r)
{
	char p[PATH_MAX];
	struct stat st;
	rel(p, sizeof p, dir, r);
	return lstat(p, &st) == 0;
}

/* Entries of dir/sub, dot files included, "." and ".." not. */
static size_t count_dir(const char *dir, const char *sub)
{
	char p[PATH_MAX];
	rel(p, sizeof p, dir, sub);
	DIR *d = opendir(p);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void write_rel(const char *dir, const char *r, const char *content)
{
	char p[PATH_MAX];
	rel(p, sizeof p, dir, r);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
	assert_int_equal(fclose(f), 0);
}

/* The file's content as a string (the tests' files hold no NUL). */
static char *read_rel(const char *dir, const char *r)
{
	char p[PATH_MAX];
	rel(p, sizeof p, dir, r);
	FILE *f = fopen(p, "rb");
	assert_non_null(f);
	char *s = calloc(1, 1 << 16);
	assert_non_null(s);
	size_t n = fread(s, 1, (1 << 16) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void age_rel(const char *dir, const char *r, long secs)
{
	char p[PATH_MAX];
	rel(p, sizeof p, dir, r);
	struct timespec t[2] = { { time(NULL) - secs, 0 }, { time(NULL) - secs, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW), 0);
}

/* A second open file description holding LOCK_EX on dir/r. */
static int lock_rel(const char *dir, const char *r)
{
	char p[PATH_MAX];
	rel(p, sizeof p, dir, r);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	return fd;
}

static int enqueue_body(const char *dir, const char *id, const char *body, bool held)
{
	struct queue_env env;
	queue_test_env_make(&env, id);
	env.held = held;
	struct iovec iov = { (void *)body, strlen(body) };
	char err[256];
	int rc = spool_enqueue(dir, &env, &iov, 1, err, sizeof err);
	int e = errno;
	queue_env_free(&env);
	errno = e;
	return rc;
}

/* The envelope text of a valid entry named id, for files made by hand. */
static char *env_text(const char *id)
{
	struct queue_env env;
	queue_test_env_make(&env, id);
	struct buf b;
	buf_init(&b, 0);
	assert_true(queue_env_format(&env, &b));
	queue_env_free(&env);
	buf_cstr(&b);
	return (char *)buf_steal(&b, NULL);
}

static const char msg_body[] = "Received: from a by b\nSubject: hi\n\nline one\nline two\n";

/* ---- directories and ids ---- */

static void ensure_creates_private_tree(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256];
	assert_int_equal(spool_ensure(s.dir, err, sizeof err), 0); /* idempotent */
	static const char *const subs[] = { "tmp", "msg", "env", "hold", "corrupt" };
	for (size_t i = 0; i < 5; i++) {
		char p[PATH_MAX];
		struct stat st;
		rel(p, sizeof p, s.dir, subs[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	char other[PATH_MAX];
	rel(other, sizeof other, s.top, "other");
	assert_int_equal(mkdir(other, 0700), 0);
	write_rel(other, "msg", "a file where a directory should be");
	assert_int_equal(spool_ensure(other, err, sizeof err), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_non_null(strstr(err, "mkdir"));
	assert_int_equal(spool_ensure("", err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_ensure(NULL, err, sizeof err), -1);
	spool_drop(&s);
}

#define ID_THREADS 4
#define IDS_PER_THREAD 2000

struct id_batch {
	char ids[IDS_PER_THREAD][QUEUE_ID_MAX + 1];
};

static void *make_ids(void *arg)
{
	struct id_batch *b = arg;
	for (size_t i = 0; i < IDS_PER_THREAD; i++)
		spool_new_id(b->ids[i], sizeof b->ids[i]);
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void new_ids_are_valid_and_unique_across_threads(void **state)
{
	(void)state;
	struct id_batch *b = calloc(ID_THREADS, sizeof *b);
	assert_non_null(b);
	pthread_t th[ID_THREADS];
	time_t before = time(NULL);
	for (size_t i = 0; i < ID_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, make_ids, &b[i]), 0);
	for (size_t i = 0; i < ID_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	time_t after = time(NULL);
	char(*all)[QUEUE_ID_MAX + 1] = (char(*)[QUEUE_ID_MAX + 1])b;
	size_t n = ID_THREADS * IDS_PER_THREAD;
	for (size_t i = 0; i < n; i++) {
		assert_true(queue_id_valid(all[i]));
		assert_int_equal(strlen(all[i]), 33);
		unsigned long long t = strtoull(all[i], NULL, 16);
		assert_true(t >= (unsigned long long)before && t <= (unsigned long long)after);
	}
	qsort(all, n, sizeof all[0], cmp_id);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(all[i - 1], all[i]) != 0);
	free(b);
	/* Too small a buffer gives an empty (invalid) id, never a cut one. */
	char small[20] = "unchanged";
	spool_new_id(small, sizeof small);
	assert_string_equal(small, "");
	spool_new_id(NULL, 0);
}

/* ---- the life of an entry ---- */

static void entry_lifecycle(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256], id[QUEUE_ID_MAX + 1], p[PATH_MAX];
	spool_new_id(id, sizeof id);
	struct queue_env env, back;
	queue_test_env_make(&env, id);
	env.size = 0;
	static const char part1[] = "Received: from a by b\n";
	static const char part2[] = "Subject: hi\n\nline one\nline two\n";
	struct iovec parts[] = { { (void *)part1, sizeof part1 - 1 },
				 { NULL, 0 },
				 { (void *)part2, sizeof part2 - 1 } };

	/* enqueue */
	assert_int_equal(spool_enqueue(s.dir, &env, parts, 3, err, sizeof err), 0);
	assert_true(env.size == sizeof msg_body - 1);
	rel(p, sizeof p, "msg", id);
	assert_true(exists(s.dir, p));
	struct stat st;
	char full[PATH_MAX];
	rel(full, sizeof full, s.dir, p);
	assert_int_equal(stat(full, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	rel(p, sizeof p, "env", id);
	assert_true(exists(s.dir, p));
	assert_int_equal(count_dir(s.dir, "tmp"), 0);
	assert_int_equal(count_dir(s.dir, "hold"), 0);

	/* load, read */
	assert_int_equal(spool_load(s.dir, id, &back, err, sizeof err), 0);
	assert_true(queue_test_env_equal(&env, &back));
	queue_env_free(&back);
	char *data;
	size_t len;
	assert_int_equal(spool_read_msg(s.dir, id, &data, &len, err, sizeof err), 0);
	assert_int_equal(len, sizeof msg_body - 1);
	assert_memory_equal(data, msg_body, len);
	assert_int_equal(data[len], '\0');
	free(data);
	int fd = spool_open_msg(s.dir, id);
	assert_true(fd >= 0);
	char first[9] = "";
	assert_int_equal(read(fd, first, 8), 8);
	assert_string_equal(first, "Received");
	close(fd);

	/* update */
	env.attempts = 3;
	env.next_attempt = 1700009999;
	env.rcpts[0].state = RCPT_SENT;
	assert_true(queue_rcpt_set_result(&env.rcpts[0], 250, "2.0.0", "mx", "queued as X"));
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), 0);
	assert_int_equal(spool_load(s.dir, id, &back, err, sizeof err), 0);
	assert_true(queue_test_env_equal(&env, &back));
	queue_env_free(&back);
	assert_int_equal(count_dir(s.dir, "tmp"), 0);

	/* hold: the envelope moves to hold/ */
	env.held = true;
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), 0);
	rel(p, sizeof p, "hold", id);
	assert_true(exists(s.dir, p));
	rel(p, sizeof p, "env", id);
	assert_false(exists(s.dir, p));
	assert_int_equal(spool_load(s.dir, id, &back, err, sizeof err), 0);
	assert_true(back.held);
	assert_true(queue_test_env_equal(&env, &back));
	queue_env_free(&back);
	char **ids;
	size_t n;
	assert_int_equal(spool_list(s.dir, &ids, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	spool_ids_free(&ids, n);
	assert_null(ids);

	/* a held entry is updated in place */
	env.warned = true;
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), 0);
	assert_int_equal(count_dir(s.dir, "hold"), 1);
	assert_int_equal(count_dir(s.dir, "env"), 0);

	/* release: back to env/ */
	env.held = false;
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), 0);
	rel(p, sizeof p, "env", id);
	assert_true(exists(s.dir, p));
	assert_int_equal(count_dir(s.dir, "hold"), 0);
	assert_int_equal(spool_load(s.dir, id, &back, err, sizeof err), 0);
	assert_false(back.held);
	assert_true(queue_test_env_equal(&env, &back));
	queue_env_free(&back);

	/* remove */
	assert_int_equal(spool_remove(s.dir, id, err, sizeof err), 0);
	assert_int_equal(count_dir(s.dir, "env"), 0);
	assert_int_equal(count_dir(s.dir, "msg"), 0);
	assert_int_equal(count_dir(s.dir, "tmp"), 0);
	assert_int_equal(spool_load(s.dir, id, &back, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_remove(s.dir, id, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_read_msg(s.dir, id, &data, &len, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_null(data);
	assert_int_equal(spool_open_msg(s.dir, id), -1);
	assert_int_equal(errno, ENOENT);
	queue_env_free(&env);
	spool_drop(&s);
}

static void enqueue_held_goes_to_hold(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	assert_int_equal(enqueue_body(s.dir, "h1", msg_body, true), 0);
	assert_true(exists(s.dir, "hold/h1"));
	assert_false(exists(s.dir, "env/h1"));
	struct queue_env env;
	char err[256];
	assert_int_equal(spool_load(s.dir, "h1", &env, err, sizeof err), 0);
	assert_true(env.held);
	queue_env_free(&env);
	spool_drop(&s);
}

/* Many parts (more than IOV_MAX), NUL bytes, a megabyte. */
static void enqueue_many_parts_binary(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	size_t nparts = IOV_MAX + 50, each = 1024;
	char *buf = malloc(nparts * each);
	struct iovec *iov = calloc(nparts, sizeof *iov);
	assert_non_null(buf);
	assert_non_null(iov);
	for (size_t i = 0; i < nparts * each; i++)
		buf[i] = (char)(i * 7);
	for (size_t i = 0; i < nparts; i++)
		iov[i] = (struct iovec){ buf + i * each, each };
	struct queue_env env;
	queue_test_env_make(&env, "big");
	char err[256];
	assert_int_equal(spool_enqueue(s.dir, &env, iov, nparts, err, sizeof err), 0);
	assert_true(env.size == nparts * each);
	char *data;
	size_t len;
	assert_int_equal(spool_read_msg(s.dir, "big", &data, &len, err, sizeof err), 0);
	assert_int_equal(len, nparts * each);
	assert_memory_equal(data, buf, len);
	free(data);
	/* An empty message is a message. */
	queue_env_free(&env);
	queue_test_env_make(&env, "empty");
	assert_int_equal(spool_enqueue(s.dir, &env, NULL, 0, err, sizeof err), 0);
	assert_true(env.size == 0);
	assert_int_equal(spool_read_msg(s.dir, "empty", &data, &len, err, sizeof err), 0);
	assert_int_equal(len, 0);
	free(data);
	queue_env_free(&env);
	free(iov);
	free(buf);
	spool_drop(&s);
}

/* ---- one id, one entry ---- */

static void duplicate_id_is_eexist(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	assert_int_equal(enqueue_body(s.dir, "orig.dsn", "first\n", false), 0);
	errno = 0;
	assert_int_equal(enqueue_body(s.dir, "orig.dsn", "second\n", false), -1);
	assert_int_equal(errno, EEXIST);
	char *m = read_rel(s.dir, "msg/orig.dsn");
	assert_string_equal(m, "first\n");
	free(m);
	assert_int_equal(count_dir(s.dir, "tmp"), 0);
	/* Held, or asked for as held: the same answer. */
	struct queue_env env;
	char err[256];
	assert_int_equal(spool_load(s.dir, "orig.dsn", &env, err, sizeof err), 0);
	env.held = true;
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), 0);
	queue_env_free(&env);
	assert_int_equal(enqueue_body(s.dir, "orig.dsn", "third\n", false), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(enqueue_body(s.dir, "orig.dsn", "third\n", true), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(count_dir(s.dir, "msg"), 1);
	assert_int_equal(count_dir(s.dir, "tmp"), 0);
	spool_drop(&s);
}

/* A msg/ file left by a crash does not block its id: the bounce that
 * failed to be stored is stored now, not reported as stored. */
static void enqueue_replaces_a_leftover_message(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	write_rel(s.dir, "msg/x.dsn", "half a message from before the crash");
	assert_int_equal(enqueue_body(s.dir, "x.dsn", "the real one\n", false), 0);
	char *m = read_rel(s.dir, "msg/x.dsn");
	assert_string_equal(m, "the real one\n");
	free(m);
	assert_true(exists(s.dir, "env/x.dsn"));
	assert_int_equal(count_dir(s.dir, "tmp"), 0);
	spool_drop(&s);
}

/* msg/<id> locked without an envelope: another enqueue is writing it. */
static void enqueue_over_a_busy_message_is_eagain(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	write_rel(s.dir, "msg/busy", "being written");
	int fd = lock_rel(s.dir, "msg/busy");
	assert_int_equal(enqueue_body(s.dir, "busy", "mine\n", false), -1);
	assert_int_equal(errno, EAGAIN);
	assert_false(exists(s.dir, "env/busy"));
	assert_int_equal(count_dir(s.dir, "tmp"), 0);
	close(fd);
	assert_int_equal(enqueue_body(s.dir, "busy", "mine\n", false), 0);
	spool_drop(&s);
}

#define RACERS 8

struct racer {
	const char *dir;
	pthread_barrier_t *start;
	char body[32];
	int rc, err;
};

static void *race_enqueue(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->start);
	r->rc = enqueue_body(r->dir, "raced", r->body, false);
	r->err = errno;
	return NULL;
}

static void racing_enqueues_store_one(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		struct spooldir s = { 0 };
		spool_make(&s);
		pthread_barrier_t start;
		assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
		struct racer r[RACERS];
		pthread_t th[RACERS];
		for (int i = 0; i < RACERS; i++) {
			r[i] = (struct racer){ .dir = s.dir, .start = &start };
			snprintf(r[i].body, sizeof r[i].body, "racer %d\n", i);
			assert_int_equal(pthread_create(&th[i], NULL, race_enqueue, &r[i]), 0);
		}
		int won = -1;
		for (int i = 0; i < RACERS; i++) {
			assert_int_equal(pthread_join(th[i], NULL), 0);
			if (r[i].rc == 0) {
				assert_int_equal(won, -1);
				won = i;
			} else {
				assert_true(r[i].err == EEXIST || r[i].err == EAGAIN);
			}
		}
		assert_true(won >= 0);
		char *m = read_rel(s.dir, "msg/raced");
		assert_string_equal(m, r[won].body);
		free(m);
		assert_int_equal(count_dir(s.dir, "env"), 1);
		assert_int_equal(count_dir(s.dir, "msg"), 1);
		assert_int_equal(count_dir(s.dir, "tmp"), 0);
		pthread_barrier_destroy(&start);
		spool_drop(&s);
	}
}

/* ---- update and remove against a vanished entry ---- */

static void update_of_a_removed_entry_is_enoent(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256];
	struct queue_env env;
	assert_int_equal(enqueue_body(s.dir, "gone", msg_body, false), 0);
	assert_int_equal(spool_load(s.dir, "gone", &env, err, sizeof err), 0);
	/* "facteur queue delete" while the daemon holds the loaded copy. */
	assert_int_equal(spool_remove(s.dir, "gone", err, sizeof err), 0);
	env.attempts++;
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "no entry gone"));
	env.held = true;
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_dir(s.dir, "env"), 0);
	assert_int_equal(count_dir(s.dir, "hold"), 0);
	assert_int_equal(count_dir(s.dir, "msg"), 0);
	assert_int_equal(count_dir(s.dir, "tmp"), 0);
	queue_env_free(&env);
	spool_drop(&s);
}

static void bad_envelopes_are_never_written(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256];
	struct queue_env env = { 0 };
	snprintf(env.id, sizeof env.id, "%s", "norcpt");
	env.sender = strdup("a@b");
	struct iovec iov = { (void *)"x", 1 };
	assert_int_equal(spool_enqueue(s.dir, &env, &iov, 1, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	queue_env_free(&env);
	queue_test_env_make(&env, "../escape");
	assert_int_equal(spool_enqueue(s.dir, &env, &iov, 1, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_update(s.dir, &env, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_enqueue(s.dir, NULL, &iov, 1, err, sizeof err), -1);
	queue_env_free(&env);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(count_dir(s.dir, (const char *[]){ "tmp", "msg", "env" }[i]), 0);
	/* No spool there at all. */
	char missing[PATH_MAX];
	rel(missing, sizeof missing, s.top, "nope");
	assert_int_equal(enqueue_body(missing, "q", msg_body, false), -1);
	assert_int_equal(errno, ENOENT);
	spool_drop(&s);
}

static void remove_entry_without_message(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char *t = env_text("lonely");
	write_rel(s.dir, "env/lonely", t);
	free(t);
	char err[256];
	assert_int_equal(spool_remove(s.dir, "lonely", err, sizeof err), 0);
	assert_int_equal(count_dir(s.dir, "env"), 0);
	assert_int_equal(spool_remove(s.dir, "bad/id", err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	spool_drop(&s);
}

/* ---- reading damaged entries ---- */

static void load_of_a_damaged_envelope_is_ebadmsg(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256];
	struct queue_env env;
	write_rel(s.dir, "msg/bad", msg_body);
	write_rel(s.dir, "env/bad", "facteur-envelope 1\nnonsense\n");
	assert_int_equal(spool_load(s.dir, "bad", &env, err, sizeof err), -1);
	assert_int_equal(errno, EBADMSG);
	assert_non_null(strstr(err, "env/bad: envelope line 2: no value"));

	/* A good envelope under another entry's name. */
	char *t = env_text("other");
	write_rel(s.dir, "env/bad", t);
	free(t);
	assert_int_equal(spool_load(s.dir, "bad", &env, err, sizeof err), -1);
	assert_int_equal(errno, EBADMSG);
	assert_non_null(strstr(err, "holds another id"));

	/* Not a regular file; a symbolic link. */
	char p[PATH_MAX], target[PATH_MAX];
	rel(p, sizeof p, s.dir, "env/adir");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(spool_load(s.dir, "adir", &env, err, sizeof err), -1);
	assert_int_equal(errno, EBADMSG);
	rel(p, sizeof p, s.dir, "env/alink");
	rel(target, sizeof target, s.dir, "env/bad");
	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(spool_load(s.dir, "alink", &env, err, sizeof err), -1);
	assert_int_equal(errno, EBADMSG);

	assert_int_equal(spool_load(s.dir, "../env/bad", &env, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	spool_drop(&s);
}

/* ---- quarantine ---- */

static void quarantine_moves_both_files_with_a_reason(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256];
	assert_int_equal(enqueue_body(s.dir, "q1", msg_body, false), 0);
	assert_int_equal(spool_quarantine(s.dir, "q1", "envelope line 3: bad\nthing\x1b", err,
					  sizeof err), 0);
	assert_false(exists(s.dir, "env/q1"));
	assert_false(exists(s.dir, "msg/q1"));
	char *m = read_rel(s.dir, "corrupt/q1.msg");
	assert_string_equal(m, msg_body);
	free(m);
	char *r = read_rel(s.dir, "corrupt/q1.reason");
	assert_string_equal(r, "envelope line 3: bad?thing?\n");
	free(r);
	assert_true(exists(s.dir, "corrupt/q1.env"));
	struct queue_env env;
	assert_int_equal(spool_load(s.dir, "q1", &env, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);

	/* The same id again (held this time) keeps the first copy. */
	assert_int_equal(enqueue_body(s.dir, "q1", "again\n", true), 0);
	assert_int_equal(spool_quarantine(s.dir, "q1", NULL, err, sizeof err), 0);
	assert_true(exists(s.dir, "corrupt/q1~1.env"));
	assert_true(exists(s.dir, "corrupt/q1~1.msg"));
	r = read_rel(s.dir, "corrupt/q1~1.reason");
	assert_string_equal(r, "\n");
	free(r);
	m = read_rel(s.dir, "corrupt/q1.msg");
	assert_string_equal(m, msg_body);
	free(m);
	assert_int_equal(count_dir(s.dir, "hold"), 0);
	assert_int_equal(count_dir(s.dir, "tmp"), 0);

	assert_int_equal(spool_quarantine(s.dir, "q2", "x", err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_dir(s.dir, "corrupt"), 6);
	spool_drop(&s);
}

/* ---- recover ---- */

static void recover_resolves_every_crash_state(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256];
	assert_int_equal(enqueue_body(s.dir, "good", msg_body, false), 0);
	assert_int_equal(enqueue_body(s.dir, "good-held", msg_body, true), 0);
	/* tmp/: an old file, a fresh one, one a live process writes */
	write_rel(s.dir, "tmp/old.msg.1.0", "x");
	age_rel(s.dir, "tmp/old.msg.1.0", 7200);
	write_rel(s.dir, "tmp/fresh.env.1.1", "x");
	write_rel(s.dir, "tmp/writing.msg.1.2", "x");
	int wfd = lock_rel(s.dir, "tmp/writing.msg.1.2");
	/* msg/ without an envelope: old, fresh, old but locked; a name
	 * that is no id */
	write_rel(s.dir, "msg/orphan-old", "x");
	age_rel(s.dir, "msg/orphan-old", 7200);
	write_rel(s.dir, "msg/orphan-new", "x");
	write_rel(s.dir, "msg/orphan-locked", "x");
	age_rel(s.dir, "msg/orphan-locked", 7200);
	int ofd = lock_rel(s.dir, "msg/orphan-locked");
	write_rel(s.dir, "msg/.junk", "x");
	age_rel(s.dir, "msg/.junk", 7200);
	/* envelopes without a message */
	char *t = env_text("lonely");
	write_rel(s.dir, "env/lonely", t);
	free(t);
	t = env_text("lonely-held");
	write_rel(s.dir, "hold/lonely-held", t);
	free(t);

	assert_int_equal(spool_recover(s.dir, 3600, err, sizeof err), 5);
	assert_int_equal(count_dir(s.dir, "tmp"), 1);
	assert_true(exists(s.dir, "tmp/writing.msg.1.2"));
	assert_false(exists(s.dir, "msg/orphan-old"));
	assert_true(exists(s.dir, "msg/orphan-new"));
	assert_true(exists(s.dir, "msg/orphan-locked"));
	assert_true(exists(s.dir, "msg/.junk"));
	assert_true(exists(s.dir, "corrupt/lonely.env"));
	assert_true(exists(s.dir, "corrupt/lonely-held.env"));
	assert_false(exists(s.dir, "corrupt/lonely.msg"));
	char *r = read_rel(s.dir, "corrupt/lonely.reason");
	assert_string_equal(r, "envelope without message\n");
	free(r);
	assert_false(exists(s.dir, "env/lonely"));
	assert_false(exists(s.dir, "hold/lonely-held"));
	/* Whole entries are untouched. */
	struct queue_env env;
	assert_int_equal(spool_load(s.dir, "good", &env, err, sizeof err), 0);
	queue_env_free(&env);
	assert_int_equal(spool_load(s.dir, "good-held", &env, err, sizeof err), 0);
	queue_env_free(&env);
	assert_true(exists(s.dir, "msg/good"));
	assert_true(exists(s.dir, "msg/good-held"));

	/* The writers are gone: their files go too. */
	close(wfd);
	close(ofd);
	assert_int_equal(spool_recover(s.dir, 3600, err, sizeof err), 2);
	assert_int_equal(count_dir(s.dir, "tmp"), 0);
	assert_false(exists(s.dir, "msg/orphan-locked"));
	assert_int_equal(spool_recover(s.dir, 0, err, sizeof err), 1);
	assert_false(exists(s.dir, "msg/orphan-new"));
	assert_int_equal(spool_recover(s.dir, 0, err, sizeof err), 0);
	assert_int_equal(count_dir(s.dir, "msg"), 3); /* good, good-held, .junk */

	char missing[PATH_MAX];
	rel(missing, sizeof missing, s.top, "nope");
	assert_int_equal(spool_recover(missing, 0, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	spool_drop(&s);
}

/* ---- list ---- */

static void list_is_sorted_and_skips_junk(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256], **ids = (char **)1;
	size_t n = 99;
	assert_int_equal(spool_list(s.dir, &ids, &n, err, sizeof err), 0);
	assert_int_equal(n, 0);
	spool_ids_free(&ids, n);
	assert_int_equal(enqueue_body(s.dir, "c", msg_body, false), 0);
	assert_int_equal(enqueue_body(s.dir, "a", msg_body, true), 0);
	assert_int_equal(enqueue_body(s.dir, "b", msg_body, false), 0);
	write_rel(s.dir, "env/.hidden", "x");
	write_rel(s.dir, "env/with space", "x");
	write_rel(s.dir, "env/a", "x"); /* in env/ and hold/: one entry */
	char p[PATH_MAX];
	rel(p, sizeof p, s.dir, "env/adir");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(spool_list(s.dir, &ids, &n, err, sizeof err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ids[0], "a");
	assert_string_equal(ids[1], "b");
	assert_string_equal(ids[2], "c");
	spool_ids_free(&ids, n);
	spool_ids_free(&ids, 0);
	spool_ids_free(NULL, 0);
	char missing[PATH_MAX];
	rel(missing, sizeof missing, s.top, "nope");
	assert_int_equal(spool_list(missing, &ids, &n, err, sizeof err), -1);
	assert_null(ids);
	assert_int_equal(n, 0);
	spool_drop(&s);
}

/* ---- lock ---- */

static void lock_is_exclusive_per_open_file(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256];
	assert_int_equal(enqueue_body(s.dir, "l1", msg_body, false), 0);
	int fd1 = spool_lock(s.dir, "l1", false);
	assert_true(fd1 >= 0);
	errno = 0;
	assert_int_equal(spool_lock(s.dir, "l1", false), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	spool_unlock(fd1);
	int fd2 = spool_lock(s.dir, "l1", true);
	assert_true(fd2 >= 0);
	spool_unlock(fd2);
	spool_unlock(-1);

	assert_int_equal(spool_lock(s.dir, "nope", false), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_lock(s.dir, "../l1", false), -1);
	assert_int_equal(errno, EINVAL);

	/* Removed and stored again under the lock: the new entry's lock is
	 * another file's, free. */
	fd1 = spool_lock(s.dir, "l1", false);
	assert_true(fd1 >= 0);
	assert_int_equal(spool_remove(s.dir, "l1", err, sizeof err), 0);
	assert_int_equal(enqueue_body(s.dir, "l1", msg_body, false), 0);
	fd2 = spool_lock(s.dir, "l1", false);
	assert_true(fd2 >= 0);
	spool_unlock(fd2);
	spool_unlock(fd1);
	spool_drop(&s);
}

struct waiter {
	const char *dir;
	int fd, err;
};

static void *lock_and_wait(void *arg)
{
	struct waiter *w = arg;
	w->fd = spool_lock(w->dir, "l2", true);
	w->err = errno;
	return NULL;
}

/* True once /proc/locks shows a process blocked on the flock of inode
 * ino ("-> FLOCK ... maj:min:ino"). Polling the kernel's own record is
 * how the test knows the waiter sits on the old file; no timing guess. */
static bool flock_waiter_seen(ino_t ino)
{
	FILE *f = fopen("/proc/locks", "r");
	if (!f)
		return false;
	char line[256], want[32];
	snprintf(want, sizeof want, ":%llu ", (unsigned long long)ino);
	bool seen = false;
	while (!seen && fgets(line, sizeof line, f))
		seen = strstr(line, "-> FLOCK") && strstr(line, want);
	fclose(f);
	return seen;
}

static void wait_for_waiter(const char *dir, pthread_t *th, struct waiter *w, ino_t *ino)
{
	char p[PATH_MAX];
	struct stat st;
	rel(p, sizeof p, dir, "msg/l2");
	assert_int_equal(stat(p, &st), 0);
	*ino = st.st_ino;
	*w = (struct waiter){ .dir = dir, .fd = -1 };
	assert_int_equal(pthread_create(th, NULL, lock_and_wait, w), 0);
	for (long i = 0; !flock_waiter_seen(*ino); i++) {
		if (i > 5000000)
			fail_msg("the waiter never blocked on the lock");
		sched_yield();
	}
}

/* A process waiting for an entry's lock while the holder removes it
 * must not come back holding the lock of a file no longer in the spool. */
static void lock_waiter_follows_the_entry(void **state)
{
	(void)state;
	FILE *probe = fopen("/proc/locks", "r");
	if (!probe)
		skip();
	fclose(probe);
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256], p[PATH_MAX];
	pthread_t th;
	struct waiter w;
	ino_t old;

	/* Removed meanwhile: the waiter hears ENOENT. */
	assert_int_equal(enqueue_body(s.dir, "l2", msg_body, false), 0);
	int held = spool_lock(s.dir, "l2", false);
	assert_true(held >= 0);
	wait_for_waiter(s.dir, &th, &w, &old);
	assert_int_equal(spool_remove(s.dir, "l2", err, sizeof err), 0);
	spool_unlock(held);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.fd, -1);
	assert_int_equal(w.err, ENOENT);

	/* Removed and stored again: the waiter holds the new file's lock. */
	assert_int_equal(enqueue_body(s.dir, "l2", msg_body, false), 0);
	held = spool_lock(s.dir, "l2", false);
	assert_true(held >= 0);
	wait_for_waiter(s.dir, &th, &w, &old);
	assert_int_equal(spool_remove(s.dir, "l2", err, sizeof err), 0);
	assert_int_equal(enqueue_body(s.dir, "l2", "new\n", false), 0);
	spool_unlock(held);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(w.fd >= 0);
	struct stat a, b;
	rel(p, sizeof p, s.dir, "msg/l2");
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(fstat(w.fd, &a), 0);
	assert_true(a.st_ino == b.st_ino && a.st_ino != old);
	assert_int_equal(spool_lock(s.dir, "l2", false), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	spool_unlock(w.fd);
	spool_drop(&s);
}

/* ---- flush ---- */

static void flush_request_is_taken_once(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	char err[256];
	assert_false(spool_take_flush_request(s.dir));
	assert_int_equal(spool_request_flush(s.dir, err, sizeof err), 0);
	assert_true(exists(s.dir, "flush"));
	assert_int_equal(spool_request_flush(s.dir, err, sizeof err), 0);
	assert_true(spool_take_flush_request(s.dir));
	assert_false(exists(s.dir, "flush"));
	assert_false(spool_take_flush_request(s.dir));
	char missing[PATH_MAX];
	rel(missing, sizeof missing, s.top, "nope");
	assert_int_equal(spool_request_flush(missing, err, sizeof err), -1);
	assert_false(spool_take_flush_request(missing));
	spool_drop(&s);
}

/* ---- error messages ---- */

static void errors_fit_any_buffer(void **state)
{
	(void)state;
	struct spooldir s = { 0 };
	spool_make(&s);
	for (size_t sz = 0; sz < 64; sz++) {
		char err[80];
		memset(err, 'Z', sizeof err);
		struct queue_env env;
		assert_int_equal(spool_load(s.dir, "missing", &env, sz ? err : NULL, sz), -1);
		assert_int_equal(errno, ENOENT);
		if (sz) {
			assert_true(strlen(err) < sz);
			for (size_t i = sz; i < sizeof err; i++)
				assert_int_equal(err[i], 'Z');
		}
	}
	char err[256];
	struct queue_env env;
	assert_int_equal(spool_load(s.dir, "missing", &env, err, sizeof err), -1);
	assert_string_equal(err, "spool: no entry missing: No such file or directory");
	spool_drop(&s);
}

int test_spool_run(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ensure_creates_private_tree),
		cmocka_unit_test(new_ids_are_valid_and_unique_across_threads),
		cmocka_unit_test(entry_lifecycle),
		cmocka_unit_test(enqueue_held_goes_to_hold),
		cmocka_unit_test(enqueue_many_parts_binary),
		cmocka_unit_test(duplicate_id_is_eexist),
		cmocka_unit_test(enqueue_replaces_a_leftover_message),
		cmocka_unit_test(enqueue_over_a_busy_message_is_eagain),
		cmocka_unit_test(racing_enqueues_store_one),
		cmocka_unit_test(update_of_a_removed_entry_is_enoent),
		cmocka_unit_test(bad_envelopes_are_never_written),
		cmocka_unit_test(remove_entry_without_message),
		cmocka_unit_test(load_of_a_damaged_envelope_is_ebadmsg),
		cmocka_unit_test(quarantine_moves_both_files_with_a_reason),
		cmocka_unit_test(recover_resolves_every_crash_state),
		cmocka_unit_test(list_is_sorted_and_skips_junk),
		cmocka_unit_test(lock_is_exclusive_per_open_file),
		cmocka_unit_test(lock_waiter_follows_the_entry),
		cmocka_unit_test(flush_request_is_taken_once),
		cmocka_unit_test(errors_fit_any_buffer),
	};
	return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
