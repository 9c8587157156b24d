/* durable_ceiling: how many durable 1 KiB deliveries per second this disk
 * allows, measured the way a Maildir server must do them, so a server's
 * SMTP figures can be read against the machine rather than in the void.
 *
 * Two patterns, each with 1, 4 (and any other) writer threads; every
 * thread has its own Maildir (tmp/ and new/) under DIR:
 *   rename   create tmp/<n>, write, fsync, rename into new/, fsync new/
 *            (two fsyncs: the least a "250 after durable storage" needs;
 *            facteur's maildir_deliver for one recipient since 92ff849)
 *   link     create tmp/<n>, write, fsync, link into new/, fsync new/,
 *            unlink tmp/<n> (maildir_deliver for several recipients,
 *            here with one target: two fsyncs and one more name update)
 *
 * Bounded: each measurement runs for --seconds (default 3, at most 60)
 * and stops by itself; files it made are removed afterwards unless --keep
 * is given (on ext4 without a journal, thousands of freshly freed inodes
 * slow down every file creation for the next 30 s, which would charge a
 * server measured right after with work that is not its own). Prints one
 * line per measurement:
 *   durable pattern=rename threads=1 ops=1234 seconds=3.00 ops_per_s=411.3
 *
 * Usage: durable_ceiling [--seconds S] [--threads 1,4] [--size 1024]
 *                        [--pattern rename,link] [--keep] DIR */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

enum pattern { PAT_RENAME, PAT_LINK };

struct worker {
	pthread_t th;
	char dir[4096];
	enum pattern pat;
	size_t size;
	const char *payload;
	unsigned long ops;
	int err;
	char errmsg[256];
};

static atomic_bool stop_flag;
static bool keep_files;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "durable_ceiling: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int fsync_retry(int fd)
{
	int r;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

static void fail(struct worker *w, const char *what)
{
	w->err = errno;
	snprintf(w->errmsg, sizeof w->errmsg, "%s: %s", what, strerror(errno));
}

static void *run(void *arg)
{
	struct worker *w = arg;
	char tmp[4200], new[4200];
	snprintf(tmp, sizeof tmp, "%s/tmp", w->dir);
	snprintf(new, sizeof new, "%s/new", w->dir);
	int tmpfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int newfd = open(new, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd < 0 || newfd < 0) {
		fail(w, "open maildir");
		return NULL;
	}
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		char name[64];
		snprintf(name, sizeof name, "%lu.bench", w->ops);
		int fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			fail(w, "create");
			break;
		}
		size_t off = 0;
		while (off < w->size) {
			ssize_t n = write(fd, w->payload + off, w->size - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				fail(w, "write");
				close(fd);
				goto out;
			}
			off += (size_t)n;
		}
		if (fsync_retry(fd) < 0) {
			fail(w, "fsync file");
			close(fd);
			break;
		}
		close(fd);
		if (w->pat == PAT_RENAME) {
			if (renameat(tmpfd, name, newfd, name) < 0) {
				fail(w, "rename");
				break;
			}
			if (fsync_retry(newfd) < 0) {
				fail(w, "fsync new/");
				break;
			}
		} else {
			if (linkat(tmpfd, name, newfd, name, 0) < 0) {
				fail(w, "link");
				break;
			}
			if (fsync_retry(newfd) < 0) {
				fail(w, "fsync new/");
				break;
			}
			if (unlinkat(tmpfd, name, 0) < 0) {
				fail(w, "unlink");
				break;
			}
		}
		w->ops++;
	}
out:
	close(tmpfd);
	close(newfd);
	return NULL;
}

static void mkdir_or_die(const char *p)
{
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		die(p);
}

static void rm_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	int dfd = dirfd(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dfd, de->d_name, 0);
	closedir(d);
}

static void rm_maildir(const char *root)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/tmp", root);
	rm_files(p);
	rmdir(p);
	snprintf(p, sizeof p, "%s/new", root);
	rm_files(p);
	rmdir(p);
	rmdir(root);
}

static int measure(const char *base, enum pattern pat, unsigned nthreads, double seconds,
		   size_t size, const char *payload)
{
	static unsigned measurement;
	measurement++;
	struct worker *ws = calloc(nthreads, sizeof *ws);
	if (!ws)
		die("calloc");
	for (unsigned i = 0; i < nthreads; i++) {
		struct worker *w = &ws[i];
		/* unique per run and measurement, so kept files never collide */
		snprintf(w->dir, sizeof w->dir, "%s/%s-%u-%u.%ld.%u", base,
			 pat == PAT_RENAME ? "rename" : "link", nthreads, i, (long)getpid(),
			 measurement);
		char p[4200];
		mkdir_or_die(w->dir);
		snprintf(p, sizeof p, "%s/tmp", w->dir);
		mkdir_or_die(p);
		snprintf(p, sizeof p, "%s/new", w->dir);
		mkdir_or_die(p);
		w->pat = pat;
		w->size = size;
		w->payload = payload;
	}
	/* The directories themselves are durable before the clock starts. */
	sync();
	atomic_store(&stop_flag, false);
	double t0 = now_s();
	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&ws[i].th, NULL, run, &ws[i]) != 0)
			die("pthread_create");
	struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	atomic_store(&stop_flag, true);
	unsigned long ops = 0;
	int rc = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(ws[i].th, NULL);
		ops += ws[i].ops;
		if (ws[i].err) {
			fprintf(stderr, "durable_ceiling: thread %u: %s\n", i, ws[i].errmsg);
			rc = 1;
		}
	}
	double el = now_s() - t0;
	printf("durable pattern=%s threads=%u size=%zu ops=%lu seconds=%.2f ops_per_s=%.1f\n",
	       pat == PAT_RENAME ? "rename" : "link", nthreads, size, ops, el,
	       el > 0 ? (double)ops / el : 0.0);
	fflush(stdout);
	for (unsigned i = 0; i < nthreads && !keep_files; i++)
		rm_maildir(ws[i].dir);
	free(ws);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: durable_ceiling [--seconds S] [--threads 1,4] [--size BYTES]\n"
			"                       [--pattern rename,link] [--keep] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double seconds = 3;
	const char *threads = "1,4";
	const char *patterns = "rename,link";
	size_t size = 1024;
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--seconds") && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (!strcmp(a, "--threads") && i + 1 < argc)
			threads = argv[++i];
		else if (!strcmp(a, "--size") && i + 1 < argc)
			size = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--pattern") && i + 1 < argc)
			patterns = argv[++i];
		else if (!strcmp(a, "--keep"))
			keep_files = true;
		else if (a[0] == '-')
			usage();
		else if (!dir)
			dir = a;
		else
			usage();
	}
	if (!dir || !(seconds > 0 && seconds <= 60) || size == 0 || size > (1u << 24))
		usage();
	char *payload = malloc(size);
	if (!payload)
		die("malloc");
	for (size_t i = 0; i < size; i++)
		payload[i] = (i % 78 == 77) ? '\n' : (char)('a' + i % 26);
	mkdir_or_die(dir);
	int rc = 0;
	for (const char *ps = patterns; *ps;) {
		size_t n = strcspn(ps, ",");
		enum pattern pat;
		if (n == 6 && !strncmp(ps, "rename", n))
			pat = PAT_RENAME;
		else if (n == 4 && !strncmp(ps, "link", n))
			pat = PAT_LINK;
		else
			usage();
		ps += n + (ps[n] == ',');
		for (const char *t = threads; *t;) {
			char *end;
			unsigned long nt = strtoul(t, &end, 10);
			if (end == t || nt == 0 || nt > MAX_THREADS || (*end && *end != ','))
				usage();
			rc |= measure(dir, pat, (unsigned)nt, seconds, size, payload);
			t = *end == ',' ? end + 1 : end;
		}
	}
	free(payload);
	return rc;
}
