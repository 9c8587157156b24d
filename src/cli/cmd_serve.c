/* serve: run the server in the foreground until SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "auth/passwd.h"
#include "auth/verify.h"
#include "cli/common.h"
#include "daemon/privsep.h"
#include "daemon/server.h"
#include "lib/log.h"
#include "lib/secure.h"
#include "store/maildir.h"
#include "tls/selfsigned.h"

static const char serve_usage[] =
	"usage: facteur serve [-c FILE]\n"
	"  -c FILE   configuration file (default: the quick-start defaults:\n"
	"            SMTP 127.0.0.1:2525, POP3 127.0.0.1:1100, data in\n"
	"            $FACTEUR_HOME or ./facteur-data)\n"
	"Runs as three processes: this one (sessions, TLS, relay), facteur-auth\n"
	"(the account files) and facteur-store (the Maildirs); see facteur(8).\n";

/* First quick start: an account to try things with, printed once. */
static int create_demo_account(const struct conf *c)
{
	char passwd_path[4096], apop_path[4096], maildir[4096];
	if (cli_data_path(c, "passwd", passwd_path, sizeof passwd_path) < 0 ||
	    cli_data_path(c, "apop", apop_path, sizeof apop_path) < 0)
		return -1;
	struct stat st;
	if (stat(passwd_path, &st) == 0)
		return 0; /* not the first start */

	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY346789";
	unsigned char rnd[16];
	char password[sizeof rnd + 1];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return -1;
	for (size_t i = 0; i < sizeof rnd; i++)
		password[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
	password[sizeof rnd] = '\0';

	const char *domain = c->ndomains ? c->domains[0] : "localhost";
	char name[320];
	snprintf(name, sizeof name, "demo@%s", domain);
	char *hash = verify_hash_password(password, false);
	struct passwd_db users = { 0 }, apop = { 0 };
	char err[512];
	int rc = -1;
	if (!hash || passwd_set(&users, name, hash) < 0 || passwd_set(&apop, name, password) < 0)
		goto out;
	/* The APOP secret file first: the passwd file is what marks the
	 * first start as done. */
	if (passwd_save(apop_path, &apop, err, sizeof err) < 0 ||
	    passwd_save(passwd_path, &users, err, sizeof err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		goto out;
	}
	snprintf(maildir, sizeof maildir, "%s/mail/%s/demo", c->data_dir, domain);
	if (maildir_ensure(maildir, err, sizeof err) < 0)
		fprintf(stderr, "facteur: %s\n", err);
	printf("first start: created the demo account (shown only this once)\n"
	       "  user:     %s\n"
	       "  password: %s\n"
	       "  (also its APOP secret; manage accounts with 'facteur user')\n",
	       name, password);
	rc = 0;
out:
	secure_wipe(password, sizeof password);
	free(hash);
	passwd_free(&users);
	for (size_t i = 0; i < apop.n; i++)
		if (apop.entries[i].value)
			secure_wipe(apop.entries[i].value, strlen(apop.entries[i].value));
	passwd_free(&apop);
	return rc;
}

/* TLS works out of the box: without a certificate, make a self-signed
 * one for the host name (clients must be told to trust it). */
static int prepare_tls(struct conf *c)
{
	char cert[4096], key[4096], err[512];
	if (c->tls_cert && !strcasecmp(c->tls_cert, "none")) {
		/* TLS turned off: no STARTTLS/STLS, no implicit-TLS ports. */
		c->tls_cert[0] = '\0';
		return 0;
	}
	if (cli_tls_paths(c, cert, sizeof cert, key, sizeof key) < 0)
		return -1;
	struct stat st;
	bool have_cert = stat(cert, &st) == 0, have_key = stat(key, &st) == 0;
	if (!have_cert && !have_key) {
		if (cli_mkdir_parent(cert) < 0 || cli_mkdir_parent(key) < 0 ||
		    selfsigned_write(c->hostname, 825, cert, key, err, sizeof err) < 0) {
			fprintf(stderr, "facteur: cannot create a TLS certificate: %s\n", err);
			return -1;
		}
		log_info("server tls-selfsigned cert=%s host=%s", cert, c->hostname);
	}
	char *cdup = strdup(cert), *kdup = strdup(key);
	if (!cdup || !kdup) {
		free(cdup);
		free(kdup);
		return -1;
	}
	free(c->tls_cert);
	free(c->tls_key);
	c->tls_cert = cdup;
	c->tls_key = kdup;
	return 0;
}

/* Started as root with a data directory that belongs to the mail user:
 * what serve created in it (mail/, queue/, a self-signed pair in tls/)
 * must be that user's too, or the server could not write its mail or
 * reload its certificate once it has become that user. */
static void give_to_data_owner(const struct conf *c, const char *mail, const char *queue)
{
	struct stat st;
	if (geteuid() != 0 || stat(c->data_dir, &st) < 0 || st.st_uid == 0)
		return;
	char tls[4096];
	const char *paths[] = { mail, queue, NULL, NULL, NULL };
	size_t n = 2;
	if (cli_data_path(c, "tls", tls, sizeof tls) == 0) {
		size_t len = strlen(tls);
		/* Only the default place: a certificate elsewhere is the
		 * administrator's to own. */
		if (c->tls_cert && !strncmp(c->tls_cert, tls, len) && c->tls_cert[len] == '/') {
			paths[n++] = tls;
			paths[n++] = c->tls_cert;
		}
		if (c->tls_key && !strncmp(c->tls_key, tls, len) && c->tls_key[len] == '/')
			paths[n++] = c->tls_key;
	}
	for (size_t i = 0; i < n; i++)
		if (chown(paths[i], st.st_uid, st.st_gid) < 0 && errno != ENOENT)
			log_warn("server cannot chown %s: %s", paths[i], strerror(errno));
}

/* Each session takes a socket, a POP3 session also its maildrop's lock
 * file, each outbound session a socket: the default soft limit (often
 * 1024) would cap
 * max_connections long before memory does. */
static void raise_fd_limit(const struct conf *c)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = 2 * (rlim_t)c->max_connections + c->relay_max_sessions + 64;
	if (rl.rlim_cur >= want || rl.rlim_cur == RLIM_INFINITY)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("server cannot raise the descriptor limit: %s", strerror(errno));
	if (rl.rlim_cur < want)
		log_warn("server descriptor limit %llu is below the %llu that max_connections=%u "
			 "and relay_max_sessions=%u may need (two per POP3 session); the hard "
			 "limit (ulimit -Hn, LimitNOFILE=) caps it",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)want,
			 c->max_connections, c->relay_max_sessions);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	log_info("server signal=hup");
	server_reload(arg);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("server signal=%d", (int)sig);
	server_shutdown(arg);
}

int cmd_serve(int argc, char **argv)
{
	const char *conf_path = NULL;
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf_path = optarg; break;
		case 'h': fputs(serve_usage, stdout); return 0;
		default: fputs(serve_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(serve_usage, stderr);
		return 2;
	}
	struct conf c;
	if (cli_load_conf(conf_path, &c) < 0)
		return 1;
	log_set_level((enum log_level)c.log_level);
	char mail[4096];
	char queue[4096];
	if (cli_mkdir_p(c.data_dir) < 0 || cli_data_path(&c, "mail", mail, sizeof mail) < 0 ||
	    cli_mkdir_p(mail) < 0 || cli_data_path(&c, "queue", queue, sizeof queue) < 0 ||
	    cli_mkdir_p(queue) < 0) {
		fprintf(stderr, "facteur: cannot create %s: %s\n", c.data_dir, strerror(errno));
		conf_free(&c);
		return 1;
	}
	if (!conf_path && create_demo_account(&c) < 0) {
		fprintf(stderr, "facteur: cannot create the demo account\n");
		conf_free(&c);
		return 1;
	}
	if (prepare_tls(&c) < 0) {
		conf_free(&c);
		return 1;
	}
	give_to_data_owner(&c, mail, queue);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(&c);

	/* Before any event base exists (the child must not share its
	 * epoll set) and before anything listens. */
	int auth_fd = -1, store_fd = -1;
	struct privsep_user user;
	pid_t auth_pid = -1, store_pid = -1;
	if (privsep_lookup_user(&c, &user) < 0 ||
	    (auth_pid = privsep_start(PRIVSEP_AUTH, &c, &user, -1, &auth_fd)) < 0 ||
	    (store_pid = privsep_start(PRIVSEP_STORE, &c, &user, auth_fd, &store_fd)) < 0) {
		if (auth_fd >= 0)
			close(auth_fd);
		privsep_reap(auth_pid);
		conf_free(&c);
		return 1;
	}
	/* Confined before the first thread starts: Landlock holds only for
	 * the threads a confined thread creates. Still root if started so,
	 * to bind the ports; the user changes after. */
	struct event_base *base = NULL;
	struct server srv;
	memset(&srv, 0, sizeof srv);
	int rc = 0;
	if (privsep_confine_network(&c) < 0 || !(base = event_base_new()) ||
	    server_start(&srv, &c, base, auth_fd, store_fd) < 0 || privsep_become(&user, "server") < 0) {
		rc = 1;
	} else {
		log_info("server started version=%s data=%s hostname=%s", FACTEUR_VERSION,
			 c.data_dir, c.hostname);
		struct event *sigterm = evsignal_new(base, SIGTERM, on_stop_signal, &srv);
		struct event *sigint = evsignal_new(base, SIGINT, on_stop_signal, &srv);
		struct event *sighup = evsignal_new(base, SIGHUP, on_hup, &srv);
		evsignal_add(sigterm, NULL);
		evsignal_add(sigint, NULL);
		evsignal_add(sighup, NULL);
		event_base_dispatch(base);
		/* A second signal while we tidy up must not kill the process
		 * (nothing is left to stop; exit 0 as promised). */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		event_free(sigterm);
		event_free(sigint);
		event_free(sighup);
		log_info("server stopped messages=%llu", (unsigned long long)srv.messages_stored);
		rc = srv.exit_status;
	}
	if (base) {
		server_free(&srv); /* closes the sockets: the helpers end */
		event_base_free(base);
	} else {
		close(auth_fd);
		close(store_fd);
	}
	privsep_reap(auth_pid);
	privsep_reap(store_pid);
	conf_free(&c);
	return rc;
}
