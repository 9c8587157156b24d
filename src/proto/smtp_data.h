/* smtp_data: the DATA phase of SMTP as a byte-stream filter (RFC 5321
 * 4.1.1.4, 4.5.2): end detection, dot-unstuffing, CRLF -> LF, line and
 * size limits, and the SMTP smuggling defence.
 *
 * Only <CRLF>.<CRLF> ends the message; the DATA command's own CRLF counts,
 * so a "." line right after the 354 reply ends an empty message. A bare LF
 * (not after CR) or a bare CR (not before LF) anywhere marks the message
 * bad: it is then still read to the real <CRLF>.<CRLF> and rejected, so
 * "\n.\n", "\r.\r", "\r\n.\n" and the like never end a message or start
 * a smuggled one (CVE-2023-51764 and its cousins). */
#ifndef FACTEUR_PROTO_SMTP_DATA_H
#define FACTEUR_PROTO_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum smtp_data_result {
	SMTP_DATA_OK,
	SMTP_DATA_BARE_NEWLINE, /* bare CR or LF seen: 550 5.5.2 */
	SMTP_DATA_TOO_BIG,      /* over max_size: 552 5.3.4 (RFC 1870) */
	SMTP_DATA_LINE_TOO_LONG,/* a text line over max_line: 500 5.5.2 */
	SMTP_DATA_NO_MEMORY,    /* our failure, not the client's: 451 4.3.0 */
	SMTP_DATA_SHED,         /* the server's memory budget for messages in
	                         * transit is spent: 452 4.3.1 (try later) */
};

/* Internal state; treat as opaque. */
struct smtp_data {
	uint8_t *body;       /* stored content, LF line ends, unstuffed */
	size_t len;
	size_t cap;          /* never more than max_size */
	size_t max_size;
	size_t max_line;
	/* RFC 1870 message size: content after unstuffing, each line end
	 * counted as CRLF, the final ".CRLF" not counted. */
	uint64_t size;
	size_t line_len;     /* octets of the current text line so far */
	int state;
	bool done;           /* <CRLF>.<CRLF> seen */
	bool bare_newline;
	bool too_big;
	bool line_too_long;
	bool no_memory;
	bool shed;
};

/* Starts a message. max_size: most octets kept (and the RFC 1870 limit);
 * max_line: longest text line incl. CRLF, the leading stuffing dot not
 * counted (RFC 5321 4.5.3.1.6). Allocates nothing yet. */
void smtp_data_init(struct smtp_data *d, size_t max_size, size_t max_line);
/* Consumes bytes up to and including the end marker; returns how many.
 * Once smtp_data_done(), consumes nothing more. Memory stays within
 * max_size whatever arrives; a bad message stops being stored at once. */
size_t smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len);
bool smtp_data_done(const struct smtp_data *d);
/* Valid once done. The first problem in the order of the enum wins. */
enum smtp_data_result smtp_data_result(const struct smtp_data *d);
/* Hands the stored body to the caller (free() it); never NULL unless
 * allocation fails. The smtp_data is left empty. */
uint8_t *smtp_data_take(struct smtp_data *d, size_t *len);
/* Stops storing this message (its memory is freed now); it is still read
 * to its end and then refused with SMTP_DATA_SHED. */
void smtp_data_shed(struct smtp_data *d);
/* Frees whatever is stored; init again before reuse. */
void smtp_data_clear(struct smtp_data *d);

#endif
