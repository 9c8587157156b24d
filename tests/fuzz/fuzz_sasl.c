/* Fuzzes the SASL mechanisms: the input is split into a mechanism name,
 * an initial response and continuation lines at '\n'; a completed
 * exchange yields NUL-free fields within SASL_FIELD_MAX. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	const char *nl = memchr(p, '\n', size);
	if (!nl)
		return 0;
	const char *mech = p;
	size_t mech_len = (size_t)(nl - p);
	p = nl + 1;
	nl = memchr(p, '\n', (size_t)(end - p));
	const char *initial = NULL;
	size_t initial_len = 0;
	if (nl && nl > p) {
		initial = p;
		initial_len = (size_t)(nl - p);
	}
	p = nl ? nl + 1 : end;
	struct sasl x;
	sasl_init(&x);
	struct sasl_result r;
	enum sasl_status st = sasl_start(&x, mech, mech_len, initial, initial_len, &r);
	for (int steps = 0; st == SASL_CHALLENGE && steps < 8; steps++) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t len = e ? (size_t)(e - p) : (size_t)(end - p);
		st = sasl_step(&x, p, len, &r);
		p = e ? e + 1 : end;
	}
	if (st == SASL_DONE) {
		if (strlen(r.authcid) > SASL_FIELD_MAX || r.passwd_len > SASL_FIELD_MAX ||
		    strlen(r.passwd) != r.passwd_len || !*r.authcid)
			abort();
	}
	sasl_clear(&x);
	return 0;
}
