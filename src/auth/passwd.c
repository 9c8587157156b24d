/* passwd: the account database ("name:value" lines).
 *
 * The parser and the lookups are pure; passwd_load and passwd_save are
 * the only functions that touch files. Entries are kept sorted by name so
 * lookups are binary searches (a login runs one per attempt). Values may
 * be clear-text APOP secrets: they are wiped before being freed, and so is
 * every buffer that held the file. */
#include "auth/passwd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/account.h"
#include "lib/buf.h"
#include "lib/secure.h"

/* A passwd file is a few bytes per account; anything larger than this is
 * not ours (and would be read into memory whole). */
#define PASSWD_FILE_MAX (64u * 1024u * 1024u)
/* Values are crypt strings (< 200 bytes) or APOP secrets. */
#define PASSWD_VALUE_MAX 1024

static void wipe_free(char *s)
{
	if (s) {
		secure_wipe(s, strlen(s));
		free(s);
	}
}

static bool value_valid(const char *v, size_t len)
{
	if (len == 0 || len > PASSWD_VALUE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* Index of the first entry whose name is >= key. */
static size_t lower_bound(const struct passwd_db *db, const char *key)
{
	size_t lo = 0, hi = db->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(db->entries[mid].name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct pending {
	char *name;
	char *value;
	size_t line;
};

static int pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

__attribute__((format(printf, 5, 6)))
static void line_err(char *err, size_t errlen, const char *fname, size_t line,
		     const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	int n = fname ? snprintf(err, errlen, "%s:%zu: ", fname, line)
		      : snprintf(err, errlen, "line %zu: ", line);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool blank_or_comment(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i == len || s[i] == '#';
}

static int parse(const char *text, size_t len, struct passwd_db *db,
		 char *err, size_t errlen, const char *fname)
{
	db->entries = NULL;
	db->n = 0;
	struct pending *p = NULL;
	size_t np = 0, cap = 0, lineno = 0, pos = 0;
	int rc = -1;

	while (pos < len) {
		lineno++;
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		pos += ll + (nl ? 1 : 0);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (memchr(line, '\0', ll)) {
			line_err(err, errlen, fname, lineno, "NUL byte");
			goto out;
		}
		if (blank_or_comment(line, ll))
			continue;
		const char *colon = memchr(line, ':', ll);
		if (!colon) {
			line_err(err, errlen, fname, lineno, "missing ':'");
			goto out;
		}
		size_t nlen = (size_t)(colon - line);
		char name[ACCOUNT_NAME_MAX];
		char raw[ACCOUNT_NAME_MAX];
		if (nlen == 0 || nlen >= sizeof raw) {
			line_err(err, errlen, fname, lineno, "invalid account name");
			goto out;
		}
		memcpy(raw, line, nlen);
		raw[nlen] = '\0';
		if (!account_normalise(raw, name, sizeof name)) {
			line_err(err, errlen, fname, lineno, "invalid account name");
			goto out;
		}
		const char *v = colon + 1;
		size_t vlen = ll - nlen - 1;
		if (vlen == 0) {
			line_err(err, errlen, fname, lineno, "empty value for %s", name);
			goto out;
		}
		if (!value_valid(v, vlen)) {
			line_err(err, errlen, fname, lineno,
				 "control character or over-long value for %s", name);
			goto out;
		}
		if (np == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct pending *q = realloc(p, ncap * sizeof *q);
			if (!q) {
				line_err(err, errlen, fname, lineno, "out of memory");
				goto out;
			}
			p = q;
			cap = ncap;
		}
		p[np].name = strdup(name);
		p[np].value = mem_strdup(v, vlen);
		p[np].line = lineno;
		if (!p[np].name || !p[np].value) {
			free(p[np].name);
			wipe_free(p[np].value);
			line_err(err, errlen, fname, lineno, "out of memory");
			goto out;
		}
		np++;
	}

	if (np > 1)
		qsort(p, np, sizeof *p, pending_cmp);
	/* Report the earliest line that repeats a name. */
	size_t dup = 0;
	for (size_t i = 1; i < np; i++) {
		if (strcmp(p[i - 1].name, p[i].name) == 0 && (!dup || p[i].line < p[dup].line))
			dup = i;
	}
	if (dup) {
		line_err(err, errlen, fname, p[dup].line, "duplicate account %s", p[dup].name);
		goto out;
	}
	if (np) {
		db->entries = malloc(np * sizeof *db->entries);
		if (!db->entries) {
			line_err(err, errlen, fname, lineno, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < np; i++) {
			db->entries[i].name = p[i].name;
			db->entries[i].value = p[i].value;
		}
		db->n = np;
		np = 0;
	}
	rc = 0;
out:
	for (size_t i = 0; i < np; i++) {
		free(p[i].name);
		wipe_free(p[i].value);
	}
	free(p);
	return rc;
}

int passwd_parse(const char *text, size_t len, struct passwd_db *db,
		 char *err, size_t errlen)
{
	return parse(text, len, db, err, errlen, NULL);
}

int passwd_load(const char *path, struct passwd_db *db, char *err, size_t errlen)
{
	db->entries = NULL;
	db->n = 0;
	int fd;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		char eb[128];
		snprintf(err, errlen, "%s: %s", path, strerror_r(errno, eb, sizeof eb));
		return -1;
	}
	struct stat st;
	char ebuf[128];
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror_r(errno, ebuf, sizeof ebuf));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > PASSWD_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 S_ISREG(st.st_mode) ? "file too large" : "not a regular file");
		close(fd);
		return -1;
	}
	struct buf b;
	buf_init(&b, PASSWD_FILE_MAX);
	int rc = 0;
	for (;;) {
		if (!buf_reserve(&b, 4096)) {
			snprintf(err, errlen, "%s: too large", path);
			rc = -1;
			break;
		}
		ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path,
				 strerror_r(errno, ebuf, sizeof ebuf));
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
	}
	close(fd);
	if (rc == 0)
		rc = parse((const char *)b.data, b.len, db, err, errlen, path);
	buf_release_secure(&b);
	return rc;
}

/* "dir/file" -> "dir"; "file" -> ".". */
static int parent_dir(const char *path, char *out, size_t outsz)
{
	const char *slash = strrchr(path, '/');
	int n;
	if (!slash)
		n = snprintf(out, outsz, ".");
	else if (slash == path)
		n = snprintf(out, outsz, "/");
	else
		n = snprintf(out, outsz, "%.*s", (int)(slash - path), path);
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int passwd_save(const char *path, const struct passwd_db *db, char *err, size_t errlen)
{
	char dir[4096], tmp[4096];
	int n = snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof tmp || parent_dir(path, dir, sizeof dir) < 0) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < db->n; i++) {
		const struct passwd_entry *e = &db->entries[i];
		if (!e->name || !e->value || strchr(e->name, ':') || strchr(e->name, '\n') ||
		    !value_valid(e->value, strlen(e->value))) {
			snprintf(err, errlen, "%s: refusing to write an invalid entry", path);
			buf_release_secure(&b);
			return -1;
		}
		if (!buf_append_str(&b, e->name) || !buf_append_byte(&b, ':') ||
		    !buf_append_str(&b, e->value) || !buf_append_byte(&b, '\n')) {
			snprintf(err, errlen, "%s: out of memory", path);
			buf_release_secure(&b);
			return -1;
		}
	}
	/* mkostemp creates the file with mode 0600. */
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		char eb[128];
		snprintf(err, errlen, "%s: %s", tmp, strerror_r(errno, eb, sizeof eb));
		buf_release_secure(&b);
		return -1;
	}
	const char *what = NULL;
	if (fchmod(fd, 0600) < 0)
		what = "chmod";
	else if (write_all(fd, b.data, b.len) < 0)
		what = "write";
	else if (fsync(fd) < 0)
		what = "fsync";
	int e = errno;
	buf_release_secure(&b);
	if (close(fd) < 0 && !what && errno != EINTR) {
		what = "close";
		e = errno;
	}
	if (!what && rename(tmp, path) < 0) {
		what = "rename";
		e = errno;
	}
	char ebuf[128];
	if (what) {
		snprintf(err, errlen, "%s: %s: %s", path, what, strerror_r(e, ebuf, sizeof ebuf));
		unlink(tmp);
		errno = e;
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror_r(errno, ebuf, sizeof ebuf));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

void passwd_free(struct passwd_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n; i++) {
		free(db->entries[i].name);
		wipe_free(db->entries[i].value);
	}
	free(db->entries);
	db->entries = NULL;
	db->n = 0;
}

const struct passwd_entry *passwd_find(const struct passwd_db *db, const char *name)
{
	char key[ACCOUNT_NAME_MAX];
	if (!name || !account_normalise(name, key, sizeof key))
		return NULL;
	size_t i = lower_bound(db, key);
	if (i < db->n && strcmp(db->entries[i].name, key) == 0)
		return &db->entries[i];
	return NULL;
}

const struct passwd_entry *passwd_resolve_login(const struct passwd_db *db, const char *login)
{
	if (!login)
		return NULL;
	if (strchr(login, '@'))
		return passwd_find(db, login);
	if (!account_local_valid(login))
		return NULL;
	/* Names sharing "local@" sort next to each other. */
	char key[ACCOUNT_NAME_MAX];
	size_t l = strlen(login);
	if (l + 2 > sizeof key)
		return NULL;
	for (size_t i = 0; i < l; i++)
		key[i] = (login[i] >= 'A' && login[i] <= 'Z') ? (char)(login[i] - 'A' + 'a')
							      : login[i];
	key[l] = '@';
	key[l + 1] = '\0';
	size_t i = lower_bound(db, key);
	if (i >= db->n || strncmp(db->entries[i].name, key, l + 1) != 0)
		return NULL;
	if (i + 1 < db->n && strncmp(db->entries[i + 1].name, key, l + 1) == 0)
		return NULL; /* ambiguous: alice@a and alice@b */
	return &db->entries[i];
}

int passwd_set(struct passwd_db *db, const char *name, const char *value)
{
	char key[ACCOUNT_NAME_MAX];
	if (!name || !value || !account_normalise(name, key, sizeof key) ||
	    !value_valid(value, strlen(value))) {
		errno = EINVAL;
		return -1;
	}
	char *v = strdup(value);
	if (!v)
		return -1;
	size_t i = lower_bound(db, key);
	if (i < db->n && strcmp(db->entries[i].name, key) == 0) {
		wipe_free(db->entries[i].value);
		db->entries[i].value = v;
		return 0;
	}
	char *k = strdup(key);
	struct passwd_entry *e = realloc(db->entries, (db->n + 1) * sizeof *e);
	if (!k || !e) {
		free(k);
		wipe_free(v);
		if (e)
			db->entries = e;
		errno = ENOMEM;
		return -1;
	}
	db->entries = e;
	memmove(&e[i + 1], &e[i], (db->n - i) * sizeof *e);
	e[i].name = k;
	e[i].value = v;
	db->n++;
	return 0;
}

int passwd_remove(struct passwd_db *db, const char *name)
{
	const struct passwd_entry *found = passwd_find(db, name);
	if (!found)
		return -1;
	size_t i = (size_t)(found - db->entries);
	free(db->entries[i].name);
	wipe_free(db->entries[i].value);
	memmove(&db->entries[i], &db->entries[i + 1], (db->n - i - 1) * sizeof *db->entries);
	db->n--;
	if (db->n == 0) {
		free(db->entries);
		db->entries = NULL;
	}
	return 0;
}

bool passwd_has_domain(const struct passwd_db *db, const char *domain)
{
	if (!domain || !*domain)
		return false;
	for (size_t i = 0; i < db->n; i++) {
		const char *at = strchr(db->entries[i].name, '@');
		if (at && strcasecmp(at + 1, domain) == 0)
			return true;
	}
	return false;
}
