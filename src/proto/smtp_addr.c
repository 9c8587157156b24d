/* smtp_addr: parser for RFC 5321 paths and the MAIL/RCPT argument lists.
 *
 * Attacker-controlled input, so: a single forward scan with explicit
 * bounds, no allocation, and one result per failure kind. The canonical
 * address written out never holds control, 8-bit or NUL bytes, so the
 * session may put it into log lines (escaped anyway) and hand it to the
 * recipient check without further cleaning. It does not decide anything
 * about "%" or "!" in local parts or "../" in quoted ones: those are just
 * characters to the grammar; the mail store must never use a local part
 * as a file name. */
#include "proto/smtp_addr.h"

#include <arpa/inet.h>
#include <string.h>

#include "lib/strnum.h"

#define LABEL_MAX 63 /* RFC 1035 2.3.4 */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

/* RFC 5322 3.2.3 atext, as used by RFC 5321 4.1.2 Atom. */
static bool is_atext(char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool equal_nocase(const char *a, size_t alen, const char *b)
{
	size_t n = strlen(b);
	if (alen != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* Scans an RFC 5321 Domain starting at s[i]. Returns the index just past
 * it (always > i), or 0 if it is malformed. */
static size_t scan_domain(const char *s, size_t i, size_t len)
{
	for (;;) {
		size_t lab = i;
		/* sub-domain = Let-dig [Ldh-str]: no leading or trailing "-" */
		if (i >= len || !is_alnum(s[i]))
			return 0;
		while (i < len && (is_alnum(s[i]) || s[i] == '-'))
			i++;
		if (s[i - 1] == '-' || i - lab > LABEL_MAX)
			return 0;
		if (i < len && s[i] == '.') {
			i++;
			continue;
		}
		break;
	}
	return i; /* the caller checks the total against LIMIT_SMTP_DOMAIN */
}

/* RFC 5321 4.1.3 IPv4-address-literal: Snum 3("." Snum). */
static bool ipv4_literal_valid(const char *s, size_t len)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		size_t d = i;
		while (i < len && is_digit(s[i]) && i - d < 3)
			i++;
		uint64_t v;
		if (!strnum_u64(s + d, i - d, 255, &v))
			return false;
	}
	return i == len;
}

/* RFC 5321 4.1.3 address-literal, s[0] == '[' and s[len-1] == ']'. Only
 * IPv4 and "IPv6:" are standardised tags; General-address-literal with any
 * other tag is refused. */
static bool literal_valid(const char *s, size_t len)
{
	if (len < 3)
		return false;
	s++;
	len -= 2;
	static const char tag[] = "IPv6:";
	if (len > sizeof tag - 1 && equal_nocase(s, sizeof tag - 1, tag)) {
		char tmp[64];
		struct in6_addr a6;
		size_t n = len - (sizeof tag - 1);
		if (n >= sizeof tmp)
			return false;
		memcpy(tmp, s + sizeof tag - 1, n);
		tmp[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if (!(is_alnum(tmp[i]) || tmp[i] == ':' || tmp[i] == '.'))
				return false;
		return inet_pton(AF_INET6, tmp, &a6) == 1;
	}
	return ipv4_literal_valid(s, len);
}

bool smtp_addr_domain_valid(const char *s, size_t len, bool allow_literal)
{
	if (len > 0 && s[0] == '[')
		return allow_literal && s[len - 1] == ']' && literal_valid(s, len);
	return len > 0 && len <= LIMIT_SMTP_DOMAIN
		&& scan_domain(s, 0, len) == len;
}

/* Scans a domain or address literal at s[i]; returns the end or 0. */
static size_t scan_domain_or_literal(const char *s, size_t i, size_t len)
{
	if (i < len && s[i] == '[') {
		size_t j = i + 1;
		/* dcontent = %d33-90 / %d94-126: no "[", "\\" or "]" inside */
		while (j < len && s[j] != ']' && s[j] > 32 && s[j] < 127
			&& s[j] != '[' && s[j] != '\\')
			j++;
		if (j >= len || s[j] != ']' || !literal_valid(s + i, j + 1 - i))
			return 0;
		return j + 1;
	}
	return scan_domain(s, i, len);
}

/* True if s[0..len) is a Dot-string: Atom *("." Atom). */
static bool is_dot_string(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!is_atext(s[i])) {
			return false;
		}
	}
	return true;
}

/* A bounded writer into smtp_path.addr. */
struct out_w {
	struct smtp_path *p;
	bool overflow;
};

static void put(struct out_w *w, char c)
{
	if (w->p->len >= LIMIT_SMTP_PATH) {
		w->overflow = true;
		return;
	}
	w->p->addr[w->p->len++] = c;
}

/* Writes the local part in its least-quoted form (RFC 5321 4.1.2). */
static void put_local(struct out_w *w, const char *content, size_t n)
{
	if (is_dot_string(content, n)) {
		for (size_t i = 0; i < n; i++)
			put(w, content[i]);
		return;
	}
	put(w, '"');
	for (size_t i = 0; i < n; i++) {
		if (content[i] == '"' || content[i] == '\\')
			put(w, '\\');
		put(w, content[i]);
	}
	put(w, '"');
}

/* Scans a Quoted-string at s[i] == '"', decoding it into buf (cap bytes).
 * Returns the index after the closing quote, or 0. */
static size_t scan_quoted(const char *s, size_t i, size_t len, char *buf,
	size_t cap, size_t *n)
{
	*n = 0;
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			return i + 1;
		if (c == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (++i >= len)
				return 0;
			c = (unsigned char)s[i];
			if (c < 32 || c > 126)
				return 0;
		} else if (c < 32 || c > 126) {
			/* qtextSMTP is printable ASCII and SP only */
			return 0;
		}
		if (*n >= cap)
			return 0;
		buf[(*n)++] = (char)c;
	}
	return 0;
}

enum smtp_addr_result smtp_path_parse(const char *s, size_t len,
	unsigned flags, struct smtp_path *out, size_t *used)
{
	out->len = 0;
	out->addr[0] = '\0';
	*used = 0;
	if (len < 2 || s[0] != '<')
		return SMTP_ADDR_BAD_PATH;
	size_t i = 1;
	if (s[i] == '>') {
		if (!(flags & SMTP_PATH_ALLOW_NULL))
			return SMTP_ADDR_BAD_PATH;
		*used = 2;
		return SMTP_ADDR_OK;
	}
	/* A-d-l ":" — the source route of RFC 5321 4.1.2 and Appendix C:
	 * "MUST BE accepted, SHOULD NOT be generated, and SHOULD be ignored".
	 * Validated, then dropped. */
	bool route = false;
	if (s[i] == '@') {
		route = true;
		for (;;) {
			size_t e = scan_domain(s, i + 1, len);
			if (e == 0 || e >= len)
				return SMTP_ADDR_BAD_PATH;
			i = e;
			if (s[i] == ',' && i + 1 < len && s[i + 1] == '@') {
				i++;
				continue;
			}
			if (s[i] != ':')
				return SMTP_ADDR_BAD_PATH;
			i++;
			break;
		}
	}
	/* Local-part = Dot-string / Quoted-string */
	char local[LIMIT_SMTP_PATH];
	size_t nlocal = 0;
	size_t lstart = i;
	if (i < len && s[i] == '"') {
		i = scan_quoted(s, i, len, local, sizeof local, &nlocal);
		if (i == 0)
			return SMTP_ADDR_BAD_PATH;
	} else {
		while (i < len && (is_atext(s[i]) || s[i] == '.'))
			i++;
		nlocal = i - lstart;
		if (!is_dot_string(s + lstart, nlocal))
			return SMTP_ADDR_BAD_PATH;
		if (nlocal > LIMIT_SMTP_LOCAL_PART)
			return SMTP_ADDR_PATH_TOO_LONG;
		memcpy(local, s + lstart, nlocal);
	}
	if (i >= len)
		return SMTP_ADDR_BAD_PATH;
	if (i - lstart > LIMIT_SMTP_LOCAL_PART)
		return SMTP_ADDR_PATH_TOO_LONG;

	struct out_w w = {out, false};
	if (s[i] == '>') {
		/* RFC 5321 4.1.1.3: "<Postmaster>" without a domain, any case,
		 * must be accepted as a recipient. */
		if (!(flags & SMTP_PATH_ALLOW_POSTMASTER) || route
			|| !equal_nocase(local, nlocal, "postmaster"))
			return SMTP_ADDR_BAD_PATH;
		put_local(&w, local, nlocal);
	} else {
		if (s[i] != '@')
			return SMTP_ADDR_BAD_PATH;
		size_t dstart = ++i;
		size_t e = scan_domain_or_literal(s, dstart, len);
		if (e == 0 || e >= len || s[e] != '>')
			return SMTP_ADDR_BAD_PATH;
		if (e - dstart > LIMIT_SMTP_DOMAIN)
			return SMTP_ADDR_PATH_TOO_LONG;
		i = e;
		put_local(&w, local, nlocal);
		put(&w, '@');
		for (size_t k = dstart; k < e; k++)
			put(&w, s[k]);
	}
	/* RFC 5321 4.5.3.1.3: 256 octets including the punctuation. */
	if (i + 1 > LIMIT_SMTP_PATH || w.overflow) {
		out->len = 0;
		out->addr[0] = '\0';
		return SMTP_ADDR_PATH_TOO_LONG;
	}
	out->addr[out->len] = '\0';
	*used = i + 1;
	return SMTP_ADDR_OK;
}

/* Skips "FROM:" / "TO:" (any case) and the spaces after it. RFC 5321
 * 4.1.1.2 has no space after the colon, but "MAIL FROM: <a@b>" is common
 * enough (old Outlook, hand-typed sessions) that refusing it would only
 * lose mail; the path itself stays strict. */
static enum smtp_addr_result skip_keyword(const char *s, size_t len,
	const char *kw, size_t *i)
{
	size_t n = strlen(kw);
	if (len < n || !equal_nocase(s, n, kw))
		return SMTP_ADDR_SYNTAX;
	*i = n;
	while (*i < len && s[*i] == ' ')
		(*i)++;
	if (*i == len)
		return SMTP_ADDR_SYNTAX;
	return SMTP_ADDR_OK;
}

struct param {
	const char *key;
	size_t keylen;
	const char *val; /* NULL when no "=" */
	size_t vallen;
};

/* Takes the next esmtp-param (RFC 5321 4.1.2) from s[*i..len). Returns
 * OK with p filled, OK with p->key NULL at the end, or SYNTAX. */
static enum smtp_addr_result next_param(const char *s, size_t len,
	size_t *i, struct param *p)
{
	p->key = NULL;
	p->val = NULL;
	p->keylen = p->vallen = 0;
	size_t j = *i;
	if (j == len)
		return SMTP_ADDR_OK;
	/* parameters are separated from the path and each other by SP */
	if (s[j] != ' ')
		return SMTP_ADDR_BAD_PATH;
	while (j < len && s[j] == ' ')
		j++;
	if (j == len)
		return SMTP_ADDR_OK;
	size_t k = j;
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	if (!is_alnum(s[j]))
		return SMTP_ADDR_SYNTAX;
	while (j < len && (is_alnum(s[j]) || s[j] == '-'))
		j++;
	p->key = s + k;
	p->keylen = j - k;
	if (j < len && s[j] == '=') {
		size_t v = ++j;
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		while (j < len && s[j] >= 33 && s[j] <= 126 && s[j] != '=')
			j++;
		if (j == v)
			return SMTP_ADDR_SYNTAX;
		p->val = s + v;
		p->vallen = j - v;
	}
	if (j < len && s[j] != ' ')
		return SMTP_ADDR_SYNTAX;
	*i = j;
	return SMTP_ADDR_OK;
}

static enum smtp_addr_result parse_size(const struct param *p,
	uint64_t *size)
{
	/* RFC 1870 4: size-value ::= 1*20DIGIT */
	if (!p->val || p->vallen > 20)
		return SMTP_ADDR_BAD_VALUE;
	for (size_t i = 0; i < p->vallen; i++)
		if (!is_digit(p->val[i]))
			return SMTP_ADDR_BAD_VALUE;
	if (!strnum_u64(p->val, p->vallen, UINT64_MAX, size))
		*size = UINT64_MAX; /* 20 digits past 2^64-1: just too big */
	return SMTP_ADDR_OK;
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* RFC 3461 4: xtext = *( xchar / hexchar ), xchar = "!".."~" except "+"
 * and "=", hexchar = "+" 2HEXDIG. next_param() already kept the value
 * within "!".."~" without "="; lower-case hex is let through. */
static bool xtext_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] != '+')
			continue;
		if (n - i < 3 || !is_hex(v[i + 1]) || !is_hex(v[i + 2]))
			return false;
		i += 2;
	}
	return true;
}

enum smtp_addr_result smtp_addr_parse_mail(const char *args, size_t len,
	struct smtp_mail_args *out)
{
	out->has_auth = false;
	out->has_size = false;
	out->size = 0;
	out->body = SMTP_BODY_NONE;
	size_t i, used;
	enum smtp_addr_result r = skip_keyword(args, len, "FROM:", &i);
	if (r != SMTP_ADDR_OK) {
		out->from.len = 0;
		out->from.addr[0] = '\0';
		return r;
	}
	r = smtp_path_parse(args + i, len - i, SMTP_PATH_ALLOW_NULL,
		&out->from, &used);
	if (r != SMTP_ADDR_OK)
		return r;
	i += used;
	for (;;) {
		struct param p;
		r = next_param(args, len, &i, &p);
		if (r != SMTP_ADDR_OK)
			return r;
		if (!p.key)
			return SMTP_ADDR_OK;
		if (equal_nocase(p.key, p.keylen, "SIZE")) {
			if (out->has_size)
				return SMTP_ADDR_SYNTAX;
			r = parse_size(&p, &out->size);
			if (r != SMTP_ADDR_OK)
				return r;
			out->has_size = true;
		} else if (equal_nocase(p.key, p.keylen, "BODY")) {
			/* RFC 6152 2: BODY=7BIT / BODY=8BITMIME */
			if (out->body != SMTP_BODY_NONE)
				return SMTP_ADDR_SYNTAX;
			if (p.val && equal_nocase(p.val, p.vallen, "7BIT"))
				out->body = SMTP_BODY_7BIT;
			else if (p.val && equal_nocase(p.val, p.vallen, "8BITMIME"))
				out->body = SMTP_BODY_8BITMIME;
			else
				return SMTP_ADDR_BAD_VALUE;
		} else if (equal_nocase(p.key, p.keylen, "AUTH")) {
			/* RFC 4954 5: AUTH=<mailbox as xtext> or AUTH=<> */
			if (out->has_auth)
				return SMTP_ADDR_SYNTAX;
			if (!p.val || !xtext_ok(p.val, p.vallen))
				return SMTP_ADDR_BAD_VALUE;
			out->has_auth = true;
		} else {
			return SMTP_ADDR_UNKNOWN_PARAM;
		}
	}
}

enum smtp_addr_result smtp_addr_parse_rcpt(const char *args, size_t len,
	struct smtp_path *out)
{
	size_t i, used;
	out->len = 0;
	out->addr[0] = '\0';
	enum smtp_addr_result r = skip_keyword(args, len, "TO:", &i);
	if (r != SMTP_ADDR_OK)
		return r;
	r = smtp_path_parse(args + i, len - i, SMTP_PATH_ALLOW_POSTMASTER, out,
		&used);
	if (r != SMTP_ADDR_OK)
		return r;
	i += used;
	struct param p;
	r = next_param(args, len, &i, &p);
	if (r != SMTP_ADDR_OK)
		return r;
	return p.key ? SMTP_ADDR_UNKNOWN_PARAM : SMTP_ADDR_OK;
}
