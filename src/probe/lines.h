/* lines: splits the bytes a server sends into lines, for the probe and
 * sendmail clients. Pure: no I/O. A line ends at LF; a line that ends in a
 * bare LF (no CR before it) is flagged, since SMTP and POP3 require CRLF. */
#ifndef FACTEUR_PROBE_LINES_H
#define FACTEUR_PROBE_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Longest line accepted from a server, terminator included. Replies are at
 * most 512 octets (RFC 5321 4.5.3.1.5) and message lines 1000 (4.5.3.1.6),
 * but a probe should report an over-long line rather than drop the
 * session on it, so the cap is generous. */
#define PROBE_LINE_MAX (1024u * 1024u)

struct probe_lines {
	struct buf in;   /* received, not yet returned; starts at pos */
	size_t pos;      /* first byte not yet returned as a line */
	size_t scanned;  /* bytes after pos known to hold no LF */
};

struct probe_line {
	const char *text; /* the line without CR LF / LF; valid until the next feed/next */
	size_t len;
	size_t bytes;     /* bytes on the wire, terminator included */
	bool bare_lf;     /* ended in LF without CR */
};

enum lines_result { LINES_MORE, LINES_LINE, LINES_TOO_LONG };

void probe_lines_init(struct probe_lines *l);
void probe_lines_clear(struct probe_lines *l);
/* Appends n received bytes. Returns false when out of memory. */
bool probe_lines_feed(struct probe_lines *l, const uint8_t *p, size_t n);
/* The next complete line, LINES_MORE when more bytes are needed, or
 * LINES_TOO_LONG once PROBE_LINE_MAX bytes hold no LF. */
enum lines_result probe_lines_next(struct probe_lines *l, struct probe_line *out);
/* Bytes received but not yet returned as lines. */
size_t probe_lines_pending(const struct probe_lines *l);
/* Forgets the pending bytes (after STARTTLS/STLS: bytes that arrived in
 * plaintext must never be read as if they came through TLS). */
void probe_lines_discard(struct probe_lines *l);

#endif
