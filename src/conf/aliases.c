/* aliases: the aliases file (aliases(5) syntax, without files and programs)
 * and the expansion of a recipient into accounts and remote addresses.
 *
 * aliases_parse is pure (text in, table out) and is what the tests and the
 * fuzzer drive; aliases_load only reads the file. Expansion is pure too: it
 * asks the rest of facteur about domains and accounts through alias_env.
 * The file is written by the administrator, but the addresses expanded come
 * from SMTP clients, so the expansion has hard limits on depth and fan-out
 * and never takes time or memory that grows with what a client sends. */
#include "conf/aliases.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/escape.h"
#include "proto/limits.h"
#include "proto/smtp_addr.h"

/* 100000 names of a few hundred bytes each; far more is no aliases file. */
#define ALIASES_FILE_MAX (64 * 1024 * 1024)
#define ALIASES_LINE_MAX 4096
#define ALIASES_TARGETS_MAX 1000
#define ALIASES_NAMES_MAX 100000
/* The expansion limits of aliases.h (like Postfix's expansion_limit). */
#define ALIASES_DEPTH_MAX 16
#define ALIASES_EXPAND_MAX 1000

struct alias_entry {
	char *name;      /* lower-case: "local", "local@domain" or "@domain" */
	size_t namelen;
	char **targets;  /* "local" or "local@domain", domain lower-cased */
	size_t ntargets;
	size_t cap;
	size_t line;     /* where it was defined, for the duplicate error */
};

struct aliases {
	struct alias_entry *e;
	size_t n;
	size_t cap;
	/* Open addressing over e: entry index + 1, 0 = empty. A power of two
	 * kept at least twice n, so probes stay short with 100000 names. */
	size_t *slots;
	size_t nslots;
};

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static void lower_n(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s[i] = lower(s[i]);
}

/* RFC 5322 3.2.3 atext. */
static bool is_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 4.1.2 Dot-string within 4.5.3.1.1's 64 octets. */
static bool dot_string_valid(const char *s, size_t n)
{
	if (n == 0 || n > LIMIT_SMTP_LOCAL_PART || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext(s[i]))
			return false;
	}
	return true;
}

/* RFC 5321 4.1.2 Quoted-string as smtp_addr writes it: printable ASCII
 * and SP, '"' and '\\' escaped. */
static bool quoted_valid(const char *s, size_t n)
{
	if (n < 2 || n > LIMIT_SMTP_LOCAL_PART + 2 || s[0] != '"' || s[n - 1] != '"')
		return false;
	for (size_t i = 1; i < n - 1; i++) {
		if (s[i] < 32 || s[i] > 126 || s[i] == '"')
			return false;
		if (s[i] == '\\' && ++i >= n - 1)
			return false;
	}
	return true;
}

static uint64_t hash_key(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The slot holding key (lower-case), or the empty slot where it would go. */
static size_t *find_slot(const struct aliases *a, const char *key, size_t n)
{
	size_t mask = a->nslots - 1;
	for (size_t i = (size_t)hash_key(key, n) & mask;; i = (i + 1) & mask) {
		size_t *s = &a->slots[i];
		if (*s == 0)
			return s;
		const struct alias_entry *e = &a->e[*s - 1];
		if (e->namelen == n && memcmp(e->name, key, n) == 0)
			return s;
	}
}

static const struct alias_entry *lookup(const struct aliases *a, const char *key, size_t n)
{
	if (!a || a->n == 0)
		return NULL;
	size_t s = *find_slot(a, key, n);
	return s ? &a->e[s - 1] : NULL;
}

static bool grow_slots(struct aliases *a)
{
	size_t n = a->nslots ? a->nslots * 2 : 64;
	size_t *slots = calloc(n, sizeof *slots);
	if (!slots)
		return false;
	free(a->slots);
	a->slots = slots;
	a->nslots = n;
	for (size_t i = 0; i < a->n; i++)
		*find_slot(a, a->e[i].name, a->e[i].namelen) = i + 1;
	return true;
}

void aliases_free(struct aliases **ap)
{
	struct aliases *a = *ap;
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++) {
		for (size_t t = 0; t < a->e[i].ntargets; t++)
			free(a->e[i].targets[t]);
		free(a->e[i].targets);
		free(a->e[i].name);
	}
	free(a->e);
	free(a->slots);
	free(a);
	*ap = NULL;
}

size_t aliases_count(const struct aliases *a)
{
	return a ? a->n : 0;
}

/* ---- parsing ---- */

struct parser {
	const char *file;
	char *err;
	size_t errlen;
	size_t line;
	struct aliases *a;
	bool open;        /* the last entry may still take continuation lines */
	bool want_target; /* after the ':' or a ',' */
	size_t open_line; /* line of the last ':' or ',' seen, for errors */
};

static int perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parser *p, const char *fmt, ...)
{
	if (!p->err || p->errlen == 0)
		return -1;
	int n = snprintf(p->err, p->errlen, "%s:%zu: ", p->file, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Names and targets from the file go into error messages escaped. */
static const char *esc(char *out, size_t outsz, const char *s, size_t n)
{
	return escape_log(out, outsz, (const uint8_t *)s, n);
}

/* "local", "local@domain" or "@domain". */
static bool name_valid(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	if (!at)
		return dot_string_valid(s, n);
	size_t l = (size_t)(at - s);
	return (l == 0 || dot_string_valid(s, l)) &&
	       smtp_addr_domain_valid(at + 1, n - l - 1, false);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* NULL when s[0..n) is a usable target, else why not. Files and programs
 * (aliases(5) "/path", "|command", ":include:") would run with the
 * server's rights on the say of whoever can edit the file; facteur has no
 * local delivery agent for them and refuses rather than ignores them. */
static const char *target_problem(const char *s, size_t n)
{
	if (memchr(s, '|', n) || memchr(s, '/', n) ||
	    (n >= 9 && strncasecmp(s, ":include:", 9) == 0))
		return "files and programs are not supported";
	for (size_t i = 0; i < n; i++)
		if (is_blank(s[i]))
			return "targets are separated by ','";
	if (n > LIMIT_SMTP_PATH)
		return "target longer than 256 bytes";
	const char *at = memchr(s, '@', n);
	size_t l = at ? (size_t)(at - s) : n;
	if (!dot_string_valid(s, l) || (at && !smtp_addr_domain_valid(at + 1, n - l - 1, false)))
		return "bad target (expected local or local@domain)";
	return NULL;
}

static int add_entry(struct parser *p, const char *name, size_t n)
{
	struct aliases *a = p->a;
	if (a->n >= ALIASES_NAMES_MAX)
		return perr(p, "more than %d aliases", ALIASES_NAMES_MAX);
	if ((a->n + 1) * 2 > a->nslots && !grow_slots(a))
		return perr(p, "out of memory");
	char *key = mem_strdup(name, n);
	if (!key)
		return perr(p, "out of memory");
	lower_n(key, n);
	size_t *slot = find_slot(a, key, n);
	if (*slot) {
		char e[128];
		int rc = perr(p, "duplicate alias \"%s\" (first on line %zu)",
			      esc(e, sizeof e, name, n), a->e[*slot - 1].line);
		free(key);
		return rc;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct alias_entry *grown = realloc(a->e, cap * sizeof *grown);
		if (!grown) {
			free(key);
			return perr(p, "out of memory");
		}
		a->e = grown;
		a->cap = cap;
	}
	a->e[a->n] = (struct alias_entry){ .name = key, .namelen = n, .line = p->line };
	*slot = ++a->n;
	return 0;
}

static int add_target(struct parser *p, const char *s, size_t n)
{
	char e[128];
	const char *why = target_problem(s, n);
	if (why)
		return perr(p, "\"%s\": %s", esc(e, sizeof e, s, n), why);
	struct alias_entry *ent = &p->a->e[p->a->n - 1];
	if (ent->ntargets >= ALIASES_TARGETS_MAX)
		return perr(p, "more than %d targets for \"%s\"", ALIASES_TARGETS_MAX,
			    esc(e, sizeof e, ent->name, ent->namelen));
	if (ent->ntargets == ent->cap) {
		size_t cap = ent->cap ? ent->cap * 2 : 4;
		char **grown = realloc(ent->targets, cap * sizeof *grown);
		if (!grown)
			return perr(p, "out of memory");
		ent->targets = grown;
		ent->cap = cap;
	}
	char *t = mem_strdup(s, n);
	if (!t)
		return perr(p, "out of memory");
	const char *at = strchr(t, '@');
	if (at)
		lower_n(t + (at - t), n - (size_t)(at - t));
	ent->targets[ent->ntargets++] = t;
	return 0;
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* The comma list of one physical line. A ',' may end a line and the list
 * go on in a continuation line, but two targets need a ',' between them
 * and an empty item ("a,,b") is a mistake, not nothing. */
static int add_targets(struct parser *p, const char *s, size_t n)
{
	for (size_t i = 0;;) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		const char *item = s + i;
		size_t len = j - i;
		trim(&item, &len);
		if (len > 0) {
			char e[128];
			if (!p->want_target)
				return perr(p, "missing ',' before \"%s\"",
					    esc(e, sizeof e, item, len));
			if (add_target(p, item, len) < 0)
				return -1;
			p->want_target = false;
		}
		if (j == n)
			return 0;
		if (p->want_target)
			return perr(p, "empty target");
		p->want_target = true;
		p->open_line = p->line;
		i = j + 1;
	}
}

/* Ends the logical line of the open entry. */
static int close_entry(struct parser *p)
{
	if (!p->open)
		return 0;
	p->open = false;
	if (!p->want_target)
		return 0;
	struct alias_entry *ent = &p->a->e[p->a->n - 1];
	size_t line = p->line;
	p->line = p->open_line;
	char e[128];
	int rc = ent->ntargets ? perr(p, "empty target after ','")
			       : perr(p, "no target for \"%s\"",
				      esc(e, sizeof e, ent->name, ent->namelen));
	p->line = line;
	return rc;
}

static int parse_line(struct parser *p, const char *s, size_t n)
{
	/* Continuations do not end at comments or blank lines (aliases(5)). */
	size_t k = 0;
	while (k < n && is_blank(s[k]))
		k++;
	if (k == n || s[k] == '#')
		return 0;
	if (k > 0) {
		if (!p->open)
			return perr(p, "continuation line without a name");
		return add_targets(p, s + k, n - k);
	}
	if (close_entry(p) < 0)
		return -1;
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return perr(p, "missing ':' (expected \"name: target, ...\")");
	const char *name = s;
	size_t nlen = (size_t)(colon - s);
	trim(&name, &nlen);
	if (!name_valid(name, nlen)) {
		char e[128];
		return perr(p, "bad alias name \"%s\" (expected local, local@domain or @domain)",
			    esc(e, sizeof e, name, nlen));
	}
	if (add_entry(p, name, nlen) < 0)
		return -1;
	p->open = true;
	p->want_target = true;
	p->open_line = p->line;
	size_t rest = (size_t)(colon + 1 - s);
	return add_targets(p, colon + 1, n - rest);
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	size_t i = 0;
	while (i < len) {
		p->line++;
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - i;
		/* CRLF files come from editors on other systems; a CR anywhere
		 * else is no valid character and fails the checks below. */
		if (n > 0 && text[end - 1] == '\r')
			n--;
		if (memchr(text + i, '\0', n))
			return perr(p, "NUL byte");
		if (n > ALIASES_LINE_MAX)
			return perr(p, "line longer than %d bytes", ALIASES_LINE_MAX);
		if (parse_line(p, text + i, n) < 0)
			return -1;
		i = nl ? end + 1 : len;
	}
	return close_entry(p);
}

int aliases_parse(const char *name, const char *text, size_t len, struct aliases **out,
		  char *err, size_t errlen)
{
	*out = NULL;
	struct parser p = { .file = name, .err = err, .errlen = errlen };
	p.a = calloc(1, sizeof *p.a);
	if (!p.a)
		return perr(&p, "out of memory");
	if (len > 0 && parse_text(&p, text, len) < 0) {
		aliases_free(&p.a);
		return -1;
	}
	*out = p.a;
	return 0;
}

static int load_err(const char *path, char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, msg);
	return -1;
}

int aliases_read(const char *path, struct buf *text, char *err, size_t errlen)
{
	char ebuf[128];
	int fd;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return load_err(path, err, errlen, strerror_r(errno, ebuf, sizeof ebuf));
	struct buf b;
	buf_init(&b, ALIASES_FILE_MAX);
	int rc = 0;
	for (;;) {
		if (!buf_reserve(&b, 65536)) {
			rc = load_err(path, err, errlen, "file too large or out of memory");
			break;
		}
		ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = load_err(path, err, errlen, strerror_r(errno, ebuf, sizeof ebuf));
			break;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
	}
	close(fd);
	if (rc < 0) {
		buf_release(&b);
		return rc;
	}
	buf_release(text);
	*text = b;
	text->max = 0;
	return 0;
}

int aliases_load(const char *path, struct aliases **out, char *err, size_t errlen)
{
	*out = NULL;
	struct buf b;
	buf_init(&b, 0);
	int rc = aliases_read(path, &b, err, errlen);
	if (rc == 0)
		rc = aliases_parse(path, b.len ? (const char *)b.data : "", b.len, out, err,
				   errlen);
	buf_release(&b);
	return rc;
}

/* ---- expansion ---- */

/* A small set of strings for one expansion: the results already given
 * ("L"/"R" + address) and the aliases entered ("A" + address the alias
 * was looked up for) with their state. Bounded by ALIASES_EXPAND_MAX. */
enum { SEEN_RESULT, SEEN_ACTIVE, SEEN_DONE };

struct seen_item {
	char *key;
	int state;
};

struct seen {
	struct seen_item *items;
	size_t n;
	size_t cap; /* a power of two, at least twice n */
};

static struct seen_item *seen_slot(const struct seen *s, const char *key)
{
	size_t mask = s->cap - 1;
	for (size_t i = (size_t)hash_key(key, strlen(key)) & mask;; i = (i + 1) & mask)
		if (!s->items[i].key || strcmp(s->items[i].key, key) == 0)
			return &s->items[i];
}

static struct seen_item *seen_find(const struct seen *s, const char *key)
{
	if (s->cap == 0)
		return NULL;
	struct seen_item *it = seen_slot(s, key);
	return it->key ? it : NULL;
}

static bool seen_grow(struct seen *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct seen_item *items = calloc(cap, sizeof *items);
	if (!items)
		return false;
	struct seen old = *s;
	s->items = items;
	s->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.items[i].key)
			*seen_slot(s, old.items[i].key) = old.items[i];
	free(old.items);
	return true;
}

/* Adds key (copied); NULL when out of memory. Pointers into the set live
 * until the next seen_add. */
static struct seen_item *seen_add(struct seen *s, const char *key, int state)
{
	if ((s->n + 1) * 2 > s->cap && !seen_grow(s))
		return NULL;
	struct seen_item *it = seen_slot(s, key);
	it->key = strdup(key);
	if (!it->key)
		return NULL;
	it->state = state;
	s->n++;
	return it;
}

static void seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->items[i].key);
	free(s->items);
	*s = (struct seen){ 0 };
}

/* A kind letter + local part + "@" + domain + NUL. A "local" target takes
 * the domain of the address expanded, so this is more than one path. */
#define KEY_MAX (2 * LIMIT_SMTP_PATH + 4)

struct expansion {
	const struct aliases *a;
	const struct alias_env *env;
	struct alias_targets *out;
	struct seen seen;
	size_t ntargets;        /* alias targets looked at, all levels */
	bool cycle;             /* an alias came back inside itself */
	enum alias_result fail; /* ALIAS_OK until a hard failure */
};

static bool make_key(char *out, char kind, const char *local, const char *domain)
{
	int n = snprintf(out, KEY_MAX, "%c%s@%s", kind, local, domain);
	return n > 0 && n < KEY_MAX;
}

/* Adds a result once: local accounts fully lower-case (account names are,
 * and the Maildir path is made from them), remote addresses with the local
 * part as written (RFC 5321 2.4: only the remote host may fold its case). */
static void add_result(struct expansion *x, bool local, const char *lpart, const char *domain)
{
	char key[KEY_MAX];
	if (!make_key(key, local ? 'L' : 'R', lpart, domain)) {
		x->fail = ALIAS_BAD;
		return;
	}
	if (local)
		lower_n(key, strlen(key));
	if (seen_find(&x->seen, key))
		return;
	char ***list = local ? &x->out->local : &x->out->remote;
	size_t *n = local ? &x->out->nlocal : &x->out->nremote;
	char **grown = realloc(*list, (*n + 1) * sizeof *grown);
	if (grown)
		*list = grown;
	char *copy = grown ? strdup(key + 1) : NULL;
	if (!copy || !seen_add(&x->seen, key, SEEN_RESULT)) {
		free(copy);
		x->fail = ALIAS_NOMEM;
		return;
	}
	(*list)[(*n)++] = copy;
}

static void resolve(struct expansion *x, const char *lpart, const char *domain, unsigned depth);

enum try_result {
	TRY_NONE,   /* no such alias */
	TRY_DONE,   /* expanded (now or earlier in this expansion) */
	TRY_ACTIVE, /* being expanded further up: a cycle */
};

/* Expands entry e, looked up for key ("A" + address); its "local" targets
 * take the domain of that address. Each alias is entered once per address
 * and expansion: a second arrival at a finished one adds nothing new, an
 * arrival inside itself is a cycle. */
static enum try_result expand_entry(struct expansion *x, const struct alias_entry *e,
				    const char *key, const char *domain, unsigned depth)
{
	struct seen_item *it = seen_find(&x->seen, key);
	if (it)
		return it->state == SEEN_ACTIVE ? TRY_ACTIVE : TRY_DONE;
	if (!seen_add(&x->seen, key, SEEN_ACTIVE)) {
		x->fail = ALIAS_NOMEM;
		return TRY_DONE;
	}
	for (size_t i = 0; i < e->ntargets && x->fail == ALIAS_OK; i++) {
		if (++x->ntargets > ALIASES_EXPAND_MAX) {
			x->fail = ALIAS_LOOP;
			break;
		}
		char tl[LIMIT_SMTP_PATH + 1];
		const char *t = e->targets[i];
		const char *at = strchr(t, '@');
		size_t l = at ? (size_t)(at - t) : strlen(t);
		memcpy(tl, t, l); /* parse kept it within LIMIT_SMTP_PATH */
		tl[l] = '\0';
		resolve(x, tl, at ? at + 1 : domain, depth + 1);
	}
	it = seen_find(&x->seen, key); /* the set may have moved */
	if (it)
		it->state = SEEN_DONE;
	return TRY_DONE;
}

/* Step 1 or 3: the alias "lkey@domain", else "lkey". */
static enum try_result try_alias(struct expansion *x, const char *lkey, const char *domain,
				 unsigned depth)
{
	char key[KEY_MAX];
	if (!make_key(key, 'A', lkey, domain))
		return TRY_NONE;
	const struct alias_entry *e = lookup(x->a, key + 1, strlen(key + 1));
	if (!e)
		e = lookup(x->a, lkey, strlen(lkey));
	return e ? expand_entry(x, e, key, domain, depth) : TRY_NONE;
}

static bool try_account(struct expansion *x, const char *lkey, const char *domain)
{
	char key[KEY_MAX];
	if (!make_key(key, 'L', lkey, domain) || !x->env->is_account(x->env->arg, key + 1))
		return false;
	add_result(x, true, lkey, domain);
	return true;
}

/* Step 4: RFC 5321 4.5.1 requires postmaster, RFC 2142 asks for abuse. */
static bool try_role(struct expansion *x, const char *lkey, const char *domain)
{
	if (strcmp(lkey, "postmaster") != 0 && strcmp(lkey, "abuse") != 0)
		return false;
	const char *acct = x->env->postmaster ? x->env->postmaster(x->env->arg, domain) : NULL;
	const char *at = acct ? strrchr(acct, '@') : NULL;
	if (!at || at == acct || !at[1] || strlen(acct) > LIMIT_SMTP_PATH)
		return false;
	char l[LIMIT_SMTP_PATH + 1];
	memcpy(l, acct, (size_t)(at - acct));
	l[at - acct] = '\0';
	char d[LIMIT_SMTP_PATH + 1];
	snprintf(d, sizeof d, "%s", at + 1);
	lower_n(d, strlen(d));
	add_result(x, true, l, d);
	return true;
}

/* The length of "bob" in "bob+tag", 0 when there is no tag (or nothing
 * before it: "+tag" is a local part of its own). */
static size_t base_len(char delim, const char *lkey)
{
	if (!delim || lkey[0] == '"')
		return 0;
	const char *d = strchr(lkey, delim);
	return d ? (size_t)(d - lkey) : 0;
}

/* One address of a local domain through the steps of aliases.h. An alias
 * met again inside its own expansion (a target naming itself, a→b→a) is
 * not expanded again: the address then only gets what needs no alias,
 * its account or the postmaster, which is how "bob: bob, bob@elsewhere"
 * keeps a copy in bob's mailbox. */
static void resolve_local(struct expansion *x, const char *lkey, const char *domain,
			  unsigned depth)
{
	enum try_result r = try_alias(x, lkey, domain, depth);
	if (r == TRY_DONE || try_account(x, lkey, domain))
		return;
	bool in_cycle = r == TRY_ACTIVE;
	char base[LIMIT_SMTP_PATH + 1];
	size_t blen = base_len(x->env->delimiter, lkey);
	if (blen) {
		memcpy(base, lkey, blen);
		base[blen] = '\0';
		r = in_cycle ? TRY_NONE : try_alias(x, base, domain, depth);
		if (r == TRY_DONE || try_account(x, base, domain))
			return;
		in_cycle = in_cycle || r == TRY_ACTIVE;
	}
	if (try_role(x, lkey, domain) || (blen && try_role(x, base, domain)))
		return;
	/* The catch-all is for addresses that match no alias at all. */
	if (!in_cycle) {
		char key[KEY_MAX];
		const struct alias_entry *e = NULL;
		if (make_key(key, 'A', "", domain))
			e = lookup(x->a, key + 1, strlen(key + 1));
		in_cycle = e && expand_entry(x, e, key, domain, depth) == TRY_ACTIVE;
	}
	if (in_cycle)
		x->cycle = true;
}

static void resolve(struct expansion *x, const char *lpart, const char *domain, unsigned depth)
{
	if (x->fail != ALIAS_OK)
		return;
	/* Each level is one alias entered; a chain of 16 ends in its target. */
	if (depth > ALIASES_DEPTH_MAX) {
		x->fail = ALIAS_LOOP;
		return;
	}
	if (!x->env->is_local_domain(x->env->arg, domain)) {
		add_result(x, false, lpart, domain);
		return;
	}
	/* Local parts are compared without case (RFC 5321 2.4 leaves it to
	 * us, and account names are lower-case). */
	char lkey[LIMIT_SMTP_PATH + 1];
	snprintf(lkey, sizeof lkey, "%s", lpart);
	lower_n(lkey, strlen(lkey));
	resolve_local(x, lkey, domain, depth);
}

/* Splits "local@domain" (the canonical form smtp_addr writes: a dot-string
 * or quoted local part, a domain or address literal) at the last '@'. */
static bool split_addr(const char *addr, char *lpart, char *domain)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	if (!at || strlen(addr) > LIMIT_SMTP_PATH)
		return false;
	size_t l = (size_t)(at - addr), d = strlen(at + 1);
	if (!(dot_string_valid(addr, l) || quoted_valid(addr, l)) ||
	    !smtp_addr_domain_valid(at + 1, d, true))
		return false;
	memcpy(lpart, addr, l);
	lpart[l] = '\0';
	memcpy(domain, at + 1, d + 1);
	lower_n(domain, d);
	return true;
}

enum alias_result aliases_expand(const struct aliases *a, const struct alias_env *env,
				 const char *addr, struct alias_targets *out)
{
	*out = (struct alias_targets){ 0 };
	char lpart[LIMIT_SMTP_PATH + 1], domain[LIMIT_SMTP_PATH + 1];
	if (!split_addr(addr, lpart, domain))
		return ALIAS_BAD;
	struct expansion x = { .a = a, .env = env, .out = out, .fail = ALIAS_OK };
	enum alias_result r;
	if (!env->is_local_domain(env->arg, domain)) {
		add_result(&x, false, lpart, domain);
		r = x.fail != ALIAS_OK ? x.fail : ALIAS_FOREIGN;
	} else {
		resolve(&x, lpart, domain, 0);
		if (x.fail != ALIAS_OK)
			r = x.fail;
		else if (out->nlocal + out->nremote > 0)
			r = ALIAS_OK;
		else
			r = x.cycle ? ALIAS_LOOP : ALIAS_UNKNOWN;
	}
	seen_clear(&x.seen);
	/* On failure nothing half-expanded is left for a caller to use. */
	if (r != ALIAS_OK && r != ALIAS_FOREIGN)
		alias_targets_free(out);
	return r;
}

void alias_targets_free(struct alias_targets *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nlocal; i++)
		free(t->local[i]);
	for (size_t i = 0; i < t->nremote; i++)
		free(t->remote[i]);
	free(t->local);
	free(t->remote);
	*t = (struct alias_targets){ 0 };
}
