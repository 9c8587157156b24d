/* Fuzzes the strict base64 decoder: decode(encode(x)) == x, and decoding
 * arbitrary input never writes past BASE64_DECODED_MAX. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	/* Large enough for decoding the input and for decoding its encoding. */
	uint8_t *out = malloc(BASE64_DECODED_MAX(BASE64_ENCODED_SIZE(size)));
	char *enc = malloc(BASE64_ENCODED_SIZE(size));
	size_t n;
	if (!out || !enc)
		abort();
	(void)base64_decode((const char *)data, size, out, &n);
	size_t elen = base64_encode(data, size, enc);
	if (!base64_decode(enc, elen, out, &n) || n != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	free(enc);
	return 0;
}
