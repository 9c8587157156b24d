#include "lib/strnum.h"

#include <string.h>

bool strnum_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool strnum_u64_cstr(const char *s, uint64_t max, uint64_t *out)
{
	return strnum_u64(s, strlen(s), max, out);
}
