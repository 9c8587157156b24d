/* user: manage accounts in <data_dir>/passwd and APOP secrets in
 * <data_dir>/apop (both mode 0600, replaced atomically).
 *
 *   facteur user add NAME [--password-stdin] [-c FILE]
 *   facteur user del NAME [-c FILE]
 *   facteur user list [-c FILE]
 *   facteur user passwd NAME [--password-stdin] [-c FILE]
 *   facteur user apop-secret NAME [--password-stdin | --remove] [-c FILE]
 *
 * Changes take an exclusive lock on <data_dir>/.passwd.lock so that two
 * concurrent invocations cannot lose each other's update; the daemon only
 * reads the files, and sees either the old or the new one (rename). Exit
 * status: 0 done, 1 failure, 2 usage error. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "auth/account.h"
#include "auth/passwd.h"
#include "auth/verify.h"
#include "cli/common.h"
#include "lib/escape.h"
#include "lib/secure.h"
#include "store/maildir.h"

static const char user_usage[] =
	"usage: facteur user add NAME [--password-stdin] [-c FILE]\n"
	"       facteur user del NAME [-c FILE]\n"
	"       facteur user list [-c FILE]\n"
	"       facteur user passwd NAME [--password-stdin] [-c FILE]\n"
	"       facteur user apop-secret NAME [--password-stdin | --remove] [-c FILE]\n"
	"\n"
	"NAME is local@domain; a bare local part gets the first configured domain.\n"
	"  -c, --config FILE   configuration file (default: the quick-start defaults)\n"
	"  --password-stdin    read the password or secret as one line from stdin\n"
	"  --remove            (apop-secret) remove the APOP secret\n";

enum user_action { UA_ADD, UA_DEL, UA_LIST, UA_PASSWD, UA_APOP };

struct user_args {
	enum user_action action;
	const char *conf;
	const char *name;
	bool pw_stdin;
	bool remove;
};

/* Prints "facteur: what 'arg'" and the usage; returns exit status 2. */
static int usage_error(const char *what, const char *arg)
{
	if (arg)
		fprintf(stderr, "facteur: %s '%s'\n", what, arg);
	else
		fprintf(stderr, "facteur: %s\n", what);
	fputs(user_usage, stderr);
	return 2;
}

/* Returns 0, 2 on a usage error, or -1 after --help. */
static int parse_args(int argc, char **argv, struct user_args *a)
{
	memset(a, 0, sizeof *a);
	if (argc < 2)
		return usage_error("missing action", NULL);
	const char *act = argv[1];
	if (!strcmp(act, "-h") || !strcmp(act, "--help") || !strcmp(act, "help")) {
		fputs(user_usage, stdout);
		return -1;
	}
	if (!strcmp(act, "add"))
		a->action = UA_ADD;
	else if (!strcmp(act, "del") || !strcmp(act, "delete"))
		a->action = UA_DEL;
	else if (!strcmp(act, "list"))
		a->action = UA_LIST;
	else if (!strcmp(act, "passwd"))
		a->action = UA_PASSWD;
	else if (!strcmp(act, "apop-secret"))
		a->action = UA_APOP;
	else
		return usage_error("unknown action", act);

	bool only_args = false;
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		if (only_args || s[0] != '-' || s[1] == '\0') {
			if (a->name)
				return usage_error("unexpected argument", s);
			a->name = s;
		} else if (!strcmp(s, "--")) {
			only_args = true;
		} else if (!strcmp(s, "-c") || !strcmp(s, "--config")) {
			if (i + 1 >= argc)
				return usage_error("missing file name after", s);
			a->conf = argv[++i];
		} else if (!strncmp(s, "--config=", 9)) {
			a->conf = s + 9;
		} else if (!strncmp(s, "-c", 2)) {
			a->conf = s + 2;
		} else if (!strcmp(s, "--password-stdin")) {
			a->pw_stdin = true;
		} else if (!strcmp(s, "--remove")) {
			a->remove = true;
		} else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			fputs(user_usage, stdout);
			return -1;
		} else {
			return usage_error("unknown option", s);
		}
	}
	if (a->action == UA_LIST && a->name)
		return usage_error("unexpected argument", a->name);
	if (a->action != UA_LIST && !a->name)
		return usage_error("missing account NAME", NULL);
	if (a->pw_stdin && a->action != UA_ADD && a->action != UA_PASSWD &&
	    a->action != UA_APOP)
		return usage_error("--password-stdin only goes with add, passwd, apop-secret", NULL);
	if (a->remove && a->action != UA_APOP)
		return usage_error("--remove only goes with apop-secret", NULL);
	if (a->remove && a->pw_stdin)
		return usage_error("--remove and --password-stdin exclude each other", NULL);
	return 0;
}

/* NAME -> normalised "local@domain"; a bare local part gets the first
 * configured domain. */
static int resolve_name(const struct conf *c, const char *arg, char *out, size_t outsz)
{
	char full[ACCOUNT_NAME_MAX + 1];
	int n = strchr(arg, '@') ? snprintf(full, sizeof full, "%s", arg)
				 : snprintf(full, sizeof full, "%s@%s", arg,
					    c->ndomains ? c->domains[0] : "localhost");
	if (n < 0 || (size_t)n >= sizeof full || !account_normalise(full, out, outsz)) {
		char esc[160];
		fprintf(stderr,
			"facteur: invalid account name \"%s\" (local@domain: letters, digits, "
			"!#$%%&'*+=?^_`{|}~.- before the '@')\n",
			escape_log(esc, sizeof esc, (const uint8_t *)arg, strlen(arg)));
		return -1;
	}
	return 0;
}

struct user_files {
	char passwd[4096];
	char apop[4096];
	int lock;
};

static int file_paths(const struct conf *c, struct user_files *f)
{
	f->lock = -1;
	if (cli_data_path(c, "passwd", f->passwd, sizeof f->passwd) < 0 ||
	    cli_data_path(c, "apop", f->apop, sizeof f->apop) < 0) {
		fprintf(stderr, "facteur: data_dir path too long\n");
		return -1;
	}
	return 0;
}

/* Creates data_dir and takes the update lock (waits for another
 * "facteur user" to finish). Never held while a human types: callers
 * ask for the secret first, then lock, reload and check again. */
static int lock_files(const struct conf *c, struct user_files *f)
{
	char lock[4096];
	if (cli_mkdir_p(c->data_dir) < 0) {
		fprintf(stderr, "facteur: cannot create %s: %s\n", c->data_dir, strerror(errno));
		return -1;
	}
	if (cli_data_path(c, ".passwd.lock", lock, sizeof lock) < 0) {
		fprintf(stderr, "facteur: data_dir path too long\n");
		return -1;
	}
	f->lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f->lock < 0) {
		fprintf(stderr, "facteur: %s: %s\n", lock, strerror(errno));
		return -1;
	}
	int r;
	do
		r = flock(f->lock, LOCK_EX);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		fprintf(stderr, "facteur: %s: lock: %s\n", lock, strerror(errno));
		close(f->lock);
		f->lock = -1;
		return -1;
	}
	return 0;
}

static void close_files(struct user_files *f)
{
	if (f->lock >= 0)
		close(f->lock);
	f->lock = -1;
}

static int load(const char *path, struct passwd_db *db)
{
	char err[512];
	if (passwd_load(path, db, err, sizeof err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		return -1;
	}
	return 0;
}

static int save(const char *path, const struct passwd_db *db)
{
	char err[512];
	if (passwd_save(path, db, err, sizeof err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		return -1;
	}
	return 0;
}

/* Loads passwd and checks that name is (must_exist) or is not there.
 * Returns 0, or -1 after printing why. */
static int load_check(const char *path, struct passwd_db *db, const char *name,
		      bool must_exist)
{
	if (load(path, db) < 0)
		return -1;
	bool found = passwd_find(db, name) != NULL;
	if (found == must_exist)
		return 0;
	if (found)
		fprintf(stderr, "facteur: account %s already exists\n", name);
	else
		fprintf(stderr, "facteur: no account %s\n", name);
	return -1;
}

/* Asks for a password and returns its crypt hash (malloc()ed) or NULL. */
static char *ask_hash(const char *name, bool from_stdin)
{
	char prompt[ACCOUNT_NAME_MAX + 32];
	snprintf(prompt, sizeof prompt, "Password for %s: ", name);
	char *pw = cli_read_secret(prompt, from_stdin, !from_stdin);
	if (!pw)
		return NULL;
	char *hash = NULL;
	if (!*pw)
		fprintf(stderr, "facteur: empty password refused\n");
	else if (!(hash = verify_hash_password(pw, false)))
		fprintf(stderr, "facteur: cannot hash the password\n");
	secure_wipe(pw, strlen(pw));
	free(pw);
	return hash;
}

static int user_add(const struct conf *c, const char *name, const struct user_args *a)
{
	if (!strchr(name, '@') || !conf_is_local_domain(c, strchr(name, '@') + 1)) {
		fprintf(stderr, "facteur: %s is not in a local domain (domains = ", name);
		for (size_t i = 0; i < c->ndomains; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", c->domains[i]);
		fprintf(stderr, ")\n");
		return 1;
	}
	struct user_files f;
	struct passwd_db db = { 0 };
	char *hash = NULL;
	int rc = 1;
	if (file_paths(c, &f) < 0)
		return 1;
	/* Check before asking, and again under the lock. */
	if (load_check(f.passwd, &db, name, false) < 0)
		goto out;
	passwd_free(&db);
	if (!(hash = ask_hash(name, a->pw_stdin)))
		goto out;
	if (lock_files(c, &f) < 0 || load_check(f.passwd, &db, name, false) < 0)
		goto out;
	char maildir[4096], err[512];
	if (maildir_account_path(c->data_dir, name, maildir, sizeof maildir) < 0 ||
	    maildir_ensure(maildir, err, sizeof err) < 0) {
		fprintf(stderr, "facteur: cannot create the maildir: %s\n",
			errno == ENAMETOOLONG ? "path too long" : err);
		goto out;
	}
	if (passwd_set(&db, name, hash) < 0) {
		fprintf(stderr, "facteur: %s\n", strerror(errno));
		goto out;
	}
	if (save(f.passwd, &db) < 0)
		goto out;
	printf("added %s (mail in %s)\n", name, maildir);
	rc = 0;
out:
	free(hash);
	passwd_free(&db);
	close_files(&f);
	return rc;
}

static int user_del(const struct conf *c, const char *name)
{
	struct user_files f;
	struct passwd_db db = { 0 }, apop = { 0 };
	int rc = 1;
	if (file_paths(c, &f) < 0)
		return 1;
	if (lock_files(c, &f) < 0 || load(f.passwd, &db) < 0 || load(f.apop, &apop) < 0)
		goto out;
	if (passwd_remove(&db, name) < 0) {
		fprintf(stderr, "facteur: no account %s\n", name);
		goto out;
	}
	/* The secret goes first: an APOP secret without an account is inert,
	 * an account whose secret could not be removed is not. */
	if (passwd_remove(&apop, name) == 0 && save(f.apop, &apop) < 0)
		goto out;
	if (save(f.passwd, &db) < 0)
		goto out;
	char maildir[4096];
	if (maildir_account_path(c->data_dir, name, maildir, sizeof maildir) == 0)
		printf("removed %s; its mail is left in %s\n", name, maildir);
	else
		printf("removed %s; its mail is left on disk\n", name);
	rc = 0;
out:
	passwd_free(&db);
	passwd_free(&apop);
	close_files(&f);
	return rc;
}

static int user_list(const struct conf *c)
{
	struct user_files f;
	struct passwd_db db = { 0 }, apop = { 0 };
	if (file_paths(c, &f) < 0)
		return 1;
	int rc = 1;
	if (load(f.passwd, &db) < 0 || load(f.apop, &apop) < 0)
		goto out;
	for (size_t i = 0; i < db.n; i++)
		printf("%s%s\n", db.entries[i].name,
		       passwd_find(&apop, db.entries[i].name) ? " (apop)" : "");
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	passwd_free(&db);
	passwd_free(&apop);
	close_files(&f);
	return rc;
}

static int user_passwd(const struct conf *c, const char *name, const struct user_args *a)
{
	struct user_files f;
	struct passwd_db db = { 0 };
	char *hash = NULL;
	int rc = 1;
	if (file_paths(c, &f) < 0)
		return 1;
	if (load_check(f.passwd, &db, name, true) < 0)
		goto out;
	passwd_free(&db);
	if (!(hash = ask_hash(name, a->pw_stdin)))
		goto out;
	if (lock_files(c, &f) < 0 || load_check(f.passwd, &db, name, true) < 0)
		goto out;
	if (passwd_set(&db, name, hash) < 0) {
		fprintf(stderr, "facteur: %s\n", strerror(errno));
		goto out;
	}
	if (save(f.passwd, &db) < 0)
		goto out;
	printf("password changed for %s\n", name);
	rc = 0;
out:
	free(hash);
	passwd_free(&db);
	close_files(&f);
	return rc;
}

static int user_apop(const struct conf *c, const char *name, const struct user_args *a)
{
	struct user_files f;
	struct passwd_db db = { 0 }, apop = { 0 };
	char *secret = NULL;
	int rc = 1;
	if (file_paths(c, &f) < 0)
		return 1;
	if (load_check(f.passwd, &db, name, true) < 0)
		goto out;
	passwd_free(&db);
	if (!a->remove) {
		char prompt[ACCOUNT_NAME_MAX + 32];
		snprintf(prompt, sizeof prompt, "APOP secret for %s: ", name);
		if (!(secret = cli_read_secret(prompt, a->pw_stdin, !a->pw_stdin)))
			goto out;
	}
	if (lock_files(c, &f) < 0 || load_check(f.passwd, &db, name, true) < 0 ||
	    load(f.apop, &apop) < 0)
		goto out;
	if (a->remove) {
		if (passwd_remove(&apop, name) < 0) {
			fprintf(stderr, "facteur: %s has no APOP secret\n", name);
			goto out;
		}
		if (save(f.apop, &apop) < 0)
			goto out;
		printf("APOP secret removed for %s\n", name);
		rc = 0;
		goto out;
	}
	if (passwd_set(&apop, name, secret) < 0) {
		fprintf(stderr, "facteur: %s\n",
			errno == EINVAL ? "the secret must be 1 to 1024 bytes without control "
					  "characters"
					: strerror(errno));
		goto out;
	}
	if (save(f.apop, &apop) < 0)
		goto out;
	/* RFC 1939 7: APOP needs the secret itself on the server. */
	printf("APOP secret set for %s (kept in clear text in %s, mode 0600)\n", name, f.apop);
	rc = 0;
out:
	if (secret) {
		secure_wipe(secret, strlen(secret));
		free(secret);
	}
	passwd_free(&db);
	passwd_free(&apop);
	close_files(&f);
	return rc;
}

int cmd_user(int argc, char **argv)
{
	struct user_args a;
	int r = parse_args(argc, argv, &a);
	if (r < 0)
		return 0;
	if (r > 0)
		return r;
	struct conf c;
	if (cli_load_conf(a.conf, &c) < 0)
		return 1;
	if (cli_become_data_owner(&c) < 0) {
		conf_free(&c);
		return 1;
	}
	char name[ACCOUNT_NAME_MAX];
	if (a.action != UA_LIST && resolve_name(&c, a.name, name, sizeof name) < 0) {
		conf_free(&c);
		return 1;
	}
	int rc = 1;
	switch (a.action) {
	case UA_ADD:
		rc = user_add(&c, name, &a);
		break;
	case UA_DEL:
		rc = user_del(&c, name);
		break;
	case UA_LIST:
		rc = user_list(&c);
		break;
	case UA_PASSWD:
		rc = user_passwd(&c, name, &a);
		break;
	case UA_APOP:
		rc = user_apop(&c, name, &a);
		break;
	}
	conf_free(&c);
	return rc;
}
