/* Fuzzes the POP3 message encoder: encoding in two chunks must equal
 * encoding whole, the output must end with CRLF.CRLF, never contain a bare
 * LF, and no line may start with a lone "." except the terminator. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pop3_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	long top = data[0] == 0xff ? -1 : data[0] % 8;
	size_t split = size > 2 ? data[1] % (size - 1) : 0;
	data += 2;
	size -= 2;
	if (split > size)
		split = size;
	struct buf a, b;
	buf_init(&a, 1 << 22);
	buf_init(&b, 1 << 22);
	struct pop3_body_enc e1, e2;
	pop3_body_init(&e1, top);
	pop3_body_init(&e2, top);
	if (!pop3_body_encode(&e1, data, size, &a) || !pop3_body_finish(&e1, &a))
		abort();
	if (!pop3_body_encode(&e2, data, split, &b) ||
	    !pop3_body_encode(&e2, data + split, size - split, &b) ||
	    !pop3_body_finish(&e2, &b))
		abort();
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	if (a.len < 3 || memcmp(a.data + a.len - 3, ".\r\n", 3) != 0)
		abort();
	for (size_t i = 0; i < a.len; i++) {
		if (a.data[i] == '\n' && (i == 0 || a.data[i - 1] != '\r'))
			abort();
		/* a line that is exactly "." may only be the terminator */
		if (a.data[i] == '.' && (i == 0 || a.data[i - 1] == '\n') &&
		    i + 2 < a.len && a.data[i + 1] == '\r' && a.data[i + 2] == '\n' &&
		    i + 3 != a.len)
			abort();
	}
	if (top < 0) {
		bool prev = false;
		uint64_t n = pop3_crlf_size(data, size, &prev);
		(void)n;
	}
	buf_release(&a);
	buf_release(&b);
	return 0;
}
