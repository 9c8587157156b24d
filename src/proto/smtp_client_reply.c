/* smtp_client_reply: assembles a server's reply lines into one reply,
 * for the outbound client. The bytes come from any server on the
 * Internet, so everything is checked and bounded: a line by the
 * configured maximum, a reply by SMTPC_REPLY_LINES_MAX lines, the kept
 * text by the reply struct. Never does I/O.
 *
 * RFC 5321 4.2: reply lines are "code SP text" or, for all but the last
 * line of a multiline reply, "code - text", all with the same code.
 * Lines should end in CRLF; a bare LF is taken too (servers behind
 * broken proxies send them, and nothing here depends on the difference). */
#include "proto/smtp_client_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/strnum.h"

void smtpc_reader_init(struct smtpc_reader *r, size_t max)
{
	memset(r, 0, sizeof *r);
	r->max = max;
	buf_init(&r->line, 0);
}

void smtpc_reader_clear(struct smtpc_reader *r)
{
	buf_release(&r->line);
}

static void reset_reply(struct smtpc_reader *r)
{
	r->done = false;
	r->nlines = 0;
	r->text_len = 0;
	memset(&r->reply, 0, sizeof r->reply);
	memset(&r->ext, 0, sizeof r->ext);
	r->size_offered = false;
}

void smtpc_reader_discard(struct smtpc_reader *r)
{
	buf_clear(&r->line);
	reset_reply(r);
}

static char safe_char(unsigned char ch)
{
	/* the text ends up in logs and bounce messages */
	return ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
}

static void append_text(struct smtpc_reader *r, const uint8_t *p, size_t n)
{
	char *t = r->reply.text;
	size_t room = sizeof r->reply.text - 1;
	if (r->nlines > 1) {
		static const char sep[] = " / ";
		for (size_t i = 0; sep[i] && r->text_len < room; i++)
			t[r->text_len++] = sep[i];
	}
	for (size_t i = 0; i < n && r->text_len < room; i++)
		t[r->text_len++] = safe_char(p[i]);
	t[r->text_len] = '\0';
}

void smtpc_reply_set_text(struct smtp_client_reply *rep, const char *text)
{
	size_t n = 0;
	for (; n < sizeof rep->text - 1 && text[n]; n++)
		rep->text[n] = safe_char((unsigned char)text[n]);
	rep->text[n] = '\0';
}

struct smtp_client_reply smtpc_reply_local(unsigned code, const char *status,
	const char *text)
{
	struct smtp_client_reply r;
	memset(&r, 0, sizeof r);
	r.code = code;
	snprintf(r.status, sizeof r.status, "%s", status);
	smtpc_reply_set_text(&r, text);
	return r;
}

static size_t digits(const uint8_t *p, size_t n, size_t max)
{
	size_t i = 0;
	while (i < n && i < max && p[i] >= '0' && p[i] <= '9')
		i++;
	return i;
}

/* RFC 3463 2 / RFC 2034 4: "class.subject.detail" at the start of the
 * text, class 2, 4 or 5, the others 1 to 3 digits. RFC 2034 3: its class
 * must be the reply's, else it is text that happens to look like one. */
static void parse_status(struct smtpc_reader *r, const uint8_t *p, size_t n)
{
	unsigned cls = r->reply.code / 100;
	if (n < 5 || p[0] != (uint8_t)('0' + cls) || p[1] != '.'
		|| (cls != 2 && cls != 4 && cls != 5))
		return;
	size_t i = 2, d = digits(p + i, n - i, 3);
	if (d == 0 || i + d >= n || p[i + d] != '.')
		return;
	i += d + 1;
	d = digits(p + i, n - i, 3);
	if (d == 0 || (i + d < n && p[i + d] != ' '))
		return;
	i += d;
	memcpy(r->reply.status, p, i);
	r->reply.status[i] = '\0';
}

static bool word_is(const uint8_t *p, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp((const char *)p, w, n) == 0;
}

/* RFC 5321 4.1.1.1: ehlo-line = keyword *(SP param); the old
 * "AUTH=LOGIN PLAIN" form some servers still send is read as AUTH. */
static void parse_keyword(struct smtpc_reader *r, const uint8_t *p, size_t n)
{
	struct smtp_client_ext *e = &r->ext;
	size_t k = 0;
	while (k < n && p[k] != ' ' && p[k] != '=')
		k++;
	size_t i = k;
	bool auth = word_is(p, k, "AUTH");
	bool size = word_is(p, k, "SIZE");
	if (size)
		r->size_offered = true;
	if (word_is(p, k, "PIPELINING"))
		e->pipelining = true;
	else if (word_is(p, k, "8BITMIME"))
		e->eightbitmime = true;
	else if (word_is(p, k, "STARTTLS"))
		e->starttls = true;
	bool first = true;
	while (i < n && (auth || size)) {
		while (i < n && (p[i] == ' ' || p[i] == '='))
			i++;
		size_t s = i;
		while (i < n && p[i] != ' ')
			i++;
		if (i == s)
			break;
		if (auth && word_is(p + s, i - s, "PLAIN"))
			e->auth_plain = true;
		else if (auth && word_is(p + s, i - s, "LOGIN"))
			e->auth_login = true;
		/* RFC 1870 4: "SIZE" alone or "SIZE 0" means no fixed limit;
		 * an unreadable number is taken the same way */
		if (size && first && !strnum_u64((const char *)p + s, i - s,
				UINT64_MAX, &e->size))
			e->size = 0;
		first = false;
	}
}

static enum smtpc_read bad(struct smtpc_reader *r, const char *why)
{
	r->error = why;
	return SMTPC_READ_ERROR;
}

static enum smtpc_read take_line(struct smtpc_reader *r, const uint8_t *s,
	size_t n)
{
	if (r->done)
		reset_reply(r);
	if (n < 3 || digits(s, 3, 3) != 3)
		return bad(r, "reply line without a 3-digit code");
	/* RFC 5321 4.2.1: the first digit is 2 to 5 (1yz is unused) */
	if (s[0] < '2' || s[0] > '5')
		return bad(r, "reply code out of range");
	if (n > 3 && s[3] != ' ' && s[3] != '-')
		return bad(r, "no space or hyphen after the reply code");
	unsigned code = (unsigned)(s[0] - '0') * 100
		+ (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
	if (r->nlines > 0 && code != r->reply.code)
		return bad(r, "mixed codes in a multiline reply");
	if (r->nlines == SMTPC_REPLY_LINES_MAX)
		return bad(r, "too many lines in a reply");
	r->reply.code = code;
	r->nlines++;
	const uint8_t *text = s + (n > 3 ? 4 : 3);
	size_t tn = n > 3 ? n - 4 : 0;
	if (r->nlines == 1)
		parse_status(r, text, tn);
	else if (r->ehlo)
		parse_keyword(r, text, tn);
	append_text(r, text, tn);
	if (n > 3 && s[3] == '-')
		return SMTPC_READ_MORE;
	r->done = true;
	return SMTPC_READ_REPLY;
}

enum smtpc_read smtpc_reader_feed(struct smtpc_reader *r, const uint8_t *in,
	size_t len, size_t *taken)
{
	const uint8_t *lf = memchr(in, '\n', len);
	size_t take = lf ? (size_t)(lf - in) + 1 : len;
	*taken = take;
	/* Without an LF yet, reaching the limit already means the line will
	 * be too long: a newline-less flood costs at most max bytes. */
	size_t have = r->line.len;
	if (have + take > r->max || (!lf && have + take >= r->max)) {
		size_t room = r->max > have ? r->max - have : 0;
		*taken = take < room ? take : room;
		return bad(r, "reply line too long");
	}
	if (!buf_append(&r->line, in, take))
		return SMTPC_READ_NOMEM;
	if (!lf)
		return SMTPC_READ_MORE;
	size_t n = r->line.len - 1;
	if (n > 0 && r->line.data[n - 1] == '\r')
		n--;
	enum smtpc_read res = take_line(r, r->line.data, n);
	buf_clear(&r->line);
	return res;
}
