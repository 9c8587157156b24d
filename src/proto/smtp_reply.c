/* smtp_reply: formats SMTP reply lines into a buffer.
 *
 * Never does I/O; the only failure is running out of memory. Texts come
 * from the server (constant strings, the configured hostname, a queue id
 * from the adapter), but are sanitised anyway: one careless caller must
 * not be able to inject a line break into the reply stream. */
#include "proto/smtp_reply.h"

#include <string.h>

static bool format_line(struct buf *out, unsigned code, char sep,
	const char *esc, const char *text)
{
	char head[4];
	head[0] = (char)('0' + code / 100 % 10);
	head[1] = (char)('0' + code / 10 % 10);
	head[2] = (char)('0' + code % 10);
	head[3] = sep;
	size_t start = out->len;
	if (!buf_append(out, head, sizeof head))
		return false;
	if (esc && !(buf_append_str(out, esc) && buf_append_byte(out, ' ')))
		return false;
	/* Room left for the text: the whole line incl. CRLF must stay within
	 * SMTP_REPLY_LINE_MAX (RFC 5321 4.5.3.1.5). */
	size_t used = out->len - start;
	size_t room = used + 2 < SMTP_REPLY_LINE_MAX
		? SMTP_REPLY_LINE_MAX - used - 2 : 0;
	size_t n = strlen(text);
	if (n > room)
		n = room;
	if (!buf_reserve(out, n + 2))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		out->data[out->len++] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	out->data[out->len++] = '\r';
	out->data[out->len++] = '\n';
	return true;
}

bool smtp_reply_format(struct buf *out, unsigned code, const char *esc,
	const char *const *lines, size_t nlines)
{
	if (code < 200 || code > 599 || nlines == 0)
		return false;
	for (size_t i = 0; i < nlines; i++) {
		char sep = i + 1 < nlines ? '-' : ' ';
		if (!format_line(out, code, sep, esc, lines[i]))
			return false;
	}
	return true;
}

bool smtp_reply_format1(struct buf *out, unsigned code, const char *esc,
	const char *text)
{
	return smtp_reply_format(out, code, esc, &text, 1);
}
