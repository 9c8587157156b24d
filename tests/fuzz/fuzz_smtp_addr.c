/* Fuzzes the MAIL/RCPT argument parsers: on success the path fits its
 * limit, is NUL-terminated at len and holds no control byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_addr.h"

static void check_path(const struct smtp_path *p)
{
	if (p->len > LIMIT_SMTP_PATH || p->addr[p->len] != '\0' || strlen(p->addr) != p->len)
		abort();
	for (size_t i = 0; i < p->len; i++)
		if ((unsigned char)p->addr[i] < 0x20 || p->addr[i] == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_mail_args m;
	if (smtp_addr_parse_mail((const char *)data, size, &m) == SMTP_ADDR_OK)
		check_path(&m.from);
	struct smtp_path p;
	if (smtp_addr_parse_rcpt((const char *)data, size, &p) == SMTP_ADDR_OK)
		check_path(&p);
	return 0;
}
