/* Fuzzes the queue envelope parser (queue/envelope.h). Envelopes are
 * read back from disk, where a torn write or a disk error can put any
 * bytes. Invariants:
 *   - a failed parse leaves the struct empty (all zero);
 *   - a successful one formats to printable ASCII and LF only, parses
 *     back to the same envelope, and formats again to the same bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "queue/envelope.h"

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool env_equal(const struct queue_env *a, const struct queue_env *b)
{
	if (strcmp(a->id, b->id) != 0 || !str_eq(a->sender, b->sender) || a->created != b->created ||
	    a->next_attempt != b->next_attempt || a->attempts != b->attempts ||
	    a->held != b->held || a->warned != b->warned || a->body_8bit != b->body_8bit ||
	    a->size != b->size || a->nrcpts != b->nrcpts)
		return false;
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct queue_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		if (!str_eq(x->addr, y->addr) || !str_eq(x->orcpt, y->orcpt) ||
		    x->state != y->state || x->local != y->local || x->attempts != y->attempts ||
		    x->code != y->code || strcmp(x->status, y->status) != 0 || !str_eq(x->mta, y->mta) ||
		    !str_eq(x->text, y->text))
			return false;
	}
	return true;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_env env, back;
	char err[256];
	if (queue_env_parse((const char *)data, size, &env, err, sizeof err) < 0) {
		if (!all_zero(&env, sizeof env) || strlen(err) >= sizeof err)
			abort();
		return 0;
	}
	struct buf one, two;
	buf_init(&one, 0);
	buf_init(&two, 0);
	if (!queue_env_format(&env, &one))
		abort();
	for (size_t i = 0; i < one.len; i++)
		if (one.data[i] != '\n' && (one.data[i] < 0x20 || one.data[i] > 0x7e))
			abort();
	if (queue_env_parse((const char *)one.data, one.len, &back, err, sizeof err) < 0 ||
	    !env_equal(&env, &back) || !queue_env_format(&back, &two) || two.len != one.len ||
	    memcmp(one.data, two.data, one.len) != 0)
		abort();
	queue_env_free(&back);
	queue_env_free(&env);
	if (!all_zero(&env, sizeof env))
		abort();
	buf_release(&one);
	buf_release(&two);
	return 0;
}
