#include "lib/escape.h"

#include <stdio.h>

char *escape_log(char *out, size_t outsz, const uint8_t *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') ? 1 : 4;
		if (o + need + 4 > outsz) { /* keep room for "..." + NUL */
			out[o++] = '.';
			out[o++] = '.';
			out[o++] = '.';
			break;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
