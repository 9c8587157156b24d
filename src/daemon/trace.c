#include "daemon/trace.h"

#include <string.h>
#include <strings.h>

/* Client text goes into a header only as harmless printable characters:
 * no CR/LF (header injection), no parentheses (comment nesting). */
static void append_sanitised(struct buf *out, const char *s, size_t max)
{
	size_t n = 0;
	for (; *s && n < max; s++, n++) {
		unsigned char ch = (unsigned char)*s;
		bool ok = ch > 0x20 && ch < 0x7f && ch != '(' && ch != ')' && ch != '\\';
		buf_append_byte(out, ok ? ch : '_');
	}
}

bool trace_headers(struct buf *out, const struct trace_info *t)
{
	char date[64];
	struct tm tm;
	localtime_r(&t->when, &tm);
	if (strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		date[0] = '\0';
	bool v6 = strchr(t->peer, ':') != NULL;

	if (!t->queued) {
		buf_append_str(out, "Return-Path: <");
		buf_append_str(out, t->mail_from);
		buf_append_str(out, ">\n");
	}
	buf_append_str(out, "Received: from ");
	append_sanitised(out, t->helo && *t->helo ? t->helo : "unknown", 255);
	buf_append_str(out, v6 ? " ([IPv6:" : " ([");
	buf_append_str(out, t->peer);
	buf_append_str(out, "])\n\tby ");
	buf_append_str(out, t->hostname);
	buf_append_str(out, " (facteur) with ");
	/* RFC 3848 protocol types: ESMTP, ESMTPS (TLS), ESMTPA (AUTH),
	 * ESMTPSA (both). */
	buf_append_str(out, t->esmtp ? "ESMTP" : "SMTP");
	if (t->esmtp && t->tls)
		buf_append_byte(out, 'S');
	if (t->esmtp && t->authenticated)
		buf_append_byte(out, 'A');
	buf_append_str(out, " id ");
	buf_append_str(out, t->id);
	if (t->for_rcpt) {
		buf_append_str(out, "\n\tfor <");
		buf_append_str(out, t->for_rcpt);
		buf_append_str(out, ">");
	}
	buf_append_str(out, ";\n\t");
	return buf_printf(out, "%s\n", date);
}

unsigned trace_count_received(const uint8_t *msg, size_t len, unsigned limit)
{
	unsigned n = 0;
	size_t pos = 0;
	while (pos < len && n < limit) {
		const uint8_t *nl = memchr(msg + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (msg + pos)) : len - pos;
		if (ll == 0 || (ll == 1 && msg[pos] == '\r'))
			break; /* end of the header section */
		if (ll >= 9 && !strncasecmp((const char *)msg + pos, "Received:", 9))
			n++;
		pos += ll + 1;
	}
	return n;
}
