/* Unit tests for lib/sandbox. Landlock confinement cannot be undone, so
 * each case runs in a forked child: it builds its files under the case's
 * fresh directory while still free, confines itself, probes with real
 * syscalls and exits non-zero at the first surprise (after naming the
 * failed check on stderr, which stays open). The parent owns the
 * directory, asserts the exit status and removes the tree. Cases that
 * need enforcement skip when the kernel offers no Landlock ABI >= 2 (as
 * under valgrind 3.19, which does not know the syscalls). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/sandbox.h"

#if defined(__has_include)
#if __has_include(<linux/landlock.h>)
#include <linux/landlock.h>
#endif
#endif

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* In a child: report the failed check and exit through the caller. */
#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: child check failed: %s (errno %d)\n", \
				__FILE__, __LINE__, #cond, errno);                     \
			return 1;                                                      \
		}                                                                      \
	} while (0)

/* landlock_create_ruleset has the same number on every architecture
 * (alpha aside); the fallback lets this test see a kernel with Landlock
 * even when the headers that built sandbox.c could not. */
#ifdef SYS_landlock_create_ruleset
#define NR_LANDLOCK_CREATE_RULESET SYS_landlock_create_ruleset
#else
#define NR_LANDLOCK_CREATE_RULESET 444
#endif

static uint16_t listen_port;

/* ---- parent side ---- */

static int setup(void **state)
{
	char *root = strdup("/tmp/facteur-sandbox-XXXXXX");
	if (!root || !mkdtemp(root)) {
		free(root);
		return -1;
	}
	*state = root;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	char *root = *state;
	int r = nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
	return r;
}

/* The exit status of pid, 128 + the signal that killed it, or -1. */
static int wait_status(pid_t pid)
{
	int st;
	pid_t r;
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* Runs fn(root) in a forked child whose working directory is root. The
 * child leaves with _exit: no exit handlers, so no LeakSanitizer pass in
 * a process that may no longer read /proc, and no stdio buffer copied
 * from the parent gets flushed twice. */
static int run_child(const char *root, int (*fn)(const char *root))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(chdir(root) == 0 ? fn(root) : 100);
	assert_true(pid > 0);
	return wait_status(pid);
}

/* Asked once: valgrind warns on every call it does not know. */
static int kernel_abi(void)
{
	static int abi = -1;
	if (abi < 0)
		abi = sandbox_abi();
	return abi;
}

static void need_landlock(void)
{
	if (kernel_abi() < 2)
		skip();
}

/* Whether sandbox.c can deny truncate(2) and O_TRUNC: the kernel needs
 * ABI 3 (sandbox.c names the right itself when the headers are older). */
static bool truncate_handled(void)
{
	return kernel_abi() >= 3;
}

/* ---- child side ---- */

/* 0 when path opens with flags, else the errno; never leaves it open. */
static int open_errno(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int put(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, "text\n", 5);
	return close(fd) < 0 || w != 5 ? -1 : 0;
}

static bool lists(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool any = readdir(d) != NULL;
	closedir(d);
	return any;
}

/* A cross-tree link or rename refused: Landlock answers EXDEV when only
 * the reparenting is refused, EACCES when the target denies creation. */
static bool refused(int r)
{
	return r < 0 && (errno == EXDEV || errno == EACCES);
}

/* The descriptor the next open would get: unchanged means no leak. */
static int lowest_free_fd(void)
{
	int fd = dup(0);
	if (fd >= 0)
		close(fd);
	return fd;
}

static int no_new_privs(void)
{
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
}

/* sandbox_confine with rule paths relative to root (absolute and empty
 * ones kept). */
static int confine_in(const char *root, const struct sandbox_rule *rel, size_t n, char *err,
		      size_t errlen)
{
	char paths[8][PATH_MAX];
	struct sandbox_rule rules[8];
	if (n > LEN(rules))
		return -2;
	for (size_t i = 0; i < n; i++) {
		rules[i] = rel[i];
		if (rel[i].path && rel[i].path[0] && rel[i].path[0] != '/') {
			snprintf(paths[i], sizeof paths[i], "%s/%s", root, rel[i].path);
			rules[i].path = paths[i];
		}
	}
	return sandbox_confine(rules, n, err, errlen);
}

/* confine_in that is expected to enforce; says why when it does not. */
static bool confined(const char *root, const struct sandbox_rule *rel, size_t n, char *err,
		     size_t errlen)
{
	int r = confine_in(root, rel, n, err, errlen);
	if (r != 1)
		fprintf(stderr, "sandbox_confine: %d: %s\n", r, err);
	return r == 1;
}

static int child_read_tree(const char *root)
{
	static const struct sandbox_rule rules[] = {{"in", SANDBOX_READ}};
	char err[256];
	CHECK(mkdir("in", 0755) == 0 && mkdir("in/sub", 0755) == 0);
	CHECK(put("in/file") == 0 && put("in/sub/deep") == 0);
	int free_fd = lowest_free_fd();
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));
	CHECK(err[0] == '\0');
	CHECK(lowest_free_fd() == free_fd);
	CHECK(no_new_privs() == 1);
	CHECK(open_errno("in/file", O_RDONLY) == 0);
	CHECK(open_errno("in/sub/deep", O_RDONLY) == 0);
	CHECK(lists("in") && lists("in/sub"));
	CHECK(open_errno("in/file", O_WRONLY) == EACCES);
	if (truncate_handled()) {
		CHECK(open_errno("in/file", O_RDONLY | O_TRUNC) == EACCES);
		CHECK(truncate("in/file", 0) < 0 && errno == EACCES);
	}
	CHECK(open_errno("in/new", O_WRONLY | O_CREAT) == EACCES);
	CHECK(mkdir("in/dir", 0755) < 0 && errno == EACCES);
	CHECK(unlink("in/file") < 0 && errno == EACCES);
	CHECK(rename("in/file", "in/file2") < 0 && errno == EACCES);
	CHECK(symlink("file", "in/link") < 0 && errno == EACCES);
	CHECK(mkfifo("in/fifo", 0600) < 0 && errno == EACCES);
	return 0;
}

static void read_tree_allows_reading_only(void **state)
{
	need_landlock();
	assert_int_equal(run_child(*state, child_read_tree), 0);
}

static int child_outside(const char *root)
{
	static const struct sandbox_rule rules[] = {{"in", SANDBOX_READ}};
	char err[256];
	CHECK(mkdir("in", 0755) == 0 && mkdir("out", 0755) == 0);
	CHECK(put("out/secret") == 0 && chmod("out/secret", 0644) == 0);
	CHECK(open_errno("out/secret", O_RDONLY) == 0);
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));
	CHECK(open_errno("out/secret", O_RDONLY) == EACCES);
	CHECK(open_errno("out", O_RDONLY | O_DIRECTORY) == EACCES);
	CHECK(open_errno("/etc/passwd", O_RDONLY) == EACCES);
	CHECK(open_errno("new", O_WRONLY | O_CREAT) == EACCES);
	if (truncate_handled())
		CHECK(truncate("out/secret", 0) < 0 && errno == EACCES);
	return 0;
}

static void file_outside_rules_is_denied(void **state)
{
	need_landlock();
	assert_int_equal(run_child(*state, child_outside), 0);
}

static int child_maildir(const char *root)
{
	static const struct sandbox_rule rules[] = {{"mail", SANDBOX_WRITE},
						    {"spool", SANDBOX_WRITE}};
	char err[256];
	CHECK(mkdir("mail", 0700) == 0 && mkdir("spool", 0700) == 0 && mkdir("out", 0700) == 0);
	CHECK(mkdir("mail/tmp", 0700) == 0 && mkdir("mail/new", 0700) == 0 &&
	      mkdir("mail/cur", 0700) == 0);
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));

	int fd = open("mail/tmp/m1", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, "body\r\n", 6) == 6);
	CHECK(fsync(fd) == 0);
	CHECK(ftruncate(fd, 4) == 0);
	CHECK(close(fd) == 0);
	CHECK(open_errno("mail/tmp", O_RDONLY | O_DIRECTORY) == 0);
	CHECK(link("mail/tmp/m1", "mail/new/m1") == 0);
	CHECK(unlink("mail/tmp/m1") == 0);
	CHECK(rename("mail/new/m1", "mail/cur/m1:2,S") == 0);
	CHECK(rename("mail/cur/m1:2,S", "mail/cur/m1:2,RS") == 0);
	CHECK(lists("mail/cur"));
	CHECK(open_errno("mail/cur/m1:2,RS", O_RDWR) == 0);
	CHECK(open_errno("mail/cur/m1:2,RS", O_WRONLY | O_TRUNC) == 0);
	CHECK(truncate("mail/cur/m1:2,RS", 0) == 0);
	CHECK(mkdir("mail/.Sub", 0700) == 0 && mkdir("mail/.Sub/tmp", 0700) == 0);
	CHECK(rename("mail/cur/m1:2,RS", "mail/.Sub/tmp/m1") == 0);
	CHECK(rename("mail/.Sub/tmp/m1", "spool/m1") == 0);
	CHECK(unlink("spool/m1") == 0);
	CHECK(rmdir("mail/.Sub/tmp") == 0 && rmdir("mail/.Sub") == 0);
	CHECK(mkdir("out/dir", 0700) < 0 && errno == EACCES);
	CHECK(open_errno("out/m", O_WRONLY | O_CREAT) == EACCES);
	return 0;
}

static void write_tree_allows_maildir_delivery(void **state)
{
	need_landlock();
	assert_int_equal(run_child(*state, child_maildir), 0);
}

static int child_escape(const char *root)
{
	static const struct sandbox_rule rules[] = {{"mail", SANDBOX_WRITE}, {"ro", SANDBOX_READ}};
	char err[256];
	CHECK(mkdir("mail", 0700) == 0 && mkdir("mail/new", 0700) == 0);
	CHECK(mkdir("out", 0700) == 0 && mkdir("ro", 0700) == 0);
	CHECK(put("mail/new/m") == 0 && put("ro/f") == 0);
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));
	CHECK(refused(rename("mail/new/m", "out/m")));
	CHECK(refused(link("mail/new/m", "out/m")));
	CHECK(refused(rename("mail/new/m", "ro/m")));
	CHECK(refused(link("mail/new/m", "ro/m")));
	CHECK(refused(rename("ro/f", "mail/new/f")));
	CHECK(open_errno("mail/new/m", O_RDONLY) == 0);
	CHECK(open_errno("ro/f", O_RDONLY) == 0);
	return 0;
}

static void rename_out_of_write_tree_is_denied(void **state)
{
	need_landlock();
	assert_int_equal(run_child(*state, child_escape), 0);
}

static int child_file_rule(const char *root)
{
	/* WRITE on a file must be cut down to the file rights, or the
	 * kernel would refuse the rule. */
	static const struct sandbox_rule rules[] = {{"files/r", SANDBOX_READ},
						    {"files/w", SANDBOX_WRITE}};
	char err[256];
	CHECK(mkdir("files", 0755) == 0);
	CHECK(put("files/r") == 0 && put("files/w") == 0 && put("files/sibling") == 0);
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));
	CHECK(open_errno("files/r", O_RDONLY) == 0);
	CHECK(open_errno("files/r", O_WRONLY) == EACCES);
	CHECK(open_errno("files/w", O_RDWR) == 0);
	CHECK(open_errno("files/sibling", O_RDONLY) == EACCES);
	CHECK(open_errno("files", O_RDONLY | O_DIRECTORY) == EACCES);
	CHECK(open_errno("files/new", O_WRONLY | O_CREAT) == EACCES);
	CHECK(unlink("files/w") < 0 && errno == EACCES);
	return 0;
}

static void file_rule_covers_only_that_file(void **state)
{
	need_landlock();
	assert_int_equal(run_child(*state, child_file_rule), 0);
}

static int child_missing(const char *root)
{
	static const struct sandbox_rule rules[] = {{"missing", SANDBOX_WRITE},
						    {"in", SANDBOX_READ}};
	char err[256];
	CHECK(mkdir("in", 0755) == 0 && mkdir("out", 0755) == 0);
	CHECK(put("in/file") == 0 && put("out/secret") == 0);
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));
	CHECK(strstr(err, "missing") != NULL);
	CHECK(open_errno("in/file", O_RDONLY) == 0);
	CHECK(open_errno("out/secret", O_RDONLY) == EACCES);
	CHECK(mkdir("missing", 0755) < 0 && errno == EACCES);
	return 0;
}

static void missing_rule_path_is_skipped(void **state)
{
	need_landlock();
	assert_int_equal(run_child(*state, child_missing), 0);
}

static int child_inherit(const char *root)
{
	static const struct sandbox_rule rules[] = {{"in", SANDBOX_READ}};
	/* A second, wider layer cannot undo the first: layers only narrow. */
	static const struct sandbox_rule wider[] = {{"/", SANDBOX_READ | SANDBOX_WRITE}};
	char err[256];
	CHECK(mkdir("in", 0755) == 0 && mkdir("out", 0755) == 0);
	CHECK(put("in/file") == 0 && put("out/secret") == 0);
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));
	pid_t pid = fork();
	if (pid == 0) {
		int ok = open_errno("in/file", O_RDONLY) == 0 &&
			 open_errno("out/secret", O_RDONLY) == EACCES &&
			 confined(root, wider, LEN(wider), err, sizeof err) &&
			 open_errno("out/secret", O_RDONLY) == EACCES &&
			 open_errno("in/file", O_WRONLY) == EACCES;
		_exit(ok ? 0 : 1);
	}
	CHECK(pid > 0);
	CHECK(wait_status(pid) == 0);
	return 0;
}

static void children_inherit_confinement(void **state)
{
	need_landlock();
	assert_int_equal(run_child(*state, child_inherit), 0);
}

static int child_net_signal(const char *root)
{
	static const struct sandbox_rule rules[] = {{"in", SANDBOX_READ}};
	char err[256];
	int hold[2];
	CHECK(mkdir("in", 0755) == 0);
	/* Started before confinement, so outside the new domain: a signal
	 * scope would stop the kill below. It leaves when the pipe closes. */
	CHECK(pipe(hold) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(hold[1]);
		_exit(read(hold[0], &c, 1) == 0 ? 0 : 1);
	}
	CHECK(pid > 0);
	close(hold[0]);
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));

	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(listen_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(connect(s, (const struct sockaddr *)&sa, sizeof sa) == 0);
	close(s);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(wait_status(pid) == 128 + SIGKILL);
	close(hold[1]);
	return 0;
}

static void network_and_signals_stay_allowed(void **state)
{
	need_landlock();
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	assert_int_equal(bind(l, (const struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	listen_port = ntohs(sa.sin_port);
	int r = run_child(*state, child_net_signal);
	close(l);
	assert_int_equal(r, 0);
}

/* Runs /usr/bin/true in a grandchild: its exit status, 42 when execve
 * was refused with EACCES. */
static int exec_true(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *const argv[] = {"true", NULL};
		execv("/usr/bin/true", argv);
		_exit(errno == EACCES ? 42 : 43);
	}
	return pid < 0 ? -1 : wait_status(pid);
}

static int child_no_exec(const char *root)
{
	static const struct sandbox_rule rules[] = {{"/", SANDBOX_READ}};
	char err[256];
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));
	CHECK(open_errno("/usr/bin/true", O_RDONLY) == 0);
	CHECK(exec_true() == 42);
	return 0;
}

static int child_exec(const char *root)
{
	static const struct sandbox_rule rules[] = {{"/", SANDBOX_READ | SANDBOX_EXEC}};
	char err[256];
	CHECK(confined(root, rules, LEN(rules), err, sizeof err));
	CHECK(exec_true() == 0);
	CHECK(open_errno("new", O_WRONLY | O_CREAT) == EACCES);
	return 0;
}

static void exec_needs_exec_right(void **state)
{
	need_landlock();
	assert_int_equal(run_child(*state, child_no_exec), 0);
	assert_int_equal(run_child(*state, child_exec), 0);
}

static int child_bad_rules(const char *root)
{
	static const struct sandbox_rule no_path[] = {{NULL, SANDBOX_READ}};
	static const struct sandbox_rule empty_path[] = {{"", SANDBOX_READ}};
	static const struct sandbox_rule no_access[] = {{"in", 0}};
	static const struct sandbox_rule unknown[] = {{"in", 8}};
	static const struct sandbox_rule loop[] = {{"in", SANDBOX_READ}, {"loop", SANDBOX_READ}};
	char err[256];
	CHECK(mkdir("in", 0755) == 0 && put("secret") == 0 && symlink("loop", "loop") == 0);
	int nnp = no_new_privs();
	int free_fd = lowest_free_fd();
	CHECK(sandbox_confine(NULL, 1, err, sizeof err) == -1 && errno == EINVAL);
	CHECK(confine_in(root, no_path, 1, err, sizeof err) == -1 && errno == EINVAL);
	CHECK(strstr(err, "rule 0") != NULL);
	CHECK(confine_in(root, empty_path, 1, err, sizeof err) == -1 && errno == EINVAL);
	CHECK(confine_in(root, no_access, 1, err, sizeof err) == -1 && errno == EINVAL);
	CHECK(confine_in(root, unknown, 1, err, sizeof err) == -1 && errno == EINVAL);
	CHECK(sandbox_confine(unknown, 1, NULL, 0) == -1 && errno == EINVAL);
	if (kernel_abi() >= 2) {
		CHECK(confine_in(root, loop, LEN(loop), err, sizeof err) == -1 && errno == ELOOP);
		CHECK(strstr(err, "/loop") != NULL);
	}
	CHECK(lowest_free_fd() == free_fd);
	CHECK(no_new_privs() == nnp);
	CHECK(open_errno("secret", O_RDONLY) == 0);
	CHECK(open_errno("new", O_WRONLY | O_CREAT) == 0);
	return 0;
}

/* Needs no Landlock: rules are checked before the kernel is asked. */
static void bad_rules_fail_and_change_nothing(void **state)
{
	assert_int_equal(run_child(*state, child_bad_rules), 0);
}

/* Makes landlock_create_ruleset fail with ENOSYS, as on a kernel without
 * Landlock. The filter does not check the architecture: only this
 * process's own native syscalls go through it. */
static int deny_landlock(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_LANDLOCK_CREATE_RULESET, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = LEN(code), .filter = code};
	/* Without CAP_SYS_ADMIN seccomp needs no_new_privs itself; then
	 * the test can no longer see whether sandbox_confine set it. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
		return 0;
	if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

static int child_no_landlock(const char *root)
{
	static const struct sandbox_rule rules[] = {{"in", SANDBOX_READ}};
	char err[256];
	CHECK(mkdir("in", 0755) == 0 && put("secret") == 0);
	CHECK(deny_landlock() == 0);
	int nnp = no_new_privs();
	int free_fd = lowest_free_fd();
	CHECK(sandbox_abi() == 0);
	CHECK(confine_in(root, rules, LEN(rules), err, sizeof err) == 0);
	CHECK(err[0] == '\0');
	CHECK(no_new_privs() == nnp);
	CHECK(lowest_free_fd() == free_fd);
	CHECK(open_errno("secret", O_RDONLY) == 0);
	CHECK(mkdir("dir", 0755) == 0);
	return 0;
}

static void no_landlock_means_unconfined(void **state)
{
	assert_int_equal(run_child(*state, child_no_landlock), 0);
}

/* Guards against a build whose headers hide a Landlock the kernel has:
 * every other case would then skip and prove nothing. */
static void abi_matches_the_kernel(void **state)
{
	long raw = syscall(NR_LANDLOCK_CREATE_RULESET, NULL, 0, 1 /* _VERSION */);
	assert_int_equal(sandbox_abi(), raw > 0 ? raw : 0);
}

/* Each case in its own fresh directory. */
#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(abi_matches_the_kernel),
		CASE(read_tree_allows_reading_only),
		CASE(file_outside_rules_is_denied),
		CASE(write_tree_allows_maildir_delivery),
		CASE(rename_out_of_write_tree_is_denied),
		CASE(file_rule_covers_only_that_file),
		CASE(missing_rule_path_is_skipped),
		CASE(children_inherit_confinement),
		CASE(network_and_signals_stay_allowed),
		CASE(exec_needs_exec_right),
		CASE(bad_rules_fail_and_change_nothing),
		CASE(no_landlock_means_unconfined),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
