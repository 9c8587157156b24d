/* Fuzzes the auth message decoder (lib/ipcmsg.h): the auth process's
 * whole attack surface from the network process. The first byte picks
 * the limit (the auth process's or the network process's); the rest is
 * a stream, decoded message after message as the reader does, until
 * "need more" or an error. Invariants:
 *   - used is within what was given and at least a header;
 *   - a message has its type's field count, RESULT a known status, fields
 *     NUL-terminated at len, and no NUL inside except in DIRECTORY;
 *   - the same bytes less one are "need more", never a message;
 *   - re-encoding gives back exactly the bytes consumed (one encoding
 *     per message, so the two processes cannot disagree on a frame);
 *   - "need more" and errors leave no field allocated, clear frees all. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ipcmsg.h"
#include "lib/buf.h"

/* The harness's own copy of the rule, not the codec's. */
static int fields_expected(uint8_t type)
{
	switch (type) {
	case IPCMSG_PASS: return 2;
	case IPCMSG_APOP: return 3;
	case IPCMSG_REFRESH: return 0;
	case IPCMSG_RESULT: return 1;
	case IPCMSG_DIRECTORY: return 3;
	default: return -1;
	}
}

static void check_empty(const struct ipcmsg *m)
{
	if (m->nfields)
		abort();
	for (unsigned i = 0; i < IPCMSG_MAX_FIELDS; i++)
		if (m->field[i] || m->len[i])
			abort();
}

static void check_message(const struct ipcmsg *m)
{
	if (fields_expected(m->type) != m->nfields)
		abort();
	if (m->type == IPCMSG_RESULT && m->status > IPCMSG_TEMPFAIL)
		abort();
	for (unsigned i = 0; i < m->nfields; i++) {
		if (!m->field[i] || m->field[i][m->len[i]] != '\0')
			abort();
		if (m->type != IPCMSG_DIRECTORY && memchr(m->field[i], '\0', m->len[i]))
			abort();
	}
	for (unsigned i = m->nfields; i < IPCMSG_MAX_FIELDS; i++)
		if (m->field[i] || m->len[i])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max_body = (data[0] & 1) ? IPCMSG_MAX_DIRECTORY : IPCMSG_MAX_REQUEST;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	struct buf again;
	buf_init(&again, 0);
	for (;;) {
		struct ipcmsg m;
		size_t used = 0;
		int r = ipcmsg_decode(p, n, max_body, &m, &used);
		if (r != 1) {
			if (r != 0 && r != -1)
				abort();
			check_empty(&m);
			break;
		}
		if (used > n || used < 4 + 7 || used - 4 > max_body)
			abort();
		check_message(&m);

		struct ipcmsg part;
		size_t part_used = 0;
		if (ipcmsg_decode(p, used - 1, max_body, &part, &part_used) != 0)
			abort();
		check_empty(&part);

		buf_clear(&again);
		if (!ipcmsg_encode(&again, &m) || again.len != used ||
		    memcmp(again.data, p, used) != 0)
			abort();
		ipcmsg_clear(&m);
		check_empty(&m);
		p += used;
		n -= used;
	}
	buf_release(&again);
	return 0;
}
