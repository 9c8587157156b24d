/* addrlist: address-list parsing for "facteur sendmail -t".
 *
 * Pure. The grammar is RFC 5322 3.4 with its obsolete forms where mail
 * programs still write them (3.4 obs-route in angle brackets, empty list
 * items). One pass, state per character: quoted string, comment depth,
 * angle brackets; ',' and ';' at the top level end an item, ':' at the top
 * level ends a group's display name. */
#include "probe/addrlist.h"

#include <stdbool.h>
#include <string.h>

struct item {
	char addr[ADDRLIST_ADDR_MAX + 1]; /* comments dropped, blanks collapsed */
	size_t len;
	char angle[ADDRLIST_ADDR_MAX + 1];
	size_t alen;
	bool has_angle;
	bool too_long;
};

static void put(struct item *it, bool in_angle, char c)
{
	char *s = in_angle ? it->angle : it->addr;
	size_t *n = in_angle ? &it->alen : &it->len;
	if (*n >= ADDRLIST_ADDR_MAX) {
		it->too_long = true;
		return;
	}
	s[(*n)++] = c;
}

/* Checks and appends one finished item; returns 1 (appended), 0 (empty)
 * or -1. */
static int finish(struct item *it, struct buf *out)
{
	const char *a = it->has_angle ? it->angle : it->addr;
	size_t n = it->has_angle ? it->alen : it->len;
	while (n > 0 && a[n - 1] == ' ')
		n--;
	while (n > 0 && a[0] == ' ') {
		a++;
		n--;
	}
	/* obs-route: "<@relay1,@relay2:user@host>" delivers to user@host. */
	if (it->has_angle && n > 0 && a[0] == '@') {
		const char *colon = memchr(a, ':', n);
		if (!colon)
			return -1;
		n -= (size_t)(colon + 1 - a);
		a = colon + 1;
	}
	int rc = 0;
	if (it->too_long) {
		rc = -1;
	} else if (n > 0 || it->has_angle) {
		bool quoted = false;
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (a[i] == '"')
				quoted = !quoted;
			else if ((a[i] == ' ' && !quoted) || (unsigned char)a[i] < 0x20 ||
				 a[i] == 0x7f)
				rc = -1;
		}
		if (rc == 0 && n == 0 && it->has_angle)
			rc = 0; /* "<>" in a header names nobody */
		else if (rc == 0 && (!buf_append(out, a, n) || !buf_append_byte(out, '\0')))
			rc = -1;
		else if (rc == 0)
			rc = 1;
	}
	memset(it, 0, sizeof *it);
	return rc;
}

int addrlist_parse(const char *v, size_t len, struct buf *out)
{
	struct item it;
	memset(&it, 0, sizeof it);
	int count = 0, depth = 0;
	bool quoted = false, in_angle = false, escaped = false, in_group = false;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (c == '\r' || c == '\n')
			continue; /* folding */
		if (escaped) {
			escaped = false;
			if (depth == 0) {
				put(&it, in_angle, '\\');
				put(&it, in_angle, c);
			}
			continue;
		}
		if (c == '\\' && (quoted || depth > 0)) {
			escaped = true;
			continue;
		}
		if (depth > 0) {
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (quoted) {
			put(&it, in_angle, c);
			if (c == '"')
				quoted = false;
			continue;
		}
		switch (c) {
		case '"':
			quoted = true;
			put(&it, in_angle, c);
			break;
		case '(':
			depth = 1;
			put(&it, in_angle, ' ');
			break;
		case ')':
			return -1;
		case '<':
			if (in_angle || it.has_angle)
				return -1;
			in_angle = true;
			it.has_angle = true;
			break;
		case '>':
			if (!in_angle)
				return -1;
			in_angle = false;
			break;
		case ':':
			if (in_angle) {
				put(&it, true, c);
				break;
			}
			if (in_group)
				return -1;
			/* The text so far was the group's display name. */
			memset(&it, 0, sizeof it);
			in_group = true;
			break;
		case ';':
		case ',': {
			if (in_angle) {
				put(&it, true, c);
				break;
			}
			if (c == ';') {
				if (!in_group)
					return -1;
				in_group = false;
			}
			int r = finish(&it, out);
			if (r < 0)
				return -1;
			count += r;
			break;
		}
		case ' ':
		case '\t':
			put(&it, in_angle, ' ');
			break;
		default:
			put(&it, in_angle, c);
			break;
		}
	}
	if (quoted || depth > 0 || in_angle || escaped)
		return -1;
	int r = finish(&it, out);
	if (r < 0)
		return -1;
	return count + r;
}
