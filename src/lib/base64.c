#include "lib/base64.h"

#include <openssl/evp.h>

bool base64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
	if (len % 4 != 0)
		return false;
	if (len == 0) {
		*outlen = 0;
		return true;
	}
	if (len > 0x7ffffff0u)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '+' || c == '/' ||
			  (c == '=' && i >= len - 2 && (i == len - 1 || in[len - 1] == '='));
		if (!ok)
			return false;
	}
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return false;
	/* EVP_DecodeBlock counts padding as zero bytes. */
	size_t pad = (in[len - 1] == '=') + (in[len - 2] == '=');
	*outlen = (size_t)n - pad;
	return true;
}

size_t base64_encode(const uint8_t *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return n < 0 ? 0 : (size_t)n;
}
