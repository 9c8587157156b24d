/* lines: the line splitter of the client side (probe, sendmail).
 *
 * Pure: bytes in, lines out, no I/O. Returned lines point into the buffer
 * and stay valid until the next feed or next call; the consumed prefix is
 * dropped lazily so that reading a long multi-line reply stays linear. */
#include "probe/lines.h"

#include <string.h>

void probe_lines_init(struct probe_lines *l)
{
	buf_init(&l->in, 0);
	l->pos = 0;
	l->scanned = 0;
}

void probe_lines_clear(struct probe_lines *l)
{
	buf_release(&l->in);
	l->pos = 0;
	l->scanned = 0;
}

bool probe_lines_feed(struct probe_lines *l, const uint8_t *p, size_t n)
{
	if (l->pos > 0 && (l->pos == l->in.len || l->pos >= 65536)) {
		buf_consume(&l->in, l->pos);
		l->pos = 0;
	}
	return buf_append(&l->in, p, n);
}

enum lines_result probe_lines_next(struct probe_lines *l, struct probe_line *out)
{
	size_t avail = l->in.len - l->pos;
	if (avail == 0)
		return LINES_MORE;
	const uint8_t *start = l->in.data + l->pos;
	const uint8_t *lf = avail > l->scanned
		? memchr(start + l->scanned, '\n', avail - l->scanned) : NULL;
	if (!lf) {
		l->scanned = avail;
		return avail >= PROBE_LINE_MAX ? LINES_TOO_LONG : LINES_MORE;
	}
	size_t n = (size_t)(lf - start);
	if (n + 1 > PROBE_LINE_MAX)
		return LINES_TOO_LONG;
	out->text = (const char *)start;
	out->bytes = n + 1;
	out->bare_lf = !(n > 0 && start[n - 1] == '\r');
	out->len = out->bare_lf ? n : n - 1;
	l->pos += n + 1;
	l->scanned = 0;
	return LINES_LINE;
}

size_t probe_lines_pending(const struct probe_lines *l)
{
	return l->in.len - l->pos;
}

void probe_lines_discard(struct probe_lines *l)
{
	buf_clear(&l->in);
	l->pos = 0;
	l->scanned = 0;
}
