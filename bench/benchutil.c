/* benchutil: helpers for bench/run.sh that need more than a shell.
 *
 *   benchutil proc PID
 *       CPU seconds (user+sys of each process, plus what it reaped from
 *       exited children, so short-lived workers are not lost), VmRSS and
 *       Pss summed over PID and all its descendants:
 *       "cpu_s=1.23 user_s=0.23 sys_s=1.00 rss_kb=4567 pss_kb=3456 nprocs=12"
 *   benchutil mkdrop DIR COUNT SIZE [TAG]
 *       writes COUNT messages of SIZE bytes (LF line ends, as Maildir
 *       stores them) into DIR/new, named like a Maildir delivery with
 *       ",S=<size>,W=<size with CRLF>" so no server has to read a file to
 *       list it; creates DIR/{tmp,new,cur}.
 *   benchutil count ROOT
 *       number of files in ROOT/ * /new (dot files excluded). */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "benchutil: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static long num(const char *s, long lo, long hi, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die("%s: %s is not in %ld..%ld", name, s, lo, hi);
	return v;
}

/* ---- proc: CPU and memory of a process tree ---- */

struct pinfo {
	int pid, ppid;
	unsigned long long uticks, sticks; /* own + reaped children */
};

static bool read_file(const char *path, char *buf, size_t sz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sz - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

static long kb_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	if (!p)
		return 0;
	p += strlen(key);
	return strtol(p, NULL, 10);
}

static int mode_proc(int root)
{
	DIR *d = opendir("/proc");
	if (!d)
		die("/proc: %s", strerror(errno));
	struct pinfo *ps = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	char buf[8192];
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char path[300];
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		if (!read_file(path, buf, sizeof buf))
			continue;
		/* comm may hold spaces and parentheses: fields follow the last ')' */
		char *rp = strrchr(buf, ')');
		if (!rp)
			continue;
		char state;
		int ppid;
		unsigned long long f[20];
		/* after ')': state ppid pgrp session tty tpgid flags minflt cminflt
		 * majflt cmajflt utime stime cutime cstime */
		if (sscanf(rp + 2, "%c %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &state, &ppid, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7],
			   &f[8], &f[9], &f[10], &f[11], &f[12]) != 15)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			ps = realloc(ps, cap * sizeof *ps);
			if (!ps)
				die("out of memory");
		}
		ps[n].pid = atoi(de->d_name);
		ps[n].ppid = ppid;
		ps[n].uticks = f[9] + f[11];
		ps[n].sticks = f[10] + f[12];
		n++;
	}
	closedir(d);
	/* mark the tree: repeat until no new member (parents may come later) */
	bool *in = calloc(n ? n : 1, sizeof *in);
	if (!in)
		die("out of memory");
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (ps[i].pid == root)
			in[i] = found = true;
	if (!found) {
		printf("cpu_s=0 user_s=0 sys_s=0 rss_kb=0 pss_kb=0 nprocs=0\n");
		return 1;
	}
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < n; j++)
				if (in[j] && ps[j].pid == ps[i].ppid) {
					in[i] = grew = true;
					break;
				}
		}
	}
	unsigned long long uticks = 0, sticks = 0;
	long rss = 0, pss = 0;
	int np = 0;
	for (size_t i = 0; i < n; i++) {
		if (!in[i])
			continue;
		np++;
		uticks += ps[i].uticks;
		sticks += ps[i].sticks;
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/status", ps[i].pid);
		if (read_file(path, buf, sizeof buf))
			rss += kb_field(buf, "VmRSS:");
		snprintf(path, sizeof path, "/proc/%d/smaps_rollup", ps[i].pid);
		if (read_file(path, buf, sizeof buf))
			pss += kb_field(buf, "\nPss:");
	}
	double hz = (double)sysconf(_SC_CLK_TCK);
	printf("cpu_s=%.2f user_s=%.2f sys_s=%.2f rss_kb=%ld pss_kb=%ld nprocs=%d\n",
	       (double)(uticks + sticks) / hz, (double)uticks / hz, (double)sticks / hz, rss, pss,
	       np);
	free(in);
	free(ps);
	return 0;
}

/* ---- mkdrop: maildrop fixtures ---- */

static int mode_mkdrop(const char *dir, long count, long size, const char *tag)
{
	if (count < 0 || count > 1000000 || size < 64 || size > 64L * 1024 * 1024)
		die("mkdrop: bad count or size");
	char p[PATH_MAX];
	/* parents first, like mkdir -p */
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			die("mkdir %s: %s", p, strerror(errno));
		*s = '/';
	}
	const char *subs[] = { "", "/tmp", "/new", "/cur" };
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s%s", dir, subs[i]);
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			die("mkdir %s: %s", p, strerror(errno));
	}
	/* LF line ends, as Maildir stores them; W= counts the CRLF POP3 sends */
	char *msg = malloc((size_t)size);
	if (!msg)
		die("out of memory");
	int h = snprintf(msg, (size_t)size,
			 "Return-Path: <bench@example.org>\nFrom: <bench@example.org>\n"
			 "To: <bench@localhost>\nSubject: fixture\n\n");
	long len = h;
	while (len < size) {
		long left = size - len;
		long l = left > 77 ? 76 : left - 1;
		for (long i = 0; i < l; i++)
			msg[len + i] = (char)('a' + (i + len) % 26);
		len += l;
		msg[len++] = '\n';
	}
	long lines = 0;
	for (long i = 0; i < size; i++)
		lines += msg[i] == '\n';
	long wsize = size + lines;
	time_t now = time(NULL);
	for (long i = 0; i < count; i++) {
		snprintf(p, sizeof p, "%s/new/%lld.M%ldP%d%s.bench,S=%ld,W=%ld", dir,
			 (long long)now - count + i, i, (int)getpid(), tag, size, wsize);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			die("create %s: %s", p, strerror(errno));
		if (write(fd, msg, (size_t)size) != size)
			die("write %s", p);
		close(fd);
	}
	free(msg);
	printf("mkdrop dir=%s count=%ld size=%ld wsize=%ld\n", dir, count, size, wsize);
	return 0;
}

static int mode_count(const char *root)
{
	DIR *d = opendir(root);
	size_t n = 0;
	if (d) {
		struct dirent *u;
		while ((u = readdir(d))) {
			if (u->d_name[0] == '.')
				continue;
			char p[PATH_MAX];
			snprintf(p, sizeof p, "%s/%s/new", root, u->d_name);
			DIR *nd = opendir(p);
			if (!nd)
				continue;
			struct dirent *f;
			while ((f = readdir(nd)))
				if (f->d_name[0] != '.')
					n++;
			closedir(nd);
		}
		closedir(d);
	}
	printf("%zu\n", n);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: benchutil proc PID\n"
			"       benchutil mkdrop DIR COUNT SIZE [TAG]\n"
			"       benchutil count ROOT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "proc"))
		return mode_proc((int)num(argv[2], 1, INT_MAX, "pid"));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "mkdrop"))
		return mode_mkdrop(argv[2], num(argv[3], 0, 1000000, "count"),
				   num(argv[4], 64, 64L << 20, "size"), argc == 6 ? argv[5] : "");
	if (argc == 3 && !strcmp(argv[1], "count"))
		return mode_count(argv[2]);
	usage();
}
