/* reply: SMTP and POP3 reply parsing for the client side (probe, sendmail).
 *
 * Pure: each function looks at one line (without CRLF) or at what earlier
 * lines built, and never touches a socket, a clock or a file. Everything
 * here is fed by a server we do not trust: lengths are checked, numbers go
 * through the strict parser, and a malformed line has one answer
 * (REPLY_BAD / POP3_ST_BAD / false). */
#include "probe/reply.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/strnum.h"

/* Replies longer than this are refused (an EHLO reply is about 200 bytes). */
#define SMTP_REPLY_TEXT_MAX (256u * 1024u)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* ---- SMTP replies ----------------------------------------------------- */

void smtp_reply_init(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	buf_init(&r->text, SMTP_REPLY_TEXT_MAX);
	r->nlines = 0;
	r->why = NULL;
}

void smtp_reply_clear(struct smtp_reply *r)
{
	buf_release(&r->text);
	smtp_reply_init(r);
}

/* RFC 3463 2 / RFC 2034: class "." subject "." detail at the start of the
 * text, class matching the reply's first digit, followed by SP or the end. */
static void parse_enhanced(struct smtp_reply *r, const char *t, size_t len)
{
	size_t i = 0;
	if (len < 5 || t[0] != (char)('0' + r->code / 100) || t[1] != '.')
		return;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t d = 0;
		while (i < len && is_digit(t[i]) && d < 4) {
			i++;
			d++;
		}
		if (d == 0 || d > 3)
			return;
		if (part == 0) {
			if (i >= len || t[i] != '.')
				return;
			i++;
		}
	}
	if (i < len && t[i] != ' ')
		return;
	memcpy(r->enhanced, t, i);
	r->enhanced[i] = '\0';
}

enum reply_result smtp_reply_line(struct smtp_reply *r, const char *line, size_t len)
{
	/* RFC 5321 4.2: Reply-code [ ("-" / SP) textstring ] CRLF, where the
	 * code is 2..5, 0..5, 0..9. */
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
	    !is_digit(line[2])) {
		r->why = "not a reply line (no 3-digit code 200..559)";
		return REPLY_BAD;
	}
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		r->why = "no space or hyphen after the reply code";
		return REPLY_BAD;
	}
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code) {
		r->why = "the reply code changes inside a multi-line reply";
		return REPLY_BAD;
	}
	if (r->nlines >= SMTP_REPLY_MAX_LINES) {
		r->why = "too many lines in one reply";
		return REPLY_BAD;
	}
	const char *t = len > 4 ? line + 4 : "";
	size_t tlen = len > 4 ? len - 4 : 0;
	if ((r->nlines > 0 && !buf_append_byte(&r->text, '\n')) ||
	    !buf_append(&r->text, t, tlen)) {
		r->why = "reply too long";
		return REPLY_BAD;
	}
	if (r->nlines == 0) {
		r->code = code;
		parse_enhanced(r, t, tlen);
	}
	r->nlines++;
	return len > 3 && line[3] == '-' ? REPLY_MORE : REPLY_DONE;
}

bool smtp_reply_next_text(const struct smtp_reply *r, size_t *pos, const char **text,
			  size_t *len)
{
	if (r->nlines == 0 || *pos > r->text.len)
		return false;
	const char *base = (const char *)r->text.data;
	size_t start = *pos;
	const char *nl = base ? memchr(base + start, '\n', r->text.len - start) : NULL;
	size_t end = nl ? (size_t)(nl - base) : r->text.len;
	*text = base ? base + start : "";
	*len = end - start;
	*pos = end + 1;
	return true;
}

/* ---- EHLO ------------------------------------------------------------- */

static void copy_trunc(char *out, size_t outsz, const char *s, size_t len)
{
	if (len >= outsz)
		len = outsz - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

void ehlo_parse(const struct smtp_reply *r, struct ehlo_info *e)
{
	memset(e, 0, sizeof *e);
	size_t pos = 0;
	const char *t;
	size_t len;
	bool first = true;
	while (smtp_reply_next_text(r, &pos, &t, &len)) {
		if (first) {
			/* RFC 5321 4.1.1.1: "250" SP Domain [ SP ehlo-greet ] */
			const char *sp = memchr(t, ' ', len);
			copy_trunc(e->domain, sizeof e->domain, t, sp ? (size_t)(sp - t) : len);
			first = false;
			continue;
		}
		if (e->n >= EHLO_MAX_EXT) {
			e->dropped++;
			continue;
		}
		const char *sp = memchr(t, ' ', len);
		size_t kwlen = sp ? (size_t)(sp - t) : len;
		struct ehlo_ext *x = &e->ext[e->n];
		if (kwlen == 0 || kwlen >= sizeof x->keyword ||
		    (sp && len - kwlen - 1 >= sizeof x->params)) {
			e->dropped++;
			continue;
		}
		copy_trunc(x->keyword, sizeof x->keyword, t, kwlen);
		copy_trunc(x->params, sizeof x->params, sp ? sp + 1 : "", sp ? len - kwlen - 1 : 0);
		/* ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		x->valid = is_alnum(x->keyword[0]);
		for (size_t i = 1; x->keyword[i]; i++)
			if (!is_alnum(x->keyword[i]) && x->keyword[i] != '-')
				x->valid = false;
		e->n++;
	}
}

const struct ehlo_ext *ehlo_find(const struct ehlo_info *e, const char *keyword)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcasecmp(e->ext[i].keyword, keyword))
			return &e->ext[i];
	return NULL;
}

bool words_has(const char *params, const char *word)
{
	size_t wl = strlen(word);
	const char *p = params;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *end = p;
		while (*end && *end != ' ')
			end++;
		if ((size_t)(end - p) == wl && wl > 0 && !strncasecmp(p, word, wl))
			return true;
		p = end;
	}
	return false;
}

static const struct {
	const char *kw;
	const char *text;
} ehlo_texts[] = {
	{ "PIPELINING", "commands may be sent in batches without waiting for each reply (RFC 2920)" },
	{ "8BITMIME", "accepts 8-bit message bodies with BODY=8BITMIME (RFC 6152)" },
	{ "ENHANCEDSTATUSCODES", "replies carry codes like 2.1.5 that say what happened (RFC 2034, 3463)" },
	{ "STARTTLS", "the session can be switched to TLS (RFC 3207)" },
	{ "SMTPUTF8", "accepts UTF-8 addresses and headers (RFC 6531)" },
	{ "CHUNKING", "accepts the message in BDAT chunks instead of DATA (RFC 3030)" },
	{ "BINARYMIME", "accepts binary bodies, with CHUNKING (RFC 3030)" },
	{ "DSN", "delivery status notifications on request: NOTIFY, RET, ENVID (RFC 3461)" },
	{ "VRFY", "VRFY asks whether a mailbox exists (RFC 5321 3.5)" },
	{ "EXPN", "EXPN expands a mailing list (RFC 5321 3.5)" },
	{ "HELP", "HELP gives help on commands (RFC 5321 4.1.1.8)" },
	{ "ETRN", "ETRN asks the server to flush its queue for a domain (RFC 1985)" },
	{ "DELIVERBY", "delivery deadlines with BY= (RFC 2852)" },
	{ "MT-PRIORITY", "message priorities with MT-PRIORITY= (RFC 6710)" },
	{ "REQUIRETLS", "the message may require TLS all the way with REQUIRETLS (RFC 8689)" },
	{ "LIMITS", "announces its recipient and transaction limits (RFC 9422)" },
	{ "AUTH=", "a pre-standard AUTH announcement for old Outlook clients" },
	{ "XCLIENT", "Postfix: a trusted proxy may pass on the client's address" },
	{ "XFORWARD", "Postfix: a trusted filter may pass on the original client's details" },
};

void ehlo_describe(const struct ehlo_ext *x, char *out, size_t outsz)
{
	uint64_t v;
	if (!strcasecmp(x->keyword, "SIZE")) {
		if (x->params[0] == '\0' || (strnum_u64_cstr(x->params, UINT64_MAX, &v) && v == 0))
			snprintf(out, outsz, "announces no fixed message size limit (RFC 1870)");
		else if (strnum_u64_cstr(x->params, UINT64_MAX, &v))
			snprintf(out, outsz, "messages up to %llu bytes (%.1f MiB) (RFC 1870)",
				 (unsigned long long)v, (double)v / (1024.0 * 1024.0));
		else
			snprintf(out, outsz, "maximum message size, but the number is malformed (RFC 1870)");
		return;
	}
	if (!strcasecmp(x->keyword, "AUTH")) {
		snprintf(out, outsz, "login with SASL mechanisms: %s (RFC 4954)",
			 x->params[0] ? x->params : "(none listed)");
		return;
	}
	for (size_t i = 0; i < sizeof ehlo_texts / sizeof ehlo_texts[0]; i++) {
		size_t kl = strlen(ehlo_texts[i].kw);
		bool prefix = ehlo_texts[i].kw[kl - 1] == '=';
		if (prefix ? !strncasecmp(x->keyword, ehlo_texts[i].kw, kl)
			   : !strcasecmp(x->keyword, ehlo_texts[i].kw)) {
			snprintf(out, outsz, "%s", ehlo_texts[i].text);
			return;
		}
	}
	if (!x->valid)
		snprintf(out, outsz, "not a valid EHLO keyword (RFC 5321 4.1.1.1)");
	else if (x->keyword[0] == 'X' || x->keyword[0] == 'x')
		snprintf(out, outsz, "a private extension (X-)");
	else
		snprintf(out, outsz, "an extension this probe does not know");
}

/* ---- POP3 ------------------------------------------------------------- */

enum pop3_status pop3_status_parse(const char *line, size_t len, const char **text,
				   size_t *textlen)
{
	size_t skip;
	enum pop3_status st;
	if (len >= 3 && !memcmp(line, "+OK", 3)) {
		skip = 3;
		st = POP3_ST_OK;
	} else if (len >= 4 && !memcmp(line, "-ERR", 4)) {
		skip = 4;
		st = POP3_ST_ERR;
	} else {
		return POP3_ST_BAD;
	}
	if (len > skip && line[skip] != ' ')
		return POP3_ST_BAD;
	if (len > skip)
		skip++;
	*text = line + skip;
	*textlen = len - skip;
	return st;
}

bool pop3_resp_code(const char *text, size_t len, char *out, size_t outsz)
{
	if (len < 3 || text[0] != '[')
		return false;
	const char *end = memchr(text, ']', len);
	if (!end || end == text + 1 || (size_t)(end - text - 1) >= outsz)
		return false;
	for (const char *p = text + 1; p < end; p++)
		if (!is_alnum(*p) && *p != '-' && *p != '/')
			return false;
	copy_trunc(out, outsz, text + 1, (size_t)(end - text - 1));
	return true;
}

bool pop3_apop_timestamp(const char *text, size_t len, char *out, size_t outsz)
{
	const char *lt = memchr(text, '<', len);
	if (!lt)
		return false;
	size_t rest = len - (size_t)(lt - text);
	const char *gt = memchr(lt, '>', rest);
	if (!gt)
		return false;
	size_t n = (size_t)(gt - lt) + 1;
	/* RFC 1939 7 asks for a msg-id; one without '@' is not one, and is
	 * most likely not meant as a timestamp. */
	if (n < 5 || !memchr(lt, '@', n) || n >= outsz)
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if ((unsigned char)lt[i] <= ' ' || (unsigned char)lt[i] >= 0x7f || lt[i] == '<')
			return false;
	copy_trunc(out, outsz, lt, n);
	return true;
}

void pop3_multi_init(struct pop3_multi *m, size_t max)
{
	buf_init(&m->body, max);
	m->nlines = 0;
	m->done = false;
}

void pop3_multi_clear(struct pop3_multi *m)
{
	buf_release(&m->body);
	m->nlines = 0;
	m->done = false;
}

enum reply_result pop3_multi_line(struct pop3_multi *m, const char *line, size_t len)
{
	if (len == 1 && line[0] == '.') {
		m->done = true;
		return REPLY_DONE;
	}
	if (len > 0 && line[0] == '.') {
		line++;
		len--;
	}
	if (!buf_append(&m->body, line, len) || !buf_append(&m->body, "\r\n", 2))
		return REPLY_BAD;
	m->nlines++;
	return REPLY_MORE;
}

bool pop3_multi_next(const struct pop3_multi *m, size_t *pos, const char **line, size_t *len)
{
	const char *base = (const char *)m->body.data;
	if (!base || *pos >= m->body.len)
		return false;
	const char *p = base + *pos;
	size_t avail = m->body.len - *pos;
	const char *crlf = NULL;
	for (size_t i = 0; i + 1 < avail; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n') {
			crlf = p + i;
			break;
		}
	}
	if (!crlf)
		return false;
	*line = p;
	*len = (size_t)(crlf - p);
	*pos += *len + 2;
	return true;
}

bool pop3_scan_pair(const char *s, size_t len, uint64_t *a, uint64_t *b)
{
	const char *sp = memchr(s, ' ', len);
	if (!sp)
		return false;
	size_t alen = (size_t)(sp - s);
	const char *bs = sp + 1;
	size_t rest = len - alen - 1;
	const char *sp2 = memchr(bs, ' ', rest);
	size_t blen = sp2 ? (size_t)(sp2 - bs) : rest;
	return strnum_u64(s, alen, UINT64_MAX, a) && strnum_u64(bs, blen, UINT64_MAX, b);
}

bool pop3_uidl_line(const char *s, size_t len, uint64_t *msg, const char **uid,
		    size_t *uidlen)
{
	const char *sp = memchr(s, ' ', len);
	if (!sp || !strnum_u64(s, (size_t)(sp - s), UINT64_MAX, msg))
		return false;
	const char *u = sp + 1;
	size_t ul = len - (size_t)(u - s);
	if (ul < 1 || ul > 70)
		return false;
	for (size_t i = 0; i < ul; i++)
		if ((unsigned char)u[i] < 0x21 || (unsigned char)u[i] > 0x7e)
			return false;
	*uid = u;
	*uidlen = ul;
	return true;
}

bool pop3_capa_find(const struct pop3_multi *capa, const char *name, const char **args,
		    size_t *argslen)
{
	size_t nl = strlen(name), pos = 0, len;
	const char *line;
	while (pop3_multi_next(capa, &pos, &line, &len)) {
		if (len < nl || strncasecmp(line, name, nl) != 0 || (len > nl && line[nl] != ' '))
			continue;
		*args = len > nl ? line + nl + 1 : line + len;
		*argslen = len > nl ? len - nl - 1 : 0;
		return true;
	}
	return false;
}

static const struct {
	const char *name;
	const char *text;
} capa_texts[] = {
	{ "TOP", "TOP n lines: the headers and the first lines of a message" },
	{ "UIDL", "unique message ids that stay the same across sessions" },
	{ "USER", "login with USER and PASS (the password as sent)" },
	{ "SASL", "login with AUTH and these SASL mechanisms (RFC 5034)" },
	{ "STLS", "the session can be switched to TLS (RFC 2595)" },
	{ "RESP-CODES", "errors carry codes like [IN-USE] (RFC 2449 8)" },
	{ "AUTH-RESP-CODE", "login errors say [AUTH] or [SYS/...] (RFC 3206)" },
	{ "PIPELINING", "commands may be sent in batches (RFC 2449 6.6)" },
	{ "EXPIRE", "how long the server keeps messages (RFC 2449 6.7)" },
	{ "LOGIN-DELAY", "the least time between logins (RFC 2449 6.8)" },
	{ "IMPLEMENTATION", "the server software" },
	{ "UTF8", "UTF-8 in commands and messages (RFC 6856)" },
	{ "LANG", "replies in other languages (RFC 6856)" },
};

const char *pop3_capa_describe(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof capa_texts / sizeof capa_texts[0]; i++)
		if (strlen(capa_texts[i].name) == len && !strncasecmp(name, capa_texts[i].name, len))
			return capa_texts[i].text;
	return NULL;
}
