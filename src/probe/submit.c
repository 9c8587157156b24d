/* submit: message preparation for "facteur sendmail".
 *
 * Pure: bytes in, a message and a recipient list out. The input comes
 * from a local user or program, but is treated like any other: scans are
 * bounded by lengths, addresses by ADDRLIST_ADDR_MAX. */
#include "probe/submit.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "probe/addrlist.h"
#include "probe/message.h"

size_t submit_dot_line(const uint8_t *in, size_t len, size_t from)
{
	size_t pos = from;
	while (pos < len) {
		const uint8_t *lf = memchr(in + pos, '\n', len - pos);
		if (!lf)
			return len;
		size_t n = (size_t)(lf - in) - pos;
		if ((n == 1 && in[pos] == '.') || (n == 2 && in[pos] == '.' && in[pos + 1] == '\r'))
			return pos;
		pos += n + 1;
	}
	return len;
}

const char *nul_list_next(const struct buf *list, size_t *off)
{
	if (*off >= list->len)
		return NULL;
	const char *s = (const char *)list->data + *off;
	*off += strnlen(s, list->len - *off) + 1;
	return s;
}

bool submit_add_rcpt(struct buf *list, size_t *n, const char *addr, size_t len,
		     const char *domain)
{
	char full[ADDRLIST_ADDR_MAX + 1];
	bool local = !memchr(addr, '@', len);
	int w = snprintf(full, sizeof full, "%.*s%s%s", (int)len, addr, local ? "@" : "",
			 local ? domain : "");
	if (w < 0 || (size_t)w >= sizeof full)
		return false;
	size_t off = 0;
	for (const char *p; (p = nul_list_next(list, &off));)
		if (!strcasecmp(p, full))
			return true;
	if (!buf_append(list, full, (size_t)w + 1))
		return false;
	(*n)++;
	return true;
}

/* Is the display name safe as a bare phrase (atext and spaces)? */
static bool plain_phrase(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!(c >= 0x80 || c == ' ' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c)))
			return false;
	}
	return true;
}

static bool add_from(struct buf *b, const struct submit_in *si)
{
	if (!si->from_name || !si->from_name[0])
		return buf_printf(b, "From: %s\r\n", si->from_addr);
	if (plain_phrase(si->from_name))
		return buf_printf(b, "From: %s <%s>\r\n", si->from_name, si->from_addr);
	/* RFC 5322 3.2.4: a quoted-string, '"' and '\' escaped; control
	 * characters cannot appear in a header and are dropped. */
	bool ok = buf_append_str(b, "From: \"");
	for (const char *s = si->from_name; *s && ok; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			continue;
		if (*s == '"' || *s == '\\')
			ok = buf_append_byte(b, '\\');
		ok = ok && buf_append_byte(b, (uint8_t)*s);
	}
	return ok && buf_printf(b, "\" <%s>\r\n", si->from_addr);
}

static bool is_field(const struct header_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->namelen == n && !strncasecmp(f->name, name, n);
}

/* -t: the addresses of one To/Cc/Bcc field. */
static bool extract(const struct header_field *f, const struct submit_in *si,
		    struct submit_out *out)
{
	struct buf found;
	buf_init(&found, 0);
	int n = addrlist_parse(f->value, f->valuelen, &found);
	bool ok = n >= 0;
	if (!ok)
		snprintf(out->err, sizeof out->err, "cannot read the addresses in the %.*s field",
			 (int)(f->namelen > 20 ? 20 : f->namelen), f->name);
	size_t off = 0;
	for (const char *p; ok && (p = nul_list_next(&found, &off));) {
		ok = submit_add_rcpt(&out->rcpts, &out->nrcpts, p, strlen(p), si->domain);
		if (!ok)
			snprintf(out->err, sizeof out->err, "address too long or out of memory");
	}
	buf_release(&found);
	return ok;
}

bool submit_prepare(const uint8_t *in, size_t len, const struct submit_in *si,
		    struct submit_out *out)
{
	out->err[0] = '\0';
	out->nrcpts = 0;
	out->eight_bit = false;
	/* An mbox "From " line is not part of the message. */
	if (len >= 5 && !memcmp(in, "From ", 5)) {
		const uint8_t *lf = memchr(in, '\n', len);
		size_t skip = lf ? (size_t)(lf - in) + 1 : len;
		in += skip;
		len -= skip;
	}
	struct buf norm;
	buf_init(&norm, 0);
	if (!crlf_normalize(in, len, true, &norm)) {
		snprintf(out->err, sizeof out->err, "out of memory");
		buf_release(&norm);
		return false;
	}
	const uint8_t *m = norm.data ? norm.data : (const uint8_t *)"";
	size_t mlen = norm.len, pos = 0;
	for (size_t i = 0; i < mlen && !out->eight_bit; i++)
		out->eight_bit = m[i] >= 0x80;
	bool has_from = false, has_date = false, has_id = false, ok = true;
	struct header_field f;
	while (ok && header_next(m, mlen, &pos, &f)) {
		has_from |= is_field(&f, "From");
		has_date |= is_field(&f, "Date");
		has_id |= is_field(&f, "Message-ID");
		bool bcc = is_field(&f, "Bcc");
		if (si->extract && (bcc || is_field(&f, "To") || is_field(&f, "Cc")))
			ok = extract(&f, si, out);
		/* Bcc recipients must not see each other, nor be seen. */
		if (ok && !bcc)
			ok = buf_append(&out->message, m + f.start, f.end - f.start);
		/* A last field without CRLF (input ended in the header). */
		if (ok && (f.end < 2 || m[f.end - 1] != '\n'))
			ok = buf_append(&out->message, "\r\n", 2);
	}
	if (ok && !has_from)
		ok = add_from(&out->message, si);
	if (ok && !has_date)
		ok = buf_printf(&out->message, "Date: %s\r\n", si->date);
	if (ok && !has_id)
		ok = buf_printf(&out->message, "Message-ID: %s\r\n", si->message_id);
	/* The blank line, then the body; a message that was all body (its
	 * first line not a field) gets the blank line it lacked. */
	if (ok && pos + 2 <= mlen && m[pos] == '\r' && m[pos + 1] == '\n')
		pos += 2;
	if (ok)
		ok = buf_append(&out->message, "\r\n", 2) &&
		     buf_append(&out->message, m + pos, mlen - pos);
	if (!ok && !out->err[0])
		snprintf(out->err, sizeof out->err, "out of memory");
	buf_release(&norm);
	return ok;
}
