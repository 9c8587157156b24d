#include "daemon/privsep.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "daemon/authd.h"
#include "daemon/store_proc.h"
#include "lib/log.h"
#include "lib/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* How long a stopping server waits for the auth process to notice. */
#define REAP_WAIT_MS 5000

int privsep_lookup_user(const struct conf *c, struct privsep_user *u)
{
	memset(u, 0, sizeof *u);
	if (!c->user || !*c->user)
		return 0;
	if (getuid() != 0 && geteuid() != 0) {
		log_warn("server user=%s ignored: not started as root", c->user);
		return 0;
	}
	struct passwd *pw = getpwnam(c->user);
	if (!pw) {
		log_error("server: no such user '%s'", c->user);
		return -1;
	}
	u->wanted = true;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	snprintf(u->name, sizeof u->name, "%s", c->user);
	return 0;
}

int privsep_become(const struct privsep_user *u, const char *who)
{
	if (!u->wanted)
		return 0;
	if (setgroups(0, NULL) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0) {
		log_error("%s: cannot become %s: %s", who, u->name, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("%s: could regain root after dropping privileges", who);
		return -1;
	}
	log_info("%s running as user=%s uid=%u", who, u->name, (unsigned)u->uid);
	return 0;
}

/* Is path dir itself or inside it? */
static bool inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* What reading file needs: the directory holding it, and the one holding
 * what it points to (a certbot "live" link leads to "archive"), so that
 * a renewed certificate is seen on SIGHUP. A directory that holds the
 * data directory (the account files) is never opened up that way: the
 * file alone is then allowed. */
static size_t add_readable(const char *file, const char *data_dir, char paths[][4096],
			   size_t n, size_t max)
{
	char tmp[4096], real[4096], data_real[4096];
	if (!file || !*file || n + 2 > max)
		return n;
	const char *data = realpath(data_dir, data_real) ? data_real : data_dir;
	const char *names[2] = { file, realpath(file, real) ? real : NULL };
	for (size_t i = 0; i < 2; i++) {
		if (!names[i] || snprintf(tmp, sizeof tmp, "%s", names[i]) >= (int)sizeof tmp)
			continue;
		const char *dir = dirname(tmp);
		char dir_real[4096];
		const char *d = realpath(dir, dir_real) ? dir_real : dir;
		snprintf(paths[n++], sizeof paths[0], "%s", inside(data, d) ? names[i] : dir);
	}
	return n;
}

static int confine(const char *who, const struct sandbox_rule *rules, size_t n)
{
	char err[512] = "";
	int r = sandbox_confine(rules, n, err, sizeof err);
	if (r < 0) {
		log_error("%s sandbox-failed error=\"%s\"", who, err);
		return -1;
	}
	if (r == 0)
		log_warn("%s sandbox-unavailable: this kernel has no Landlock (ABI 2, Linux 5.19) "
			 "so the %s process is not confined to its directories", who, who);
	else
		log_info("%s sandbox landlock-abi=%d", who, sandbox_abi());
	return 0;
}

/* Run at the start of each confined process: what later calls would
 * read from outside the allowed trees is read now. */
static void preload(void)
{
	tzset(); /* /etc/localtime, for the dates of Received: and logs */
}

/* ---- the helper processes ---- */

/* What every helper does first: its name, signals, user, no ptrace. */
static void helper_setup(const char *name, const char *who, const struct privsep_user *u)
{
	prctl(PR_SET_NAME, name, 0, 0, 0);
	/* The network process stops it by closing the socket; a terminal's
	 * ^C or a supervisor's SIGTERM to the group must not cut a login or
	 * a delivery short while the server finishes its sessions. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (privsep_become(u, who) < 0)
		exit(1);
	/* Neither ptrace (even from the network process, its parent and of
	 * the same user) nor a core dump may read its memory: the hashes,
	 * the mail. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	preload();
}

static size_t sanitizer_rules(struct sandbox_rule *rules, size_t n)
{
#ifdef UNDER_SANITIZER
	/* The sanitizers read /proc/self/maps and run llvm-symbolizer. */
	rules[n++] = (struct sandbox_rule){ "/proc", SANDBOX_READ };
	rules[n++] = (struct sandbox_rule){ "/usr", SANDBOX_READ | SANDBOX_EXEC };
#else
	(void)rules;
#endif
	return n;
}

static void auth_child(const struct conf *c, const struct privsep_user *u, int fd)
{
	helper_setup("facteur-auth", "auth", u);
	if (c->sandbox) {
		/* The account files; nothing to write. */
		char aliases_dir[4096];
		struct sandbox_rule rules[4] = { { c->data_dir, SANDBOX_READ } };
		size_t n = 1;
		if (c->aliases_file && *c->aliases_file &&
		    snprintf(aliases_dir, sizeof aliases_dir, "%s", c->aliases_file) <
			    (int)sizeof aliases_dir)
			rules[n++] = (struct sandbox_rule){ dirname(aliases_dir), SANDBOX_READ };
		n = sanitizer_rules(rules, n);
		if (confine("auth", rules, n) < 0)
			exit(1);
	}
	exit(authd_main(c, fd));
}

static void store_child(const struct conf *c, const struct privsep_user *u, int fd)
{
	helper_setup("facteur-store", "store", u);
	if (c->sandbox) {
		/* The Maildirs, and nothing else. */
		char mail[4096];
		snprintf(mail, sizeof mail, "%s/mail", c->data_dir);
		struct sandbox_rule rules[3] = { { mail, SANDBOX_WRITE } };
		size_t n = sanitizer_rules(rules, 1);
		if (confine("store", rules, n) < 0)
			exit(1);
	}
	exit(store_proc_main(c, fd));
}

pid_t privsep_start(enum privsep_helper which, const struct conf *c,
		    const struct privsep_user *u, int keep_from_child, int *fd)
{
	const char *name = which == PRIVSEP_AUTH ? "auth" : "store";
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("server: socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		log_error("server: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		/* Another helper's socket: its end of the network process's
		 * side must not outlive the network process here. */
		if (keep_from_child >= 0)
			close(keep_from_child);
		if (which == PRIVSEP_AUTH)
			auth_child(c, u, sv[1]);
		else
			store_child(c, u, sv[1]);
	}
	close(sv[1]);
	*fd = sv[0];
	log_info("server %s-process pid=%ld", name, (long)pid);
	return pid;
}

void privsep_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	int status = 0;
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return;
		if (waited >= REAP_WAIT_MS) {
			log_warn("server helper pid=%ld did not stop; killing it", (long)pid);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
		nanosleep(&ten_ms, NULL);
	}
	if (WIFSIGNALED(status))
		log_error("server helper pid=%ld killed signal=%d", (long)pid,
			  WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_error("server helper pid=%ld exit=%d", (long)pid, WEXITSTATUS(status));
}

/* ---- the network process ---- */

int privsep_confine_network(const struct conf *c)
{
	if (!c->sandbox)
		return 0;
	preload();
	/* OpenSSL reads its configuration once, at its first use. */
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	static char dirs[8][4096];
	size_t nd = 0;
	snprintf(dirs[nd++], sizeof dirs[0], "%s/queue", c->data_dir);
	size_t nwrite = nd;
	/* SIGHUP reloads the certificate from the same places. */
	if (c->tls_cert && *c->tls_cert) {
		nd = add_readable(c->tls_cert, c->data_dir, dirs, nd, 8);
		nd = add_readable(c->tls_key, c->data_dir, dirs, nd, 8);
	}
	struct sandbox_rule rules[24];
	size_t n = 0;
	for (size_t i = 0; i < nd; i++)
		rules[n++] = (struct sandbox_rule){ dirs[i], i < nwrite ? SANDBOX_WRITE : SANDBOX_READ };
	if (c->relayhost_password_file && *c->relayhost_password_file)
		rules[n++] = (struct sandbox_rule){ c->relayhost_password_file, SANDBOX_READ };
	/* Public files only: the system's CA certificates, looked up one by
	 * one when a relay session checks a certificate (a hashed directory
	 * of links into /usr/share), and what the resolver reads. */
	static const char *const public[] = {
		"/etc/ssl/certs", "/usr/lib/ssl", "/usr/share/ca-certificates",
		"/usr/local/share/ca-certificates", "/etc/resolv.conf", "/etc/hosts",
		"/etc/nsswitch.conf", "/etc/host.conf",
	};
	for (size_t i = 0; i < sizeof public / sizeof public[0]; i++)
		rules[n++] = (struct sandbox_rule){ public[i], SANDBOX_READ };
	const char *cafile = getenv("SSL_CERT_FILE"), *cadir = getenv("SSL_CERT_DIR");
	if (cafile && *cafile)
		rules[n++] = (struct sandbox_rule){ cafile, SANDBOX_READ };
	if (cadir && *cadir)
		rules[n++] = (struct sandbox_rule){ cadir, SANDBOX_READ };
	n = sanitizer_rules(rules, n);
	return confine("network", rules, n);
}
