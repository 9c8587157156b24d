/* common: configuration loading, data paths and secret input shared by the
 * subcommands.
 *
 * Runs in the short-lived CLI process only (single-threaded). Secrets read
 * here are wiped from every buffer they passed through; the terminal's
 * echo is restored even when the user interrupts the prompt. */
#include "cli/common.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "lib/secure.h"

/* Longest accepted password or APOP secret, in bytes. */
#define CLI_SECRET_MAX 1024

int cli_load_conf(const char *path, struct conf *c)
{
	if (conf_defaults(c) < 0) {
		fprintf(stderr, "facteur: cannot set up the defaults: %s\n", strerror(errno));
		return -1;
	}
	if (!path)
		return 0;
	char err[512];
	if (conf_load(path, c, err, sizeof err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		conf_free(c);
		return -1;
	}
	return 0;
}

int cli_become_data_owner(const struct conf *c)
{
	struct stat st;
	if (geteuid() != 0 || stat(c->data_dir, &st) < 0 || st.st_uid == 0)
		return 0;
	if (setgroups(0, NULL) < 0 || setgid(st.st_gid) < 0 || setuid(st.st_uid) < 0) {
		fprintf(stderr, "facteur: cannot become the owner (uid %u) of %s: %s\n",
			(unsigned)st.st_uid, c->data_dir, strerror(errno));
		return -1;
	}
	return 0;
}

int cli_data_path(const struct conf *c, const char *rel, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s", c->data_dir, rel);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int cli_mkdir_p(const char *path)
{
	char tmp[4096];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof tmp) {
		errno = len ? ENAMETOOLONG : EINVAL;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char saved = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		tmp[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* Reads one line (without the newline) into a CLI_SECRET_MAX buffer.
 * Returns its length, or -1 on EOF before any byte, a read error, an
 * over-long line or a signal (*interrupted set). */
static long read_line(int fd, char *out, volatile sig_atomic_t *interrupted)
{
	size_t n = 0;
	bool too_long = false;
	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR) {
			if (interrupted && *interrupted)
				return -1;
			continue;
		}
		if (r < 0)
			return -1;
		if (r == 0) {
			if (n == 0 && !too_long)
				return -1;
			break;
		}
		if (ch == '\n')
			break;
		if (n < CLI_SECRET_MAX - 1)
			out[n++] = ch;
		else
			too_long = true;
	}
	if (too_long)
		return -1;
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return (long)n;
}

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
	caught_signal = sig;
}

static const int tty_signals[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTSTP };
#define NSIGNALS (sizeof tty_signals / sizeof tty_signals[0])

/* Prompts on /dev/tty with echo off. Returns the line length or -1. */
static long tty_read(int tty, const char *prompt, char *out)
{
	struct termios old, quiet;
	if (tcgetattr(tty, &old) < 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;

	/* No SA_RESTART: a signal interrupts read() so the terminal can be
	 * restored before the signal takes its default effect. */
	struct sigaction sa, saved[NSIGNALS];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	caught_signal = 0;
	for (size_t i = 0; i < NSIGNALS; i++)
		sigaction(tty_signals[i], &sa, &saved[i]);

	long n = -1;
	if (write(tty, prompt, strlen(prompt)) >= 0 &&
	    tcsetattr(tty, TCSAFLUSH, &quiet) == 0) {
		n = read_line(tty, out, &caught_signal);
		while (tcsetattr(tty, TCSAFLUSH, &old) < 0 && errno == EINTR)
			;
		if (write(tty, "\n", 1) < 0)
			n = -1;
	}
	for (size_t i = 0; i < NSIGNALS; i++)
		sigaction(tty_signals[i], &saved[i], NULL);
	if (caught_signal) {
		secure_wipe(out, CLI_SECRET_MAX);
		raise(caught_signal);
		return -1;
	}
	return n;
}

char *cli_read_secret(const char *prompt, int from_stdin, int confirm)
{
	char *first = calloc(1, CLI_SECRET_MAX), *second = NULL;
	char *res = NULL;
	if (!first)
		return NULL;
	if (from_stdin) {
		if (read_line(STDIN_FILENO, first, NULL) < 0)
			fprintf(stderr, "facteur: no secret on standard input "
					"(one line, at most %d bytes)\n", CLI_SECRET_MAX - 1);
		else
			res = strdup(first);
		goto out;
	}
	int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0) {
		fprintf(stderr, "facteur: no terminal to ask on; use --password-stdin\n");
		goto out;
	}
	if (tty_read(tty, prompt, first) < 0) {
		fprintf(stderr, "facteur: no secret read (at most %d bytes)\n",
			CLI_SECRET_MAX - 1);
	} else if (confirm) {
		second = calloc(1, CLI_SECRET_MAX);
		if (second && tty_read(tty, "Again: ", second) >= 0) {
			if (secure_equal(first, strlen(first), second, strlen(second)))
				res = strdup(first);
			else
				fprintf(stderr, "facteur: the two entries differ\n");
		}
	} else {
		res = strdup(first);
	}
	close(tty);
out:
	secure_wipe(first, CLI_SECRET_MAX);
	free(first);
	if (second) {
		secure_wipe(second, CLI_SECRET_MAX);
		free(second);
	}
	return res;
}

int cli_tls_paths(const struct conf *c, char *cert, size_t certsz, char *key, size_t keysz)
{
	/* Unset: <data_dir>/tls/{cert,key}.pem; relative: under data_dir. */
	const char *cv = c->tls_cert && *c->tls_cert ? c->tls_cert : "tls/cert.pem";
	const char *kv = c->tls_key && *c->tls_key ? c->tls_key : "tls/key.pem";
	int n = cv[0] == '/' ? snprintf(cert, certsz, "%s", cv)
			     : snprintf(cert, certsz, "%s/%s", c->data_dir, cv);
	if (n < 0 || (size_t)n >= certsz)
		return -1;
	n = kv[0] == '/' ? snprintf(key, keysz, "%s", kv)
			 : snprintf(key, keysz, "%s/%s", c->data_dir, kv);
	return (n < 0 || (size_t)n >= keysz) ? -1 : 0;
}

int cli_mkdir_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	if ((size_t)(slash - path) >= sizeof dir)
		return -1;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return cli_mkdir_p(dir);
}
