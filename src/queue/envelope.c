/* envelope: the text form of one queue entry's state (queue/envelope.h).
 *
 * Pure: bytes in, struct out, and back. No I/O, no clock, no global
 * state, so it runs on any thread and is fuzzed on its own
 * (tests/fuzz/fuzz_envelope.c).
 *
 * The parser is strict because its only legitimate input is our own
 * output: anything it does not recognise is corruption, and a corrupt
 * entry is quarantined rather than guessed at (a guess could send a
 * message twice, or to the wrong place). Every input is bounded: line
 * length, recipients, address and text lengths. The formatter writes
 * only what the parser accepts, so parse(format(e)) == e. */
#include "queue/envelope.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/strnum.h"

/* A line, LF included. The longest line format() writes is a rcpt line
 * with two addresses of ENV_ADDR_MAX (about 2030 bytes). */
#define ENV_LINE_MAX 4096
/* Recipients per entry: far above any max_recipients, so only a corrupt
 * or hostile file reaches it; it bounds the memory a parse may take. */
#define ENV_RCPTS_MAX 100000
/* An address or orcpt. RFC 5321 4.5.3.1.3 caps paths at 256 octets;
 * alias targets are not paths from the wire, so leave room, while two of
 * them still fit a line. */
#define ENV_ADDR_MAX 1000
/* The host that answered: a domain (255 octets, RFC 1035 2.3.4) or an
 * address literal, with room for a "name[address]" form. */
#define ENV_MTA_MAX 320
/* SMTP reply codes have three digits (RFC 5321 4.2). */
#define ENV_CODE_MAX 999

static const char env_magic[] = "facteur-envelope 1";

enum env_field {
	F_ID,
	F_SENDER,
	F_CREATED,
	F_NEXT,
	F_ATTEMPTS,
	F_HELD,
	F_WARNED,
	F_SIZE,
	F_BODY8BIT,
	F_RCPT,
	F_RCPT_STATUS,
};

/* Every field before F_RCPT appears exactly once. */
#define ENV_SINGLE_ALL ((1u << F_RCPT) - 1)

static const char *const env_field_names[] = {
	[F_ID] = "id",
	[F_SENDER] = "sender",
	[F_CREATED] = "created",
	[F_NEXT] = "next",
	[F_ATTEMPTS] = "attempts",
	[F_HELD] = "held",
	[F_WARNED] = "warned",
	[F_SIZE] = "size",
	[F_BODY8BIT] = "body8bit",
	[F_RCPT] = "rcpt",
	[F_RCPT_STATUS] = "rcpt-status",
};

#define ENV_NFIELDS (sizeof env_field_names / sizeof env_field_names[0])

static const char *const rcpt_state_names[] = {
	[RCPT_PENDING] = "pending",
	[RCPT_SENT] = "sent",
	[RCPT_FAILED] = "failed",
	[RCPT_BOUNCED] = "bounced",
};

#define ENV_NSTATES (sizeof rcpt_state_names / sizeof rcpt_state_names[0])

/* ---- validity of the parts ---- */

static bool id_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* The id becomes a file name: no '/', no leading '.' (so neither "." nor
 * ".." nor a dot file), nothing a shell would trip on. */
bool queue_id_valid(const char *id)
{
	if (!id || !id[0] || id[0] == '.')
		return false;
	for (size_t i = 0; id[i]; i++)
		if (i >= QUEUE_ID_MAX || !id_byte_ok((unsigned char)id[i]))
			return false;
	return true;
}

/* An address, orcpt or mta: printable ASCII without space, since lines
 * are split on spaces. */
static bool token_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* Reply text: printable ASCII, spaces allowed. */
static bool text_ok(const char *s, size_t len)
{
	if (len == 0 || len > QUEUE_TEXT_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool digits_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* RFC 3463 2: class "." subject "." detail; class is 2, 4 or 5, the
 * others 1*3digit. */
static bool status_ok(const char *s, size_t len)
{
	if (len < 5 || len >= sizeof((struct queue_rcpt *)0)->status)
		return false;
	if ((s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	const char *dot = memchr(s + 2, '.', len - 2);
	if (!dot)
		return false;
	size_t a = (size_t)(dot - (s + 2)), b = len - 2 - a - 1;
	return digits_ok(s + 2, a, 3) && digits_ok(dot + 1, b, 3);
}

/* Bytes a sanitised copy keeps: printable ASCII, and space when
 * space_ok; the rest becomes '?'. */
static char clean_byte(unsigned char c, bool space_ok)
{
	if (c > 0x20 && c < 0x7f)
		return (char)c;
	return c == ' ' && space_ok ? ' ' : '?';
}

/* A malloc()ed sanitised copy of at most max bytes of s; NULL when s is
 * NULL or empty, or when out of memory (then s is non-empty). */
static char *clean_dup(const char *s, size_t max, bool space_ok)
{
	if (!s || !*s)
		return NULL;
	size_t n = strnlen(s, max);
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = clean_byte((unsigned char)s[i], space_ok);
	d[n] = '\0';
	return d;
}

/* ---- the struct ---- */

void queue_env_free(struct queue_env *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].mta);
		free(env->rcpts[i].text);
	}
	free(env->rcpts);
	free(env->sender);
	memset(env, 0, sizeof *env);
}

bool queue_env_add_rcpt(struct queue_env *env, const char *addr, const char *orcpt,
			bool local)
{
	/* "-" on disk means "same as addr", so it cannot be an orcpt. */
	if (!orcpt || !strcmp(orcpt, "-"))
		orcpt = addr;
	if (!addr || !token_ok(addr, strlen(addr), ENV_ADDR_MAX) ||
	    !token_ok(orcpt, strlen(orcpt), ENV_ADDR_MAX) || env->nrcpts >= ENV_RCPTS_MAX) {
		errno = EINVAL;
		return false;
	}
	struct queue_rcpt *v = realloc(env->rcpts, (env->nrcpts + 1) * sizeof *v);
	if (!v) {
		errno = ENOMEM;
		return false;
	}
	env->rcpts = v;
	struct queue_rcpt *r = &v[env->nrcpts];
	memset(r, 0, sizeof *r);
	r->addr = strdup(addr);
	r->orcpt = strdup(orcpt);
	if (!r->addr || !r->orcpt) {
		free(r->addr);
		free(r->orcpt);
		errno = ENOMEM;
		return false;
	}
	r->state = RCPT_PENDING;
	r->local = local;
	env->nrcpts++;
	return true;
}

/* mta and text may point into r itself (a caller keeping the last host
 * while changing the status): the copies are made before the old values
 * are freed. */
bool queue_rcpt_set_result(struct queue_rcpt *r, unsigned code, const char *status,
			   const char *mta, const char *text)
{
	if (code > ENV_CODE_MAX) {
		errno = EINVAL;
		return false;
	}
	/* "-" on disk means "no host", so it cannot be one. */
	if (mta && !strcmp(mta, "-"))
		mta = NULL;
	char *m = clean_dup(mta, ENV_MTA_MAX, false);
	char *t = clean_dup(text, QUEUE_TEXT_MAX, true);
	if ((mta && *mta && !m) || (text && *text && !t)) {
		free(m);
		free(t);
		errno = ENOMEM;
		return false;
	}
	char st[sizeof r->status] = "";
	size_t sl = status ? strnlen(status, sizeof st) : 0;
	if (status && status_ok(status, sl))
		memcpy(st, status, sl);
	free(r->mta);
	free(r->text);
	r->mta = m;
	r->text = t;
	r->code = code;
	memcpy(r->status, st, sizeof st);
	return true;
}

size_t queue_env_pending(const struct queue_env *env)
{
	size_t n = 0;
	for (size_t i = 0; i < env->nrcpts; i++)
		n += env->rcpts[i].state == RCPT_PENDING;
	return n;
}

/* ---- parse ---- */

struct env_parser {
	struct queue_env *env;
	size_t cap;          /* rcpts allocated */
	unsigned seen;       /* single fields met: bit (1 << enum env_field) */
	bool after_rcpt;     /* the previous line was a rcpt (a rcpt-status may follow) */
	size_t line;
	char *err;
	size_t errlen;
};

struct tok {
	const char *p;
	size_t len;
};

static int parse_fail(struct env_parser *p, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int parse_fail(struct env_parser *p, int e, const char *fmt, ...)
{
	if (p->err && p->errlen) {
		int n = snprintf(p->err, p->errlen, "envelope line %zu: ", p->line);
		if (n >= 0 && (size_t)n < p->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	errno = e;
	return -1;
}

/* Splits v into at most max space-separated tokens, each non-empty (two
 * spaces in a row, or one at either end, is an error). With rest, the
 * last token is the rest of the line, spaces included. Returns the count,
 * 0 on error. */
static size_t split(const char *v, size_t len, struct tok *t, size_t max, bool rest)
{
	size_t k = 0, i = 0;
	for (;;) {
		if (rest && k == max - 1) {
			if (i == len)
				return 0;
			t[k++] = (struct tok){ v + i, len - i };
			return k;
		}
		const char *sp = memchr(v + i, ' ', len - i);
		size_t j = sp ? (size_t)(sp - v) : len;
		if (j == i)
			return 0;
		t[k++] = (struct tok){ v + i, j - i };
		if (j == len)
			return k;
		if (k == max)
			return 0;
		i = j + 1;
	}
}

static bool tok_is(struct tok t, const char *s)
{
	return t.len == strlen(s) && memcmp(t.p, s, t.len) == 0;
}

static bool parse_flag(struct tok t, bool *out)
{
	if (t.len != 1 || (t.p[0] != '0' && t.p[0] != '1'))
		return false;
	*out = t.p[0] == '1';
	return true;
}

static bool parse_unsigned(struct tok t, unsigned *out)
{
	uint64_t v;
	if (!strnum_u64(t.p, t.len, UINT_MAX, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

_Static_assert(sizeof(time_t) >= sizeof(int64_t), "time_t holds 64-bit times");

static bool parse_time(struct tok t, time_t *out)
{
	uint64_t v;
	if (!strnum_u64(t.p, t.len, INT64_MAX, &v))
		return false;
	*out = (time_t)v;
	return true;
}

static int parse_rcpt(struct env_parser *p, struct tok v)
{
	struct queue_env *env = p->env;
	struct tok t[5] = { 0 };
	if (split(v.p, v.len, t, 5, false) != 5)
		return parse_fail(p, EBADMSG, "rcpt: want 5 fields");
	size_t st = 0;
	while (st < ENV_NSTATES && !tok_is(t[0], rcpt_state_names[st]))
		st++;
	if (st == ENV_NSTATES)
		return parse_fail(p, EBADMSG, "rcpt: bad state");
	struct queue_rcpt r = { .state = (enum rcpt_state)st };
	if (!parse_flag(t[1], &r.local))
		return parse_fail(p, EBADMSG, "rcpt: bad local flag");
	if (!parse_unsigned(t[2], &r.attempts))
		return parse_fail(p, EBADMSG, "rcpt: bad attempts");
	if (!token_ok(t[3].p, t[3].len, ENV_ADDR_MAX))
		return parse_fail(p, EBADMSG, "rcpt: bad address");
	bool same = tok_is(t[4], "-");
	if (!same && !token_ok(t[4].p, t[4].len, ENV_ADDR_MAX))
		return parse_fail(p, EBADMSG, "rcpt: bad orcpt");
	if (env->nrcpts == p->cap) {
		if (p->cap >= ENV_RCPTS_MAX)
			return parse_fail(p, EBADMSG, "more than %d recipients", ENV_RCPTS_MAX);
		size_t cap = p->cap ? p->cap * 2 : 8;
		if (cap > ENV_RCPTS_MAX)
			cap = ENV_RCPTS_MAX;
		struct queue_rcpt *n = realloc(env->rcpts, cap * sizeof *n);
		if (!n)
			return parse_fail(p, ENOMEM, "out of memory");
		env->rcpts = n;
		p->cap = cap;
	}
	r.addr = mem_strdup(t[3].p, t[3].len);
	r.orcpt = same ? mem_strdup(t[3].p, t[3].len) : mem_strdup(t[4].p, t[4].len);
	if (!r.addr || !r.orcpt) {
		free(r.addr);
		free(r.orcpt);
		return parse_fail(p, ENOMEM, "out of memory");
	}
	env->rcpts[env->nrcpts++] = r;
	return 0;
}

static int parse_rcpt_status(struct env_parser *p, struct tok v)
{
	if (!p->after_rcpt)
		return parse_fail(p, EBADMSG, "rcpt-status does not follow a rcpt");
	struct tok t[4] = { 0 };
	size_t k = split(v.p, v.len, t, 4, true);
	if (k < 3)
		return parse_fail(p, EBADMSG, "rcpt-status: want code, status, mta and text");
	uint64_t code;
	if (!strnum_u64(t[0].p, t[0].len, ENV_CODE_MAX, &code))
		return parse_fail(p, EBADMSG, "rcpt-status: bad code");
	bool no_status = tok_is(t[1], "-"), no_mta = tok_is(t[2], "-");
	if (!no_status && !status_ok(t[1].p, t[1].len))
		return parse_fail(p, EBADMSG, "rcpt-status: bad status");
	if (!no_mta && !token_ok(t[2].p, t[2].len, ENV_MTA_MAX))
		return parse_fail(p, EBADMSG, "rcpt-status: bad mta");
	if (k == 4 && !text_ok(t[3].p, t[3].len))
		return parse_fail(p, EBADMSG, "rcpt-status: bad text");
	char *mta = no_mta ? NULL : mem_strdup(t[2].p, t[2].len);
	char *text = k == 4 ? mem_strdup(t[3].p, t[3].len) : NULL;
	if ((!no_mta && !mta) || (k == 4 && !text)) {
		free(mta);
		free(text);
		return parse_fail(p, ENOMEM, "out of memory");
	}
	struct queue_rcpt *r = &p->env->rcpts[p->env->nrcpts - 1];
	r->code = (unsigned)code;
	if (!no_status) {
		memcpy(r->status, t[1].p, t[1].len);
		r->status[t[1].len] = '\0';
	}
	r->mta = mta;
	r->text = text;
	return 0;
}

static int parse_single(struct env_parser *p, enum env_field f, struct tok v)
{
	struct queue_env *env = p->env;
	bool ok = true;
	switch (f) {
	case F_ID:
		ok = v.len <= QUEUE_ID_MAX;
		if (ok) {
			memcpy(env->id, v.p, v.len);
			env->id[v.len] = '\0';
			ok = queue_id_valid(env->id);
		}
		break;
	case F_SENDER:
		/* Empty: the null reverse-path (RFC 5321 4.5.5). */
		if (v.len && !token_ok(v.p, v.len, ENV_ADDR_MAX))
			return parse_fail(p, EBADMSG, "bad sender");
		if (!(env->sender = mem_strdup(v.p, v.len)))
			return parse_fail(p, ENOMEM, "out of memory");
		break;
	case F_CREATED:
		ok = parse_time(v, &env->created);
		break;
	case F_NEXT:
		ok = parse_time(v, &env->next_attempt);
		break;
	case F_ATTEMPTS:
		ok = parse_unsigned(v, &env->attempts);
		break;
	case F_HELD:
		ok = parse_flag(v, &env->held);
		break;
	case F_WARNED:
		ok = parse_flag(v, &env->warned);
		break;
	case F_SIZE:
		ok = strnum_u64(v.p, v.len, UINT64_MAX, &env->size);
		break;
	case F_BODY8BIT:
		ok = parse_flag(v, &env->body_8bit);
		break;
	case F_RCPT:
	case F_RCPT_STATUS:
		BUG("envelope: rcpt is not a single field");
	}
	if (!ok)
		return parse_fail(p, EBADMSG, "bad %s", env_field_names[f]);
	return 0;
}

static int parse_line(struct env_parser *p, const char *s, size_t len)
{
	const char *sp = memchr(s, ' ', len);
	if (!sp)
		return parse_fail(p, EBADMSG, "no value");
	struct tok name = { s, (size_t)(sp - s) };
	struct tok v = { sp + 1, len - name.len - 1 };
	size_t f = 0;
	while (f < ENV_NFIELDS && !tok_is(name, env_field_names[f]))
		f++;
	if (f == ENV_NFIELDS)
		return parse_fail(p, EBADMSG, "unknown field");
	bool after_rcpt = false;
	int rc;
	if (f == F_RCPT) {
		rc = parse_rcpt(p, v);
		after_rcpt = true;
	} else if (f == F_RCPT_STATUS) {
		rc = parse_rcpt_status(p, v);
	} else {
		if (p->seen & (1u << f))
			return parse_fail(p, EBADMSG, "%s given twice", env_field_names[f]);
		p->seen |= 1u << f;
		rc = parse_single(p, (enum env_field)f, v);
	}
	p->after_rcpt = after_rcpt;
	return rc;
}

static int parse_lines(struct env_parser *p, const char *text, size_t len)
{
	if (memchr(text, '\0', len))
		return parse_fail(p, EBADMSG, "NUL byte");
	size_t off = 0;
	while (off < len) {
		p->line++;
		size_t avail = len - off < ENV_LINE_MAX ? len - off : ENV_LINE_MAX;
		const char *nl = memchr(text + off, '\n', avail);
		if (!nl) {
			/* A missing final LF means a truncated file. */
			return avail == ENV_LINE_MAX
				       ? parse_fail(p, EBADMSG, "longer than %d bytes", ENV_LINE_MAX)
				       : parse_fail(p, EBADMSG, "no final newline");
		}
		size_t n = (size_t)(nl - (text + off));
		if (p->line == 1) {
			if (n != strlen(env_magic) || memcmp(text, env_magic, n) != 0)
				return parse_fail(p, EBADMSG, "not a facteur-envelope 1 file");
		} else if (parse_line(p, text + off, n) < 0) {
			return -1;
		}
		off += n + 1;
	}
	if (p->line == 0)
		return parse_fail(p, EBADMSG, "empty file");
	if (p->seen != ENV_SINGLE_ALL) {
		size_t f = 0;
		while (p->seen & (1u << f))
			f++;
		return parse_fail(p, EBADMSG, "no %s field", env_field_names[f]);
	}
	if (p->env->nrcpts == 0)
		return parse_fail(p, EBADMSG, "no rcpt");
	return 0;
}

int queue_env_parse(const char *text, size_t len, struct queue_env *env,
		    char *err, size_t errlen)
{
	memset(env, 0, sizeof *env);
	struct env_parser p = { .env = env, .err = err, .errlen = errlen };
	if (!text && len) {
		parse_fail(&p, EINVAL, "no text");
		return -1;
	}
	/* memchr() and friends want a pointer even for no bytes. */
	if (!text)
		text = "";
	if (parse_lines(&p, text, len) == 0)
		return 0;
	int e = errno;
	queue_env_free(env);
	errno = e;
	return -1;
}

/* ---- format ---- */

static bool rcpt_has_result(const struct queue_rcpt *r)
{
	return r->code || r->status[0] || (r->mta && *r->mta) || (r->text && *r->text);
}

/* Appends s cleaned (see clean_byte), cut to max bytes; "-" when empty. */
static bool append_clean(struct buf *out, const char *s, size_t max, bool space_ok)
{
	size_t n = s ? strnlen(s, max) : 0;
	if (n == 0)
		return buf_append_byte(out, '-');
	if (!buf_reserve(out, n))
		return false;
	for (size_t i = 0; i < n; i++)
		out->data[out->len++] = (uint8_t)clean_byte((unsigned char)s[i], space_ok);
	return true;
}

static bool format_result(const struct queue_rcpt *r, struct buf *out)
{
	size_t sl = strnlen(r->status, sizeof r->status);
	/* A status set by hand that the parser would refuse is dropped
	 * rather than written: the file must stay readable. */
	bool st = status_ok(r->status, sl);
	if (!buf_printf(out, "rcpt-status %u %.*s ", r->code, st ? (int)sl : 1,
			st ? r->status : "-") ||
	    !append_clean(out, r->mta, ENV_MTA_MAX, false))
		return false;
	if (r->text && *r->text &&
	    (!buf_append_byte(out, ' ') || !append_clean(out, r->text, QUEUE_TEXT_MAX, true)))
		return false;
	return buf_append_byte(out, '\n');
}

static bool format_rcpt(const struct queue_rcpt *r, struct buf *out)
{
	if ((size_t)r->state >= ENV_NSTATES ||
	    r->code > ENV_CODE_MAX || !r->addr || !token_ok(r->addr, strlen(r->addr), ENV_ADDR_MAX))
		return false;
	const char *orcpt = r->orcpt && strcmp(r->orcpt, r->addr) != 0 ? r->orcpt : "-";
	if (!token_ok(orcpt, strlen(orcpt), ENV_ADDR_MAX))
		return false;
	if (!buf_printf(out, "rcpt %s %d %u %s %s\n", rcpt_state_names[r->state],
			r->local ? 1 : 0, r->attempts, r->addr, orcpt))
		return false;
	return !rcpt_has_result(r) || format_result(r, out);
}

static bool format_head(const struct queue_env *env, struct buf *out)
{
	if (!queue_id_valid(env->id) || !env->sender ||
	    (*env->sender && !token_ok(env->sender, strlen(env->sender), ENV_ADDR_MAX)) ||
	    env->created < 0 || env->next_attempt < 0 || env->nrcpts == 0 ||
	    env->nrcpts > ENV_RCPTS_MAX || !env->rcpts)
		return false;
	return buf_printf(out,
			  "%s\nid %s\nsender %s\ncreated %lld\nnext %lld\nattempts %u\n"
			  "held %d\nwarned %d\nsize %llu\nbody8bit %d\n",
			  env_magic, env->id, env->sender, (long long)env->created,
			  (long long)env->next_attempt, env->attempts, env->held ? 1 : 0,
			  env->warned ? 1 : 0, (unsigned long long)env->size,
			  env->body_8bit ? 1 : 0);
}

/* Fails (out unchanged) on an envelope the parser would refuse: a bad id
 * or address, no recipient, a negative time. */
bool queue_env_format(const struct queue_env *env, struct buf *out)
{
	size_t start = out->len;
	bool ok = format_head(env, out);
	for (size_t i = 0; ok && i < env->nrcpts; i++)
		ok = format_rcpt(&env->rcpts[i], out);
	if (!ok)
		out->len = start;
	return ok;
}
