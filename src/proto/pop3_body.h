/* pop3_body: turn stored message content (LF or CRLF line ends) into the
 * POP3 multi-line wire form (RFC 1939 3): CRLF line ends, a leading "."
 * doubled, and for TOP only the headers, the blank line and the first n
 * body lines. Streaming, so a 10 MiB message never has to sit in memory
 * twice. Pure: bytes in, bytes out. */
#ifndef FACTEUR_PROTO_POP3_BODY_H
#define FACTEUR_PROTO_POP3_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct pop3_body_enc {
	long top_lines;     /* -1: whole message */
	long body_lines;    /* body lines emitted so far */
	bool at_line_start;
	bool in_body;       /* past the blank line that ends the header */
	bool prev_cr;       /* last input byte was CR (CRLF split across feeds) */
	bool line_empty;    /* current line has no content yet */
	bool done;          /* TOP limit reached: ignore further input */
};

void pop3_body_init(struct pop3_body_enc *e, long top_lines);
/* Appends the encoded form of in to out. Returns false if out's maximum
 * was hit (out unchanged beyond what fit is not guaranteed: treat as
 * fatal). Sets e->done when TOP has emitted enough; further input is
 * ignored. */
bool pop3_body_encode(struct pop3_body_enc *e, const uint8_t *in, size_t len,
		      struct buf *out);
/* Terminates an unfinished last line with CRLF and appends ".\r\n".
 * A lone CR (not followed by LF) is content and passes unchanged. */
bool pop3_body_finish(struct pop3_body_enc *e, struct buf *out);

/* Size of content in the CRLF form that RETR sends (without stuffing or
 * the terminator): what LIST and STAT report. Streaming: call with
 * consecutive chunks, state starts at false; the sum of the results does
 * not depend on the chunking. Every LF not preceded by CR counts two (like
 * maildir W=). The CRLF that pop3_body_finish() adds to an unterminated
 * last line is not counted (messages received over SMTP always end in a
 * line end). */
uint64_t pop3_crlf_size(const uint8_t *in, size_t len, bool *prev_cr);

#endif
