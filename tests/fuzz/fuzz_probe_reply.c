/* Fuzzes the probe's reply parsers with what a hostile server may send:
 * SMTP multi-line replies then EHLO parsing, POP3 status lines, response
 * codes, APOP timestamps, multi-line bodies, LIST/UIDL lines. Extracted
 * strings must stay within their buffers and NUL-terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct smtp_reply r;
	smtp_reply_init(&r);
	struct pop3_multi m;
	pop3_multi_init(&m, 1 << 16);
	bool smtp_done = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (!smtp_done && smtp_reply_line(&r, p, len) != REPLY_MORE)
			smtp_done = true;
		const char *text;
		size_t tl;
		if (pop3_status_parse(p, len, &text, &tl) != POP3_ST_BAD) {
			char out[128];
			if (pop3_resp_code(text, tl, out, sizeof out) && strlen(out) >= sizeof out)
				abort();
			if (pop3_apop_timestamp(text, tl, out, sizeof out) && strlen(out) >= sizeof out)
				abort();
		}
		uint64_t a, b;
		(void)pop3_scan_pair(p, len, &a, &b);
		const char *uid;
		size_t ul;
		if (pop3_uidl_line(p, len, &a, &uid, &ul) && (uid < p || uid + ul > p + len))
			abort();
		if (!m.done)
			(void)pop3_multi_line(&m, p, len);
		p = nl ? nl + 1 : end;
	}
	if (smtp_done && r.code) {
		struct ehlo_info *e = malloc(sizeof *e);
		if (e) {
			ehlo_parse(&r, e);
			for (size_t i = 0; i < e->n; i++) {
				char d[256];
				ehlo_describe(&e->ext[i], d, sizeof d);
				if (strlen(d) >= sizeof d || strlen(e->ext[i].keyword) >= sizeof e->ext[i].keyword)
					abort();
			}
			free(e);
		}
	}
	size_t pos = 0;
	const char *line;
	size_t len;
	while (pop3_multi_next(&m, &pos, &line, &len))
		if (line < (const char *)m.body.data || line + len > (const char *)m.body.data + m.body.len)
			abort();
	smtp_reply_clear(&r);
	pop3_multi_clear(&m);
	return 0;
}
