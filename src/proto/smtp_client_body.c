/* smtp_client_body: turns a message as the queue stores it into DATA
 * content for the wire, one bounded block at a time.
 *
 * The input's line ends may be LF or CRLF; a bare CR is taken as a line
 * end too, so that no bare CR ever reaches the wire (RFC 5321 2.3.8; a
 * lone CR next to a "." is the raw material of SMTP smuggling). The
 * output has CRLF line ends, a "." doubled at the start of every wire
 * line (4.5.2), text lines broken at 998 octets (4.5.3.1.6) and the
 * final ".". Pure: no I/O, the input is borrowed. */
#include "proto/smtp_client_int.h"

#include <string.h>

void smtpc_body_init(struct smtpc_body *b, const uint8_t *p, size_t len)
{
	memset(b, 0, sizeof *b);
	b->p = p;
	b->len = p ? len : 0;
}

static void put(uint8_t *out, size_t *o, const void *p, size_t n)
{
	if (out)
		memcpy(out + *o, p, n);
	*o += n;
}

/* Length of the run at b->pos that holds no CR or LF, at most max. */
static size_t text_run(const struct smtpc_body *b, size_t max)
{
	const uint8_t *s = b->p + b->pos;
	size_t n = b->len - b->pos < max ? b->len - b->pos : max;
	const uint8_t *lf = memchr(s, '\n', n);
	if (lf)
		n = (size_t)(lf - s);
	const uint8_t *cr = memchr(s, '\r', n);
	if (cr)
		n = (size_t)(cr - s);
	return n;
}

/* Encodes from b->pos into out (room bytes); with out NULL it only
 * counts. Returns the bytes produced. Every step needs at most 4 bytes
 * (a forced break, a stuffing dot, one text byte), the end 5. */
static size_t encode(struct smtpc_body *b, uint8_t *out, size_t room)
{
	size_t o = 0;
	while (b->pos < b->len && room - o >= 4) {
		uint8_t ch = b->p[b->pos];
		if (ch == '\r' || ch == '\n') {
			bool crlf = ch == '\r' && b->pos + 1 < b->len
				&& b->p[b->pos + 1] == '\n';
			b->pos += crlf ? 2 : 1;
			put(out, &o, "\r\n", 2);
			b->col = 0;
			continue;
		}
		if (b->col == SMTPC_BODY_LINE_MAX) {
			put(out, &o, "\r\n", 2);
			b->col = 0;
		}
		/* the check is on the wire line, so a "." that a forced break
		 * moved to the start of a line is doubled too */
		if (b->col == 0 && ch == '.') {
			put(out, &o, ".", 1);
			b->col++;
			b->dots++;
		}
		size_t max = SMTPC_BODY_LINE_MAX - b->col;
		if (max > room - o)
			max = room - o;
		size_t n = text_run(b, max);
		put(out, &o, b->p + b->pos, n);
		b->pos += n;
		b->col += n;
	}
	if (b->pos == b->len && !b->ended && room - o >= 5) {
		/* RFC 5321 4.1.1.4: the end is <CRLF>.<CRLF>, so content that
		 * does not end a line gets a line end first */
		if (b->col)
			put(out, &o, "\r\n", 2);
		put(out, &o, ".\r\n", 3);
		b->col = 0;
		b->ended = true;
	}
	return o;
}

uint64_t smtpc_body_size(const uint8_t *p, size_t len)
{
	struct smtpc_body b;
	smtpc_body_init(&b, p, len);
	uint64_t total = 0;
	while (!b.ended)
		total += encode(&b, NULL, (size_t)1 << 30);
	return total - b.dots - 3;
}

bool smtpc_body_fill(struct smtpc_body *b, struct buf *out)
{
	if (!buf_reserve(out, SMTPC_BODY_CHUNK))
		return false;
	out->len += encode(b, out->data + out->len, SMTPC_BODY_CHUNK);
	return true;
}
