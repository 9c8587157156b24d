/* smtp_data: the DATA-phase filter, fed the raw bytes after "354".
 *
 * A byte-at-a-time state machine with a bulk path for the middle of a
 * line, so it behaves identically however the input is split. It never
 * does I/O and never holds more than max_size bytes: beyond that, or once
 * the message is known to be rejected, bytes are counted and dropped.
 *
 * Where a line starts matters for end detection and unstuffing, and only
 * CRLF starts a line (RFC 5321 2.3.8: "lines ... terminated by CRLF";
 * 4.1.1.4: the end is "<CRLF>.<CRLF>"). A bare LF or CR does not, so no
 * dot after one can ever end the message. */
#include "proto/smtp_data.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

enum {
	DS_BOL,     /* at the start of a line (after CRLF or DATA) */
	DS_BOL_DOT, /* "." at the start of a line, not yet stored */
	DS_DOT_CR,  /* ".\r" at the start of a line */
	DS_TEXT,    /* inside a line */
	DS_CR,      /* inside a line, after CR */
};

void smtp_data_init(struct smtp_data *d, size_t max_size, size_t max_line)
{
	memset(d, 0, sizeof *d);
	d->max_size = max_size;
	d->max_line = max_line;
	d->state = DS_BOL;
}

void smtp_data_clear(struct smtp_data *d)
{
	free(d->body);
	d->body = NULL;
	d->len = d->cap = 0;
}

static bool rejected(const struct smtp_data *d)
{
	return d->bare_newline || d->too_big || d->line_too_long
		|| d->no_memory || d->shed;
}

/* Stop storing once the message cannot be accepted: the memory is better
 * returned now than after another 25 MiB of input. */
static void drop_body(struct smtp_data *d)
{
	smtp_data_clear(d);
}

void smtp_data_shed(struct smtp_data *d)
{
	d->shed = true;
	drop_body(d);
}

static void bare_newline(struct smtp_data *d)
{
	d->bare_newline = true;
	drop_body(d);
}

/* Counts n octets of the current text line. */
static void count_line(struct smtp_data *d, size_t n)
{
	d->line_len = n > SIZE_MAX - d->line_len ? SIZE_MAX : d->line_len + n;
	if (d->line_len > d->max_line && !d->line_too_long) {
		d->line_too_long = true;
		drop_body(d);
	}
}

/* Appends content: wire_n octets count towards the size (2 for a line
 * end stored as one LF). */
static void store(struct smtp_data *d, const uint8_t *p, size_t n,
	size_t wire_n)
{
	d->size += wire_n;
	if (d->size > d->max_size && !d->too_big) {
		d->too_big = true;
		drop_body(d);
	}
	if (rejected(d))
		return;
	if (n > d->cap - d->len) {
		/* d->len + n <= d->size <= max_size, so the clamp below
		 * always leaves enough room. */
		size_t need = d->len + n;
		size_t cap = d->cap ? d->cap : 4096;
		while (cap < need)
			cap = cap > d->max_size / 2 ? d->max_size : cap * 2;
		if (cap > d->max_size)
			cap = d->max_size;
		uint8_t *nb = realloc(d->body, cap);
		if (!nb) {
			d->no_memory = true;
			drop_body(d);
			return;
		}
		d->body = nb;
		d->cap = cap;
	}
	memcpy(d->body + d->len, p, n);
	d->len += n;
}

size_t smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len)
{
	static const uint8_t lf = '\n';
	size_t i = 0;
	while (i < len && !d->done) {
		uint8_t c = in[i];
		switch (d->state) {
		case DS_BOL:
			if (c == '.') {
				/* not counted: either the stuffing dot, which
				 * 4.5.3.1.6 excludes, or part of the end mark */
				d->state = DS_BOL_DOT;
				i++;
			} else {
				d->state = DS_TEXT;
			}
			break;
		case DS_BOL_DOT:
			if (c == '\r') {
				d->state = DS_DOT_CR;
				i++;
			} else if (c == '\n') {
				/* "\r\n.\n": bare LF, not an end */
				bare_newline(d);
				d->state = DS_TEXT;
				i++;
			} else {
				/* RFC 5321 4.5.2: "If the first character is a
				 * period and there are other characters on the
				 * line, the first character is deleted." c is
				 * then ordinary text (a second "." included). */
				d->state = DS_TEXT;
			}
			break;
		case DS_DOT_CR:
			if (c == '\n') {
				/* <CRLF>.<CRLF>: not part of the content */
				d->done = true;
				i++;
			} else {
				/* "\r\n.\r" + anything else: a bare CR */
				bare_newline(d);
				d->state = DS_TEXT;
			}
			break;
		case DS_TEXT: {
			size_t j = i;
			while (j < len && in[j] != '\r' && in[j] != '\n')
				j++;
			if (j > i) {
				count_line(d, j - i);
				store(d, in + i, j - i, j - i);
				i = j;
			} else if (c == '\r') {
				count_line(d, 1);
				d->state = DS_CR;
				i++;
			} else {
				bare_newline(d);
				d->line_len = 0;
				i++;
			}
			break;
		}
		case DS_CR:
			if (c == '\n') {
				count_line(d, 1);
				store(d, &lf, 1, 2);
				d->line_len = 0;
				d->state = DS_BOL;
				i++;
			} else {
				/* the CR was bare; c is looked at again as text */
				bare_newline(d);
				d->state = DS_TEXT;
			}
			break;
		default:
			BUG("smtp_data: impossible state");
		}
	}
	return i;
}

bool smtp_data_done(const struct smtp_data *d)
{
	return d->done;
}

enum smtp_data_result smtp_data_result(const struct smtp_data *d)
{
	if (d->bare_newline)
		return SMTP_DATA_BARE_NEWLINE;
	if (d->too_big)
		return SMTP_DATA_TOO_BIG;
	if (d->line_too_long)
		return SMTP_DATA_LINE_TOO_LONG;
	if (d->no_memory)
		return SMTP_DATA_NO_MEMORY;
	if (d->shed)
		return SMTP_DATA_SHED;
	return SMTP_DATA_OK;
}

uint8_t *smtp_data_take(struct smtp_data *d, size_t *len)
{
	uint8_t *p = d->body;
	*len = d->len;
	if (!p) {
		*len = 0;
		p = malloc(1); /* an empty message still gets an owned body */
	}
	d->body = NULL;
	d->len = d->cap = 0;
	return p;
}
