#include "proto/transcript.h"

#include <string.h>
#include <strings.h>

#include "lib/escape.h"

/* Length of the word starting at p (up to a space). */
static size_t word_len(const uint8_t *p, size_t len)
{
	size_t n = 0;
	while (n < len && p[n] != ' ')
		n++;
	return n;
}

void transcript_client_line(const uint8_t *line, size_t len, bool pop3,
			    char *out, size_t outsz)
{
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	size_t v = word_len(line, len);
	size_t keep = len; /* bytes shown as they are */
	bool redact = false;
	if (v == 4 && !strncasecmp((const char *)line, "AUTH", 4)) {
		/* "AUTH PLAIN <initial response>": keep the mechanism. */
		size_t m = v;
		while (m < len && line[m] == ' ')
			m++;
		m += word_len(line + m, len - m);
		if (m < len) {
			keep = m;
			redact = true;
		}
	} else if (pop3 && v == 4 && !strncasecmp((const char *)line, "PASS", 4) && len > 4) {
		keep = 4;
		redact = true;
	}
	escape_log(out, outsz - 12, line, keep);
	if (redact) {
		size_t o = strlen(out);
		memcpy(out + o, " <redacted>", sizeof " <redacted>");
	}
}
