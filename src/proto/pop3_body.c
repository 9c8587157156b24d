/* pop3_body: stored message content -> the POP3 multi-line wire form.
 *
 * The store keeps messages with LF (or CRLF) line ends. RETR and TOP send
 * them with CRLF line ends and byte-stuffing (RFC 1939 3), ended by ".".
 * A lone CR (not followed by LF) is ordinary content and passes as is.
 * Every decision depends only on the bytes seen so far and the small
 * state in struct pop3_body_enc, so output is the same whatever the
 * chunking. Pure: no I/O, runs in the network process.
 */
#include "proto/pop3_body.h"

#include <string.h>

void pop3_body_init(struct pop3_body_enc *e, long top_lines)
{
	e->top_lines = top_lines < 0 ? -1 : top_lines;
	e->body_lines = 0;
	e->at_line_start = true;
	e->in_body = false;
	e->prev_cr = false;
	e->line_empty = true;
	e->done = false;
}

/* Tracks whether the current line is still blank: "" or a single CR
 * before the LF (the header/body separator in CRLF or LF form). */
static void note_content(struct pop3_body_enc *e, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	if (e->line_empty && !e->prev_cr && n == 1 && p[0] == '\r') {
		/* still blank if LF follows */
	} else {
		e->line_empty = false;
	}
	e->prev_cr = p[n - 1] == '\r';
}

/* Called after the LF of a line has been emitted. TOP (RFC 1939 7):
 * every header line, the blank line, then top_lines body lines. */
static void end_line(struct pop3_body_enc *e)
{
	if (!e->in_body) {
		if (e->line_empty) {
			e->in_body = true;
			if (e->top_lines == 0)
				e->done = true;
		}
	} else {
		e->body_lines++;
		if (e->top_lines >= 0 && e->body_lines >= e->top_lines)
			e->done = true;
	}
	e->at_line_start = true;
	e->line_empty = true;
	e->prev_cr = false;
}

bool pop3_body_encode(struct pop3_body_enc *e, const uint8_t *in, size_t len,
		      struct buf *out)
{
	size_t i = 0;
	while (i < len && !e->done) {
		if (e->at_line_start) {
			/* RFC 1939 3: a line starting with the termination
			 * octet gets another one in front. */
			if (in[i] == '.' && !buf_append_byte(out, '.'))
				return false;
			e->at_line_start = false;
		}
		const uint8_t *nl = memchr(in + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - in) : len;
		if (!buf_append(out, in + i, end - i))
			return false;
		note_content(e, in + i, end - i);
		if (!nl)
			break;
		/* CR already went out if it preceded this LF. */
		if (!(e->prev_cr ? buf_append_byte(out, '\n')
				 : buf_append(out, "\r\n", 2)))
			return false;
		end_line(e);
		i = end + 1;
	}
	return true;
}

bool pop3_body_finish(struct pop3_body_enc *e, struct buf *out)
{
	/* An unterminated last line gets its CRLF here. A trailing CR was
	 * sent as a lone CR, consistent with the rule above. */
	if (!e->at_line_start && !buf_append(out, "\r\n", 2))
		return false;
	e->at_line_start = true;
	e->done = true;
	return buf_append(out, ".\r\n", 3);
}

uint64_t pop3_crlf_size(const uint8_t *in, size_t len, bool *prev_cr)
{
	/* RFC 1939 11: a single-character end of line counts as two octets;
	 * stuffed dots are not counted. An LF already preceded by CR (maybe
	 * in the previous chunk) counts once, like every other byte. The CRLF
	 * that pop3_body_finish() adds to an unterminated last line belongs to
	 * the terminator and is not counted (it cannot be known here). */
	if (len == 0)
		return 0;
	uint64_t n = len;
	bool cr = *prev_cr;
	size_t i = 0;
	for (;;) {
		const uint8_t *nl = memchr(in + i, '\n', len - i);
		if (!nl)
			break;
		size_t at = (size_t)(nl - in);
		bool before = at > 0 ? in[at - 1] == '\r' : cr;
		if (!before)
			n++;
		i = at + 1;
		if (i == len)
			break;
	}
	*prev_cr = in[len - 1] == '\r';
	return n;
}
