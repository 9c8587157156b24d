/* maildir_name: building and reading Maildir file names.
 *
 * Pure: no I/O, no clock, no globals. The caller supplies the time, pid,
 * counter and host name; maildir.c does the system calls. Names read back
 * may come from other programs (mutt, Dovecot, procmail), so the readers
 * accept anything and fall back to "absent" rather than failing. */
#include "store/maildir_name.h"

#include <stdio.h>
#include <string.h>

#include "lib/strnum.h"

/* The host part must not contain '/' (a path separator), ':' (starts the
 * info part) or ',' (starts Dovecot's size fields); the Maildir convention
 * writes them as octal escapes. Anything unprintable is escaped too, so a
 * name is always printable ASCII and the unique part can serve as UIDL. */
static bool host_byte_needs_escape(unsigned char c)
{
	return c == '/' || c == ':' || c == ',' || c == '\\' || c < 0x21 || c > 0x7e;
}

bool maildir_name_make(char *out, size_t outsz, long long sec, long usec,
		       long pid, unsigned long long counter, const char *host,
		       uint64_t size, uint64_t wsize)
{
	if (!out || outsz == 0)
		return false;
	int n = snprintf(out, outsz, "%lld.M%ldP%ldQ%llu.", sec, usec, pid, counter);
	if (n < 0 || (size_t)n >= outsz)
		return false;
	size_t o = (size_t)n;
	if (!host || !*host)
		host = "localhost";
	for (const unsigned char *h = (const unsigned char *)host; *h; h++) {
		if (host_byte_needs_escape(*h)) {
			if (outsz - o <= 4)
				return false;
			out[o++] = '\\';
			out[o++] = (char)('0' + ((*h >> 6) & 7));
			out[o++] = (char)('0' + ((*h >> 3) & 7));
			out[o++] = (char)('0' + (*h & 7));
		} else {
			if (outsz - o <= 1)
				return false;
			out[o++] = (char)*h;
		}
	}
	n = snprintf(out + o, outsz - o, ",S=%llu,W=%llu",
		     (unsigned long long)size, (unsigned long long)wsize);
	if (n < 0 || (size_t)n >= outsz - o)
		return false;
	return true;
}

void maildir_name_sizes(const char *name, uint64_t *s, bool *has_s,
			uint64_t *w, bool *has_w)
{
	*has_s = false;
	*has_w = false;
	*s = 0;
	*w = 0;
	/* Fields sit between the unique part and the info part:
	 * "<uniq>,S=123,W=125:2,S". Unknown fields are skipped. */
	size_t end = strcspn(name, ":");
	size_t i = maildir_name_uniq_len(name);
	while (i < end && name[i] == ',') {
		i++;
		size_t flen = strcspn(name + i, ",:");
		if (i + flen > end)
			flen = end - i;
		uint64_t v;
		if (flen > 2 && name[i + 1] == '=' &&
		    strnum_u64(name + i + 2, flen - 2, UINT64_MAX, &v)) {
			if (name[i] == 'S' && !*has_s) {
				*s = v;
				*has_s = true;
			} else if (name[i] == 'W' && !*has_w) {
				*w = v;
				*has_w = true;
			}
		}
		i += flen;
	}
}

size_t maildir_name_uniq_len(const char *name)
{
	return strcspn(name, ",:");
}

long long maildir_name_time(const char *name)
{
	size_t len = strspn(name, "0123456789");
	uint64_t v;
	if (len == 0 || !strnum_u64(name, len, (uint64_t)INT64_MAX, &v))
		return 0;
	return (long long)v;
}
