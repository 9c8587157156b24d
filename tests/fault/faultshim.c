/* faultshim: an LD_PRELOAD library that makes chosen system calls fail,
 * so tests/hardening can see how the daemon handles a broken disk or a
 * full descriptor table. Test code only: never installed, never linked
 * into facteur.
 *
 * Rules have the form NAME=ERRNO[:COUNT[:SKIP]]: after SKIP matching
 * calls pass, the next COUNT calls fail with ERRNO (COUNT 0 or absent:
 * every call). ERRNO is a name (EIO, ENOSPC, EDQUOT, EMFILE, ...) or a
 * number; "off" or "0" disables the rule. NAME is one of
 *   FSYNC      fsync() and fdatasync() on any descriptor
 *   FSYNC_REG  the same, regular files only (the message file)
 *   FSYNC_DIR  the same, directories only (new/ and tmp/ after a link)
 *   WRITE      write() and writev() to regular files (never fds 0-2)
 *   LINK       link() and linkat()
 *   ACCEPT     accept() and accept4(); the pending connection stays in
 *              the backlog, exactly as with a real EMFILE
 * Rules come from the environment (FAULT_FSYNC=EIO, ...) and from the
 * file named by FAULT_CONTROL, one rule per line ('#' comments), which
 * may be replaced while the process runs: it is re-read when its inode,
 * size or mtime changes, and a rule it names overrides the environment.
 * Reloading resets every rule's SKIP and COUNT. Each injected failure
 * appends a line "<call> <ERRNO> fd=<n>" to the file named by FAULT_LOG,
 * so a test can tell that its fault really fired.
 *
 * Probes, for the sandbox tests: at the first accept (the server is then
 * serving, confined), FAULT_PROBE_OPEN=PATH[:PATH...] tries to open each
 * path read-only and FAULT_PROBE_CREATE=PATH[:PATH...] tries to create
 * each file (removed again); each attempt writes "probe-open PATH OK" or
 * "probe-create PATH EACCES" (the errno) to standard error, which the
 * tests read in the server's log.
 *
 * Calls of the shim's own bookkeeping go through syscall(2) or are not
 * intercepted, so the shim never recurses into itself; a mutex makes it
 * safe on the daemon's worker threads. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum fault_op {
	OP_FSYNC,
	OP_FSYNC_REG,
	OP_FSYNC_DIR,
	OP_WRITE,
	OP_LINK,
	OP_ACCEPT,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	[OP_FSYNC] = "FSYNC",
	[OP_FSYNC_REG] = "FSYNC_REG",
	[OP_FSYNC_DIR] = "FSYNC_DIR",
	[OP_WRITE] = "WRITE",
	[OP_LINK] = "LINK",
	[OP_ACCEPT] = "ACCEPT",
};

struct fault_rule {
	int err;            /* 0: no fault */
	long count;         /* failures left; -1: unlimited */
	long skip;          /* matching calls still to pass */
};

static const struct {
	const char *name;
	int value;
} errno_names[] = {
	{ "EIO", EIO },         { "ENOSPC", ENOSPC },   { "EDQUOT", EDQUOT },
	{ "EMFILE", EMFILE },   { "ENFILE", ENFILE },   { "ENOBUFS", ENOBUFS },
	{ "ENOMEM", ENOMEM },   { "EINTR", EINTR },     { "EAGAIN", EAGAIN },
	{ "EACCES", EACCES },   { "EPERM", EPERM },     { "EROFS", EROFS },
	{ "ECONNABORTED", ECONNABORTED },               { "EFBIG", EFBIG },
	{ "EEXIST", EEXIST },   { "ENOENT", ENOENT },
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct fault_rule env_rules[OP_COUNT];   /* from the environment */
static struct fault_rule rules[OP_COUNT];       /* in force, guarded by mu */
static struct stat control_seen;                /* guarded by mu */
static bool control_present;                    /* guarded by mu */

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_link)(const char *, const char *);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_accept)(int, __SOCKADDR_ARG, socklen_t *__restrict);
static int (*real_accept4)(int, __SOCKADDR_ARG, socklen_t *__restrict, int);

static const char *errno_name(int e)
{
	for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
		if (errno_names[i].value == e)
			return errno_names[i].name;
	return "E?";
}

/* Parses a decimal number of at most 9 digits; false on anything else. */
static bool parse_small(const char *s, size_t len, long *out)
{
	if (len == 0 || len > 9)
		return false;
	long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* "ERRNO[:COUNT[:SKIP]]" -> rule; false when malformed. */
static bool parse_value(const char *v, size_t len, struct fault_rule *r)
{
	const char *end = v + len;
	const char *c1 = memchr(v, ':', len);
	size_t elen = c1 ? (size_t)(c1 - v) : len;
	r->err = 0;
	r->count = -1;
	r->skip = 0;
	if ((elen == 3 && memcmp(v, "off", 3) == 0) || (elen == 1 && v[0] == '0'))
		return true;
	bool known = false;
	for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++) {
		if (strlen(errno_names[i].name) == elen &&
		    memcmp(errno_names[i].name, v, elen) == 0) {
			r->err = errno_names[i].value;
			known = true;
		}
	}
	long n;
	if (!known) {
		if (!parse_small(v, elen, &n) || n <= 0)
			return false;
		r->err = (int)n;
	}
	if (!c1)
		return true;
	const char *p = c1 + 1;
	const char *c2 = memchr(p, ':', (size_t)(end - p));
	size_t clen = c2 ? (size_t)(c2 - p) : (size_t)(end - p);
	if (!parse_small(p, clen, &n))
		return false;
	r->count = n == 0 ? -1 : n;
	if (c2 && !parse_small(c2 + 1, (size_t)(end - c2 - 1), &r->skip))
		return false;
	return true;
}

static int op_by_name(const char *name, size_t len)
{
	if (len > 6 && memcmp(name, "FAULT_", 6) == 0) {
		name += 6;
		len -= 6;
	}
	for (int i = 0; i < OP_COUNT; i++)
		if (strlen(op_names[i]) == len && memcmp(op_names[i], name, len) == 0)
			return i;
	return -1;
}

static void init(void)
{
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	real_link = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "link");
	real_linkat = (int (*)(int, const char *, int, const char *, int))
		dlsym(RTLD_NEXT, "linkat");
	real_accept = (int (*)(int, __SOCKADDR_ARG, socklen_t *__restrict))
		dlsym(RTLD_NEXT, "accept");
	real_accept4 = (int (*)(int, __SOCKADDR_ARG, socklen_t *__restrict, int))
		dlsym(RTLD_NEXT, "accept4");
	for (int i = 0; i < OP_COUNT; i++) {
		char key[32];
		snprintf(key, sizeof key, "FAULT_%s", op_names[i]);
		const char *v = getenv(key);
		if (v && !parse_value(v, strlen(v), &env_rules[i]))
			env_rules[i].err = 0;
		rules[i] = env_rules[i];
	}
}

/* Re-reads FAULT_CONTROL when it changed. Called with mu held. */
static void reload_locked(void)
{
	const char *path = getenv("FAULT_CONTROL");
	if (!path)
		return;
	struct stat st;
	bool present = stat(path, &st) == 0;
	if (present == control_present &&
	    (!present || (st.st_ino == control_seen.st_ino &&
			  st.st_size == control_seen.st_size &&
			  st.st_mtim.tv_sec == control_seen.st_mtim.tv_sec &&
			  st.st_mtim.tv_nsec == control_seen.st_mtim.tv_nsec)))
		return;
	char text[4096];
	size_t len = 0;
	if (present) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			present = false;
		} else {
			for (;;) {
				ssize_t r = read(fd, text + len, sizeof text - 1 - len);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				len += (size_t)r;
				if (len == sizeof text - 1)
					break;
			}
			close(fd);
		}
	}
	control_present = present;
	if (present)
		control_seen = st;
	for (int i = 0; i < OP_COUNT; i++)
		rules[i] = env_rules[i];
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *q = p;
		while (q < le && (*q == ' ' || *q == '\t'))
			q++;
		const char *e = le;
		while (e > q && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		const char *eq = memchr(q, '=', (size_t)(e - q));
		if (q < e && *q != '#' && eq) {
			int op = op_by_name(q, (size_t)(eq - q));
			struct fault_rule r;
			if (op >= 0 && parse_value(eq + 1, (size_t)(e - eq - 1), &r))
				rules[op] = r;
		}
		p = le + 1;
	}
}

/* Appends one line to FAULT_LOG with raw system calls. */
static void note(const char *call, int err, int fd)
{
	const char *path = getenv("FAULT_LOG");
	if (!path)
		return;
	char line[128];
	int n = snprintf(line, sizeof line, "%s %s fd=%d\n", call, errno_name(err), fd);
	if (n <= 0 || (size_t)n >= sizeof line)
		return;
	long lfd = syscall(SYS_openat, AT_FDCWD, path,
			   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return;
	long w = syscall(SYS_write, (int)lfd, line, (size_t)n);
	(void)w;
	syscall(SYS_close, (int)lfd);
}

/* Decides whether this call of op fails; returns the errno or 0. */
static int should_fail(enum fault_op op, const char *call, int fd)
{
	pthread_once(&once, init);
	int saved = errno;
	pthread_mutex_lock(&mu);
	reload_locked();
	struct fault_rule *r = &rules[op];
	int err = 0;
	if (r->err) {
		if (r->skip > 0) {
			r->skip--;
		} else if (r->count != 0) {
			if (r->count > 0)
				r->count--;
			err = r->err;
		}
	}
	pthread_mutex_unlock(&mu);
	if (err)
		note(call, err, fd);
	errno = saved;
	return err;
}

static int fsync_fault(const char *call, int fd)
{
	struct stat st;
	int saved = errno;
	bool have = fstat(fd, &st) == 0;
	errno = saved;
	int e = should_fail(OP_FSYNC, call, fd);
	if (!e && have && S_ISREG(st.st_mode))
		e = should_fail(OP_FSYNC_REG, call, fd);
	if (!e && have && S_ISDIR(st.st_mode))
		e = should_fail(OP_FSYNC_DIR, call, fd);
	return e;
}

int fsync(int fd)
{
	int e = fsync_fault("fsync", fd);
	if (e) {
		errno = e;
		return -1;
	}
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	int e = fsync_fault("fdatasync", fd);
	if (e) {
		errno = e;
		return -1;
	}
	return real_fdatasync(fd);
}

static int write_fault(const char *call, int fd)
{
	if (fd <= 2)
		return 0;
	struct stat st;
	int saved = errno;
	bool reg = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	errno = saved;
	return reg ? should_fail(OP_WRITE, call, fd) : 0;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	pthread_once(&once, init);
	int e = write_fault("write", fd);
	if (e) {
		errno = e;
		return -1;
	}
	return real_write(fd, buf, len);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	pthread_once(&once, init);
	int e = write_fault("writev", fd);
	if (e) {
		errno = e;
		return -1;
	}
	return real_writev(fd, iov, iovcnt);
}

int link(const char *from, const char *to)
{
	int e = should_fail(OP_LINK, "link", -1);
	if (e) {
		errno = e;
		return -1;
	}
	return real_link(from, to);
}

int linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	int e = should_fail(OP_LINK, "linkat", tofd);
	if (e) {
		errno = e;
		return -1;
	}
	return real_linkat(fromfd, from, tofd, to, flags);
}

static void probe_paths(const char *what, const char *list, int flags)
{
	char paths[4096];
	if (!list || snprintf(paths, sizeof paths, "%s", list) >= (int)sizeof paths)
		return;
	char *save = NULL;
	for (char *path = strtok_r(paths, ":", &save); path; path = strtok_r(NULL, ":", &save)) {
		long fd = syscall(SYS_openat, AT_FDCWD, path, flags, 0600);
		int err = fd < 0 ? errno : 0;
		if (fd >= 0) {
			syscall(SYS_close, (int)fd);
			if (flags & O_CREAT)
				syscall(SYS_unlinkat, AT_FDCWD, path, 0);
		}
		char line[4200];
		int n = snprintf(line, sizeof line, "probe-%s %s %s\n", what, path,
				 err ? errno_name(err) : "OK");
		if (n > 0 && (size_t)n < sizeof line) {
			long w = syscall(SYS_write, 2, line, (size_t)n);
			(void)w;
		}
	}
}

static void probe(void)
{
	int saved = errno;
	probe_paths("open", getenv("FAULT_PROBE_OPEN"), O_RDONLY | O_CLOEXEC);
	probe_paths("create", getenv("FAULT_PROBE_CREATE"),
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
	errno = saved;
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
	pthread_once(&probe_once, probe);
	int e = should_fail(OP_ACCEPT, "accept", fd);
	if (e) {
		errno = e;
		return -1;
	}
	return real_accept(fd, addr, len);
}

int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags)
{
	pthread_once(&probe_once, probe);
	int e = should_fail(OP_ACCEPT, "accept4", fd);
	if (e) {
		errno = e;
		return -1;
	}
	return real_accept4(fd, addr, len, flags);
}
