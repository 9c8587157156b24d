/* sandbox: Landlock file-system confinement. The network-facing process
 * confines itself once its files are open, so that a bug in a parser
 * that attackers feed cannot read the account files or write outside the
 * mail root: every file-system access outside the listed trees is denied
 * by the kernel, whatever the file modes say. Network and signals are
 * left alone (the process still connects to relays and signals its
 * children). Linux only; a kernel without Landlock leaves it unconfined. */
#ifndef FACTEUR_LIB_SANDBOX_H
#define FACTEUR_LIB_SANDBOX_H

#include <stddef.h>

enum sandbox_access {
	/* read files and list directories beneath the path */
	SANDBOX_READ = 1,
	/* READ plus create, write, truncate, rename/link within and between
	 * allowed trees, remove files and directories, make directories */
	SANDBOX_WRITE = 2,
	/* execute files beneath (only for sanitizer symbolizers) */
	SANDBOX_EXEC = 4,
};

/* path is a directory (the rule covers everything beneath it) or a
 * single file (then only the file rights apply: read, write, truncate,
 * execute). access is a non-zero OR of enum sandbox_access. */
struct sandbox_rule {
	const char *path;
	unsigned access;
};

/* Landlock ABI of the running kernel, 0 when unavailable (disabled, too
 * old, or no syscall). */
int sandbox_abi(void);

/* Restricts this process (and its future children) to the given trees;
 * every other file-system access is denied. Sets PR_SET_NO_NEW_PRIVS.
 * Call it before starting any thread: Landlock confines the calling
 * thread and what it creates afterwards, not threads already running.
 * Descriptors opened before the call keep working.
 * Paths that do not exist are skipped, with a note in err (not an error).
 * Returns 1 when enforced; 0 when the kernel cannot enforce it (no
 * Landlock, or ABI < 2 because ABI 1 refuses every cross-directory
 * link/rename, which Maildir delivery needs), and nothing is changed
 * then; -1 on an error (err filled, errno kept): an invalid rule
 * (EINVAL) or a failing syscall. If the final restrict step fails,
 * PR_SET_NO_NEW_PRIVS may already be set. err may be NULL. */
int sandbox_confine(const struct sandbox_rule *rules, size_t n, char *err, size_t errlen);

#endif
