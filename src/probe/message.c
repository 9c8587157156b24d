/* message: header fields, line ends, dot-stuffing and read-back comparison
 * for the client side (probe, sendmail).
 *
 * Pure: works on byte buffers only. Messages from a server are untrusted:
 * every scan is bounded by the buffer's length, never by a NUL. */
#include "probe/message.h"

#include <string.h>
#include <strings.h>

/* Offset just past the CRLF that ends the line starting at pos, or len. */
static size_t line_end(const uint8_t *m, size_t len, size_t pos)
{
	for (size_t i = pos; i + 1 < len; i++)
		if (m[i] == '\r' && m[i + 1] == '\n')
			return i + 2;
	return len;
}

bool header_next(const uint8_t *msg, size_t len, size_t *pos, struct header_field *f)
{
	size_t p = *pos;
	if (p >= len || msg[p] == '\r' || msg[p] == ' ' || msg[p] == '\t')
		return false;
	/* RFC 5322 3.6.8: ftext is %d33-57 / %d59-126 */
	size_t i = p;
	while (i < len && msg[i] >= 33 && msg[i] <= 126 && msg[i] != ':')
		i++;
	if (i == p || i >= len || msg[i] != ':')
		return false;
	size_t end = line_end(msg, len, p);
	while (end < len && (msg[end] == ' ' || msg[end] == '\t'))
		end = line_end(msg, len, end);
	f->name = (const char *)msg + p;
	f->namelen = i - p;
	f->value = (const char *)msg + i + 1;
	size_t vend = end;
	if (vend >= 2 && msg[vend - 2] == '\r' && msg[vend - 1] == '\n')
		vend -= 2;
	f->valuelen = vend > i + 1 ? vend - i - 1 : 0;
	f->start = p;
	f->end = end;
	*pos = end;
	return true;
}

bool header_find(const uint8_t *msg, size_t len, const char *name, struct header_field *f)
{
	size_t pos = 0, nl = strlen(name);
	while (header_next(msg, len, &pos, f))
		if (f->namelen == nl && !strncasecmp(f->name, name, nl))
			return true;
	return false;
}

void header_unfold(const char *v, size_t len, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < outsz; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		char c = v[i] == '\t' ? ' ' : v[i];
		if (c == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

bool crlf_normalize(const uint8_t *in, size_t len, bool add_final, struct buf *out)
{
	size_t run = 0; /* start of bytes not yet copied */
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
			i++;
			continue;
		}
		if (in[i] != '\r' && in[i] != '\n')
			continue;
		if (!buf_append(out, in + run, i - run) || !buf_append(out, "\r\n", 2))
			return false;
		run = i + 1;
	}
	if (!buf_append(out, in + run, len - run))
		return false;
	if (add_final && len > 0 && in[len - 1] != '\n' && in[len - 1] != '\r')
		return buf_append(out, "\r\n", 2);
	return true;
}

bool smtp_dot_stuff(const uint8_t *msg, size_t len, struct buf *out)
{
	size_t pos = 0;
	while (pos < len) {
		size_t end = line_end(msg, len, pos);
		if (msg[pos] == '.' && !buf_append_byte(out, '.'))
			return false;
		if (!buf_append(out, msg + pos, end - pos))
			return false;
		pos = end;
	}
	if (len > 0 && !(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n') &&
	    !buf_append(out, "\r\n", 2))
		return false;
	return buf_append(out, ".\r\n", 3);
}

void display_escape(const char *in, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char tmp[4];
		size_t n;
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			tmp[0] = (char)c;
			n = 1;
		} else if (c == '\\' || c == '\t') {
			tmp[0] = '\\';
			tmp[1] = c == '\t' ? 't' : '\\';
			n = 2;
		} else {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 15];
			n = 4;
		}
		if (o + n + 4 > outsz) { /* room for "..." and NUL */
			if (outsz >= 4) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	if (outsz > 0)
		out[o < outsz ? o : outsz - 1] = '\0';
}

/* Escapes the line of m starting at pos (without its CRLF) into out. */
static void show_line(const uint8_t *m, size_t len, size_t pos, char *out, size_t outsz)
{
	if (pos >= len) {
		display_escape("(end of message)", 16, out, outsz);
		return;
	}
	size_t end = line_end(m, len, pos);
	size_t n = end - pos;
	if (n >= 2 && m[end - 2] == '\r' && m[end - 1] == '\n')
		n -= 2;
	display_escape((const char *)m + pos, n, out, outsz);
}

static void note_added(struct msg_cmp *res, const struct header_field *f)
{
	size_t used = strlen(res->added_names);
	size_t room = sizeof res->added_names - used;
	const char *sep = used ? ", " : "";
	size_t need = strlen(sep) + f->namelen;
	if (need + 4 >= room) {
		if (used + 4 < sizeof res->added_names && !strstr(res->added_names, "..."))
			memcpy(res->added_names + used, "...", 4);
		return;
	}
	memcpy(res->added_names + used, sep, strlen(sep));
	memcpy(res->added_names + used + strlen(sep), f->name, f->namelen);
	res->added_names[used + need] = '\0';
}

void message_compare(const uint8_t *sent, size_t slen, const uint8_t *got, size_t glen,
		     struct msg_cmp *res)
{
	memset(res, 0, sizeof *res);
	size_t first_end = line_end(sent, slen, 0);
	/* Where sent starts in got: at a line start, right after whole header
	 * fields. The fast path: sent is a suffix of got. */
	size_t start = glen + 1;
	if (glen >= slen && !memcmp(got + glen - slen, sent, slen))
		start = glen - slen;
	size_t pos = 0;
	struct header_field f;
	for (;;) {
		if (pos == start)
			break;
		if (start > glen && pos + first_end <= glen && !memcmp(got + pos, sent, first_end)) {
			start = pos;
			break;
		}
		if (!header_next(got, glen, &pos, &f) || pos > start) {
			pos = glen + 1;
			break;
		}
		res->added++;
		note_added(res, &f);
	}
	if (pos > glen) {
		/* The beginning of sent is nowhere after the added fields. */
		res->line = 1;
		show_line(sent, slen, 0, res->want, sizeof res->want);
		show_line(got, glen, 0, res->got, sizeof res->got);
		res->added = 0;
		res->added_names[0] = '\0';
		return;
	}
	size_t sp = 0, gp = start, line = 1;
	while (sp < slen || gp < glen) {
		size_t se = line_end(sent, slen, sp), ge = line_end(got, glen, gp);
		if (sp >= slen || gp >= glen || se - sp != ge - gp ||
		    memcmp(sent + sp, got + gp, se - sp) != 0) {
			res->line = line;
			show_line(sent, slen, sp, res->want, sizeof res->want);
			show_line(got, glen, gp, res->got, sizeof res->got);
			return;
		}
		sp = se;
		gp = ge;
		line++;
	}
	res->same = true;
}
