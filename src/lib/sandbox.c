/* sandbox: confines the calling process with Landlock, so that only the
 * trees the caller lists can be reached through the file system. Talks
 * to the kernel through three raw syscalls (glibc 2.36 has no wrappers).
 * Runs once, at start-up, before any thread exists. No policy: which
 * trees and which rights come from the caller. Network rights and scopes
 * are deliberately not handled: the process must still connect to any
 * port and signal its children. */
#include "lib/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/landlock.h>)
#include <linux/landlock.h>
#endif
#endif

#include "lib/sysio.h"

#define SANDBOX_ALL (SANDBOX_READ | SANDBOX_WRITE | SANDBOX_EXEC)

/* Asking for the ABI needs only the syscall; enforcing also needs REFER
 * in the headers, since without it links and renames between directories
 * are always refused (ABI 1 semantics). */
#if defined(SYS_landlock_create_ruleset) && defined(LANDLOCK_CREATE_RULESET_VERSION)
#define SANDBOX_HAVE_ABI 1
#else
#define SANDBOX_HAVE_ABI 0
#endif
#if SANDBOX_HAVE_ABI && defined(SYS_landlock_add_rule) && \
	defined(SYS_landlock_restrict_self) && defined(LANDLOCK_ACCESS_FS_REFER)
#define SANDBOX_HAVE_LANDLOCK 1
#else
#define SANDBOX_HAVE_LANDLOCK 0
#endif

int sandbox_abi(void)
{
#if SANDBOX_HAVE_ABI
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return abi > 0 && abi <= INT_MAX ? (int)abi : 0;
#else
	return 0;
#endif
}

#if SANDBOX_HAVE_LANDLOCK

/* Rights newer than Debian 12's headers (Linux 6.1): their values are
 * kernel ABI and never change, so an older build still restricts them on
 * a newer kernel (truncate(2) outside the mail root, above all). They
 * are handled only when the running ABI has them (ABI 3 and 5). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define FS_TRUNCATE LANDLOCK_ACCESS_FS_TRUNCATE
#define FS_IOCTL_DEV LANDLOCK_ACCESS_FS_IOCTL_DEV

#define FS_ABI1                                                                 \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |           \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |           \
	 LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |       \
	 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |           \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |           \
	 LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |         \
	 LANDLOCK_ACCESS_FS_MAKE_SYM)
#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE                                                                \
	(FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |         \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER | FS_TRUNCATE)
/* The only rights the kernel accepts on a rule whose path is not a
 * directory; any other bit there makes landlock_add_rule fail (EINVAL). */
#define FS_FILE                                                                 \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |           \
	 LANDLOCK_ACCESS_FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV)

/* Every file-system right the ABI knows is handled, including those no
 * rule ever grants (devices, FIFOs, sockets, symlinks): handled and never
 * granted means denied everywhere. A right left out would stay allowed
 * everywhere. */
static uint64_t handled_rights(int abi)
{
	uint64_t h = FS_ABI1 | LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		h |= FS_TRUNCATE;
	if (abi >= 5)
		h |= FS_IOCTL_DEV;
	return h;
}

static uint64_t rule_rights(unsigned access)
{
	uint64_t r = 0;
	if (access & SANDBOX_READ)
		r |= FS_READ;
	if (access & SANDBOX_WRITE)
		r |= FS_WRITE;
	if (access & SANDBOX_EXEC)
		r |= LANDLOCK_ACCESS_FS_EXECUTE;
	return r;
}

/* Adds one rule to the ruleset: 1 when added, 0 when the path does not
 * exist (nothing to allow; the caller notes it), -1 on an error. */
static int add_rule(int ruleset, const struct sandbox_rule *rule, uint64_t handled, char *err,
		    size_t errlen)
{
	int fd = sysio_openat(AT_FDCWD, rule->path, O_PATH | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		sysio_err(err, errlen, errno, "sandbox: open %s", rule->path);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		sysio_err(err, errlen, errno, "sandbox: stat %s", rule->path);
		sysio_close_keep_errno(fd);
		return -1;
	}
	struct landlock_path_beneath_attr beneath = {
		.allowed_access = rule_rights(rule->access) & handled,
		.parent_fd = fd,
	};
	if (!S_ISDIR(st.st_mode))
		beneath.allowed_access &= FS_FILE;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) < 0) {
		sysio_err(err, errlen, errno, "sandbox: landlock_add_rule %s", rule->path);
		sysio_close_keep_errno(fd);
		return -1;
	}
	close(fd);
	return 1;
}

static int enforce(const struct sandbox_rule *rules, size_t n, int abi, char *err, size_t errlen)
{
	uint64_t handled = handled_rights(abi);
	/* Zeroed beyond handled_access_fs: net rights and scopes stay
	 * unhandled, so TCP connections and signals are not restricted. */
	struct landlock_ruleset_attr attr = {.handled_access_fs = handled};
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (ruleset < 0) {
		sysio_err(err, errlen, errno, "sandbox: landlock_create_ruleset");
		return -1;
	}
	size_t missing = 0;
	const char *first_missing = NULL;
	for (size_t i = 0; i < n; i++) {
		int r = add_rule(ruleset, &rules[i], handled, err, errlen);
		if (r < 0) {
			sysio_close_keep_errno(ruleset);
			return -1;
		}
		if (r == 0 && missing++ == 0)
			first_missing = rules[i].path;
	}
	/* The kernel insists on no_new_privs: a confined process must not
	 * exec a set-uid program that would run with its rights reduced in
	 * ways the program does not expect. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		sysio_err(err, errlen, errno, "sandbox: prctl(PR_SET_NO_NEW_PRIVS)");
		sysio_close_keep_errno(ruleset);
		return -1;
	}
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		sysio_err(err, errlen, errno, "sandbox: landlock_restrict_self");
		sysio_close_keep_errno(ruleset);
		return -1;
	}
	close(ruleset);
	if (missing)
		sysio_err(err, errlen, 0, "sandbox: skipped %zu missing path(s), first %s", missing,
			  first_missing);
	return 1;
}

#endif

int sandbox_confine(const struct sandbox_rule *rules, size_t n, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (n && !rules) {
		sysio_err(err, errlen, EINVAL, "sandbox: no rules");
		return -1;
	}
	/* Checked before asking the kernel, so a bad rule fails the same
	 * way on every kernel. */
	for (size_t i = 0; i < n; i++) {
		const struct sandbox_rule *r = &rules[i];
		if (!r->path || !r->path[0] || !r->access || (r->access & ~(unsigned)SANDBOX_ALL)) {
			sysio_err(err, errlen, EINVAL, "sandbox: rule %zu: bad path or access", i);
			return -1;
		}
	}
#if SANDBOX_HAVE_LANDLOCK
	int abi = sandbox_abi();
	/* ABI 1 refuses every link or rename between directories, and
	 * Maildir delivery moves files from tmp/ to new/. */
	if (abi >= 2)
		return enforce(rules, n, abi, err, errlen);
#endif
	return 0;
}
