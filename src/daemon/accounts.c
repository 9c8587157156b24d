#include "daemon/accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "auth/account.h"
#include "auth/passwd.h"
#include "conf/aliases.h"
#include "lib/buf.h"
#include "lib/log.h"

struct file_stamp {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct accounts {
	const struct conf *conf;
	bool from_files;          /* reads the files (auth process); else fed
				     accounts_set_directory (network process) */
	char passwd_path[4096];
	char apop_path[4096];
	struct passwd_db users;
	struct passwd_db apop;
	struct file_stamp users_stamp, apop_stamp;
	char aliases_path[4096];
	struct aliases *aliases;
	struct buf aliases_text;  /* as read, to publish (from_files only) */
	struct file_stamp aliases_stamp;
	time_t last_check;
};

static struct file_stamp stamp_of(const char *path)
{
	struct file_stamp s;
	memset(&s, 0, sizeof s);
	struct stat st;
	if (stat(path, &st) == 0) {
		s.exists = true;
		s.dev = st.st_dev;
		s.ino = st.st_ino;
		s.size = st.st_size;
		s.mtime = st.st_mtim;
	}
	return s;
}

static bool stamp_same(const struct file_stamp *a, const struct file_stamp *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Returns true when the file changed and was loaded. */
static bool reload(const char *path, struct passwd_db *db, struct file_stamp *stamp)
{
	struct file_stamp now = stamp_of(path);
	if (stamp_same(&now, stamp))
		return false;
	struct passwd_db fresh = { 0 };
	char err[512];
	if (passwd_load(path, &fresh, err, sizeof err) < 0) {
		log_error("accounts reload-failed error=\"%s\"", err);
		return false; /* keep serving with what we had */
	}
	passwd_free(db);
	*db = fresh;
	*stamp = now;
	log_info("accounts loaded file=%s entries=%zu", path, db->n);
	return true;
}

static bool reload_aliases(struct accounts *a)
{
	struct file_stamp now = stamp_of(a->aliases_path);
	if (a->aliases && stamp_same(&now, &a->aliases_stamp))
		return false;
	struct aliases *fresh = NULL;
	struct buf text;
	buf_init(&text, 0);
	char err[512];
	if (aliases_read(a->aliases_path, &text, err, sizeof err) < 0 ||
	    aliases_parse(a->aliases_path, (const char *)text.data, text.len, &fresh, err,
			  sizeof err) < 0) {
		buf_release(&text);
		log_error("aliases reload-failed error=\"%s\"", err);
		return false; /* keep serving with what we had */
	}
	aliases_free(&a->aliases);
	buf_release(&a->aliases_text);
	a->aliases = fresh;
	a->aliases_text = text;
	a->aliases_stamp = now;
	if (now.exists)
		log_info("aliases loaded file=%s entries=%zu", a->aliases_path,
			 aliases_count(fresh));
	return true;
}

static struct accounts *accounts_alloc(const struct conf *c)
{
	struct accounts *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->conf = c;
	buf_init(&a->aliases_text, 0);
	if (snprintf(a->passwd_path, sizeof a->passwd_path, "%s/passwd", c->data_dir) >=
		    (int)sizeof a->passwd_path ||
	    snprintf(a->apop_path, sizeof a->apop_path, "%s/apop", c->data_dir) >=
		    (int)sizeof a->apop_path) {
		free(a);
		return NULL;
	}
	int n = *c->aliases_file
		? snprintf(a->aliases_path, sizeof a->aliases_path, "%s", c->aliases_file)
		: snprintf(a->aliases_path, sizeof a->aliases_path, "%s/aliases", c->data_dir);
	if (n < 0 || (size_t)n >= sizeof a->aliases_path) {
		free(a);
		return NULL;
	}
	return a;
}

struct accounts *accounts_new(const struct conf *c)
{
	struct accounts *a = accounts_alloc(c);
	if (!a)
		return NULL;
	a->from_files = true;
	accounts_check(a);
	return a;
}

struct accounts *accounts_new_directory(const struct conf *c)
{
	struct accounts *a = accounts_alloc(c);
	if (a && aliases_parse("aliases", "", 0, &a->aliases, NULL, 0) < 0)
		accounts_free(&a);
	return a;
}

void accounts_free(struct accounts **ap)
{
	struct accounts *a = *ap;
	if (!a)
		return;
	passwd_free(&a->users);
	passwd_free(&a->apop);
	aliases_free(&a->aliases);
	buf_release(&a->aliases_text);
	free(a);
	*ap = NULL;
}

bool accounts_check(struct accounts *a)
{
	if (!a->from_files)
		return false;
	/* Evaluated one by one: each file reloads on its own change. */
	bool changed = reload(a->passwd_path, &a->users, &a->users_stamp);
	changed = reload(a->apop_path, &a->apop, &a->apop_stamp) || changed;
	changed = reload_aliases(a) || changed;
	return changed;
}

bool accounts_refresh(struct accounts *a, time_t now)
{
	if (now == a->last_check)
		return false;
	a->last_check = now;
	return accounts_check(a);
}

bool accounts_directory(const struct accounts *a, struct buf *names, const char **aliases,
			size_t *aliases_len, const char **aliases_name)
{
	for (size_t i = 0; i < a->users.n; i++)
		if (!buf_append_str(names, a->users.entries[i].name) ||
		    !buf_append_str(names, ":-\n"))
			return false;
	*aliases = a->aliases_text.len ? (const char *)a->aliases_text.data : "";
	*aliases_len = a->aliases_text.len;
	*aliases_name = a->aliases_path;
	return true;
}

int accounts_set_directory(struct accounts *a, const char *names, size_t names_len,
			   const char *aliases, size_t aliases_len, const char *aliases_name,
			   char *err, size_t errlen)
{
	struct passwd_db users = { 0 };
	struct aliases *al = NULL;
	if (passwd_parse(names, names_len, &users, err, errlen) < 0)
		return -1;
	if (aliases_parse(aliases_name, aliases, aliases_len, &al, err, errlen) < 0) {
		passwd_free(&users);
		return -1;
	}
	passwd_free(&a->users);
	aliases_free(&a->aliases);
	a->users = users;
	a->aliases = al;
	return 0;
}

size_t accounts_count(const struct accounts *a)
{
	return a->users.n;
}

static bool is_local_domain(const struct accounts *a, const char *domain)
{
	return conf_is_local_domain(a->conf, domain) || passwd_has_domain(&a->users, domain);
}

/* The account that receives postmaster mail for domain: the configured one
 * if it exists, else postmaster@domain if it exists, else the first account
 * of the domain, else the first account at all. */
static const struct passwd_entry *postmaster_for(const struct accounts *a, const char *domain)
{
	const struct conf *c = a->conf;
	const struct passwd_entry *e = NULL;
	if (c->postmaster && *c->postmaster) {
		e = passwd_resolve_login(&a->users, c->postmaster);
		if (e)
			return e;
	}
	if (domain) {
		char name[300];
		if (snprintf(name, sizeof name, "postmaster@%s", domain) < (int)sizeof name &&
		    (e = passwd_find(&a->users, name)))
			return e;
		for (size_t i = 0; i < a->users.n; i++) {
			const char *at = strrchr(a->users.entries[i].name, '@');
			if (at && !strcasecmp(at + 1, domain))
				return &a->users.entries[i];
		}
	}
	return a->users.n ? &a->users.entries[0] : NULL;
}

enum route_result accounts_route(struct accounts *a, const char *rcpt,
				 char *account, size_t account_sz)
{
	const char *at = strrchr(rcpt, '@');
	const struct passwd_entry *e = NULL;
	if (!at) {
		/* RFC 5321 4.1.1.3: "Postmaster" without a domain, any case. */
		if (strcasecmp(rcpt, "postmaster") != 0)
			return ROUTE_BAD;
		e = postmaster_for(a, a->conf->ndomains ? a->conf->domains[0] : NULL);
	} else {
		const char *domain = at + 1;
		if (!is_local_domain(a, domain))
			return ROUTE_FOREIGN;
		char norm[320];
		if (!account_normalise(rcpt, norm, sizeof norm)) {
			/* Quoted or exotic local parts can't name an account. */
			if ((size_t)(at - rcpt) == 10 && !strncasecmp(rcpt, "postmaster", 10))
				e = postmaster_for(a, domain);
			else
				return ROUTE_UNKNOWN_USER;
		} else {
			e = passwd_find(&a->users, norm);
			if (!e && !strncmp(norm, "postmaster@", 11))
				e = postmaster_for(a, domain);
		}
	}
	if (!e)
		return at ? ROUTE_UNKNOWN_USER : ROUTE_BAD;
	if (snprintf(account, account_sz, "%s", e->name) >= (int)account_sz)
		return ROUTE_BAD;
	return ROUTE_LOCAL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

bool accounts_login(struct accounts *a, const char *login, char **name,
		    char **hash, char **apop_secret)
{
	*name = *hash = *apop_secret = NULL;
	const struct passwd_entry *e = passwd_resolve_login(&a->users, login);
	if (!e)
		return false;
	const struct passwd_entry *s = passwd_find(&a->apop, e->name);
	*name = strdup(e->name);
	*hash = strdup(e->value);
	*apop_secret = dup_or_null(s ? s->value : NULL);
	if (!*name || !*hash || (s && !*apop_secret)) {
		free(*name);
		free(*hash);
		free(*apop_secret);
		*name = *hash = *apop_secret = NULL;
		return false;
	}
	return true;
}

/* ---- alias expansion: the callbacks conf/aliases.c asks for ---- */

static bool env_is_local_domain(void *arg, const char *domain)
{
	return is_local_domain(arg, domain);
}

static bool env_is_account(void *arg, const char *addr)
{
	const struct accounts *a = arg;
	char norm[320];
	return account_normalise(addr, norm, sizeof norm) && passwd_find(&a->users, norm);
}

static const char *env_postmaster(void *arg, const char *domain)
{
	const struct passwd_entry *e = postmaster_for(arg, domain);
	return e ? e->name : NULL;
}

enum alias_result accounts_expand(struct accounts *a, const char *rcpt,
				  struct alias_targets *out)
{
	memset(out, 0, sizeof *out);
	char full[600];
	/* RFC 5321 4.1.1.3: a bare "Postmaster" is postmaster of our first
	 * domain. */
	if (!strchr(rcpt, '@') && !strcasecmp(rcpt, "postmaster") && a->conf->ndomains) {
		snprintf(full, sizeof full, "postmaster@%s", a->conf->domains[0]);
		rcpt = full;
	}
	struct alias_env env = {
		.arg = a,
		.is_local_domain = env_is_local_domain,
		.is_account = env_is_account,
		.postmaster = env_postmaster,
		.delimiter = a->conf->recipient_delimiter,
	};
	return aliases_expand(a->aliases, &env, rcpt, out);
}
