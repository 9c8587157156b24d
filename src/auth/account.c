/* account: validation and lower-casing of account names.
 *
 * Pure. An account name becomes a directory path
 * (<data_dir>/mail/<domain>/<local>), so the rules here are also what
 * keeps a name from escaping the mail directory: no '/', no leading dot,
 * no "..", no control bytes or spaces. */
#include "auth/account.h"

#include <string.h>

/* RFC 5321 4.5.3.1.1 and 4.5.3.1.2. */
#define ACCOUNT_LOCAL_MAX 64
#define ACCOUNT_DOMAIN_MAX 255
/* RFC 1035 2.3.4. */
#define ACCOUNT_LABEL_MAX 63

/* RFC 5322 atext without '/' (a path separator here), plus '.'. */
static bool local_char_ok(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+=?^_`{|}~.-", c) != NULL;
}

static bool local_valid(const char *s, size_t len)
{
	if (len == 0 || len > ACCOUNT_LOCAL_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!local_char_ok((unsigned char)s[i]))
			return false;
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

static bool domain_valid(const char *s, size_t len)
{
	if (len == 0 || len > ACCOUNT_DOMAIN_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (++label > ACCOUNT_LABEL_MAX)
			return false;
	}
	return label > 0;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool account_normalise(const char *in, char *out, size_t outsz)
{
	if (!in || !out || outsz == 0)
		return false;
	const char *at = strchr(in, '@');
	if (!at)
		return false;
	size_t llen = (size_t)(at - in);
	size_t dlen = strlen(at + 1);
	if (!local_valid(in, llen) || !domain_valid(at + 1, dlen))
		return false;
	size_t total = llen + 1 + dlen;
	if (total >= outsz)
		return false;
	for (size_t i = 0; i < total; i++)
		out[i] = lower(in[i]);
	out[total] = '\0';
	return true;
}

bool account_local_valid(const char *local)
{
	return local && local_valid(local, strlen(local));
}

bool account_domain_valid(const char *domain)
{
	return domain && domain_valid(domain, strlen(domain));
}
