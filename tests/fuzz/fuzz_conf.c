/* Fuzzes the configuration parser: any text either parses or yields an
 * error message naming the file; both leave a struct conf_free can free. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	if (conf_defaults(&c) < 0)
		return 0;
	char err[512] = "";
	if (conf_parse("fuzz.conf", (const char *)data, size, &c, err, sizeof err) < 0 &&
	    strncmp(err, "fuzz.conf:", 10) != 0)
		abort();
	conf_free(&c);
	return 0;
}
