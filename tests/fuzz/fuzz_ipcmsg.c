/* Fuzzes the helper message codec (lib/ipcmsg.h): the auth and store
 * processes' whole attack surface from the network process, and the
 * network process's from them. The first byte picks the limit (bit 0:
 * the auth process's or the network process's) and the mode (bit 1).
 *
 * Stream mode: the rest is a stream, decoded message after message as the
 * reader does, until "need more" or an error. Invariants:
 *   - used is within what was given and at least a header;
 *   - a message has its type's field count, RESULT a known status, fields
 *     NUL-terminated at len, and no NUL inside except in the fields that
 *     carry bytes (tables below);
 *   - the same bytes less one are "need more", never a message;
 *   - re-encoding gives back exactly the bytes consumed (one encoding
 *     per message, so the two processes cannot disagree on a frame),
 *     except a login request over IPCMSG_MAX_REQUEST, which the encoder
 *     refuses (the network process's limit lets the decoder take it);
 *   - the encoder refuses a NUL in a text field or a RESULT status past
 *     IPCMSG_NOSPACE, and a refusal leaves its buffer as it was;
 *   - "need more" and errors leave no field allocated, clear frees all.
 *
 * Built mode: the rest describes one message (type, status, count, id,
 * then per field a length, a repeat count and the bytes), which is both
 * encoded and framed by hand. The tables alone say whether the encoder
 * takes it and whether the decoder takes the hand-made frame; when both
 * do, the two frames are the same bytes. Random mutation seldom keeps a
 * frame's lengths consistent; this mode reaches every type and count with
 * fields of up to 64 KiB, past IPCMSG_MAX_REQUEST. The frame then goes
 * through stream mode's checks. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ipcmsg.h"
#include "lib/buf.h"

/* The harness's own copy of the rules, not the codec's: fields per type
 * (-1: no such type) and which of them may hold a NUL. */
static const int fields_expected[256] = {
	[IPCMSG_PASS] = 2,   [IPCMSG_APOP] = 3,	     [IPCMSG_REFRESH] = 0,
	[IPCMSG_RESULT] = 1, [IPCMSG_DIRECTORY] = 3, [IPCMSG_DELIVER] = 3,
	[IPCMSG_OPEN] = 1,   [IPCMSG_READ] = 3,	     [IPCMSG_DELETE] = 2,
	[IPCMSG_CLOSE] = 1,
};
static const bool type_known[256] = {
	[IPCMSG_PASS] = true,	[IPCMSG_APOP] = true,	   [IPCMSG_REFRESH] = true,
	[IPCMSG_RESULT] = true, [IPCMSG_DIRECTORY] = true, [IPCMSG_DELIVER] = true,
	[IPCMSG_OPEN] = true,	[IPCMSG_READ] = true,	   [IPCMSG_DELETE] = true,
	[IPCMSG_CLOSE] = true,
};
static const bool nul_allowed[256][IPCMSG_MAX_FIELDS] = {
	[IPCMSG_RESULT] = { true },
	[IPCMSG_DIRECTORY] = { true, true, true },
	[IPCMSG_DELIVER] = { false, true, true },
};

static bool is_login_request(uint8_t type)
{
	return type == IPCMSG_PASS || type == IPCMSG_APOP || type == IPCMSG_REFRESH;
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
	if (m->nfields > IPCMSG_MAX_FIELDS || !type_known[m->type] ||
	    fields_expected[m->type] != m->nfields)
		abort();
	if (m->type == IPCMSG_RESULT && m->status > IPCMSG_NOSPACE)
		abort();
	for (unsigned i = 0; i < m->nfields; i++) {
		if (!m->field[i] || m->field[i][m->len[i]] != '\0')
			abort();
		if (!nul_allowed[m->type][i] && memchr(m->field[i], '\0', m->len[i]))
			abort();
	}
	for (unsigned i = m->nfields; i < IPCMSG_MAX_FIELDS; i++)
		if (m->field[i] || m->len[i])
			abort();
}

/* Encodes m after what again holds; the result must be exactly want[0..n)
 * after it, or, when refuse, nothing at all. */
static void check_encode(struct buf *again, const struct ipcmsg *m, bool refuse,
			 const uint8_t *want, size_t n)
{
	buf_clear(again);
	if (!buf_append(again, "mark", 4))
		abort();
	bool ok = ipcmsg_encode(again, m);
	if (refuse) {
		if (ok || again->len != 4 || memcmp(again->data, "mark", 4) != 0)
			abort();
		return;
	}
	if (!ok || again->len != 4 + n || memcmp(again->data + 4, want, n) != 0)
		abort();
}

/* Variations of a decoded message that the encoder must refuse or take:
 * a NUL put into each nonempty field in turn (taken only where bytes are
 * allowed, and then encoded as the frame with that one octet changed),
 * and a RESULT status past IPCMSG_NOSPACE. frame[0..used) is m's frame. */
static void check_encoder_rules(struct buf *again, struct buf *want, struct ipcmsg *m,
				const uint8_t *frame, size_t used)
{
	size_t at = 4 + 7;
	for (unsigned i = 0; i < m->nfields; i++) {
		at += 4 + m->len[i];
		if (m->len[i] == 0)
			continue;
		/* The field is m's own copy; its last octet sits at at - 1. */
		char *last = &m->field[i][m->len[i] - 1];
		char keep = *last;
		*last = '\0';
		buf_clear(want);
		if (!buf_append(want, frame, used))
			abort();
		want->data[at - 1] = 0;
		check_encode(again, m, !nul_allowed[m->type][i], want->data, want->len);
		*last = keep;
	}
	if (at != used)
		abort();
	if (m->type == IPCMSG_RESULT) {
		uint8_t keep = m->status;
		m->status = (uint8_t)(IPCMSG_NOSPACE + 1 + m->id % (255 - IPCMSG_NOSPACE));
		check_encode(again, m, true, NULL, 0);
		m->status = keep;
	}
}

/* Stream mode over p[0..n). */
static void check_stream(const uint8_t *p, size_t n, size_t max_body, struct buf *again,
			 struct buf *want)
{
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

		bool too_big = is_login_request(m.type) && used - 4 > IPCMSG_MAX_REQUEST;
		check_encode(again, &m, too_big, p, used);
		if (!too_big)
			check_encoder_rules(again, want, &m, p, used);
		ipcmsg_clear(&m);
		check_empty(&m);
		p += used;
		n -= used;
	}
}

static void put_u32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	if (!buf_append(b, p, sizeof p))
		abort();
}

/* Built mode over d[0..n): type, status, count (low two bits), id (4),
 * then per field a length byte, a repeat byte and that many bytes (fewer
 * at the end of the input), repeated 1 + repeat times. */
static void check_built(const uint8_t *d, size_t n, struct buf *again, struct buf *want)
{
	if (n < 7)
		return;
	uint8_t type = d[0], status = d[1];
	unsigned count = d[2] & 3;
	uint32_t id = (uint32_t)d[3] << 24 | (uint32_t)d[4] << 16 | (uint32_t)d[5] << 8 | d[6];
	size_t pos = 7;
	struct buf field[IPCMSG_MAX_FIELDS];
	struct ipcmsg m = { .type = type, .id = id, .status = status, .nfields = (uint8_t)count };
	size_t body = 7;
	bool nul_ok = true;
	for (unsigned i = 0; i < IPCMSG_MAX_FIELDS; i++) {
		buf_init(&field[i], 0);
		if (i >= count)
			continue;
		size_t len = 0, repeat = 0;
		if (n - pos >= 2) {
			len = d[pos];
			repeat = d[pos + 1];
			pos += 2;
		}
		if (len > n - pos)
			len = n - pos;
		for (size_t k = 0; len && k <= repeat; k++)
			if (!buf_append(&field[i], d + pos, len))
				abort();
		pos += len;
		m.field[i] = (char *)field[i].data;
		m.len[i] = field[i].len;
		body += 4 + field[i].len;
		if (!nul_allowed[type][i] && memchr(d + pos - len, '\0', len))
			nul_ok = false;
	}
	bool dec_valid = type_known[type] && fields_expected[type] == (int)count &&
			 !(type == IPCMSG_RESULT && status > IPCMSG_NOSPACE) && nul_ok;
	bool enc_valid = dec_valid && !(is_login_request(type) && body > IPCMSG_MAX_REQUEST);

	struct buf raw;
	buf_init(&raw, 0);
	put_u32(&raw, (uint32_t)body);
	uint8_t head[7] = { type, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
			    (uint8_t)id, status, (uint8_t)count };
	if (!buf_append(&raw, head, sizeof head))
		abort();
	for (unsigned i = 0; i < count; i++) {
		put_u32(&raw, (uint32_t)field[i].len);
		if (field[i].len && !buf_append(&raw, field[i].data, field[i].len))
			abort();
	}

	struct ipcmsg got;
	size_t used = 0;
	int r = ipcmsg_decode(raw.data, raw.len, IPCMSG_MAX_DIRECTORY, &got, &used);
	if (r != (dec_valid ? 1 : -1))
		abort();
	if (r == 1) {
		if (used != raw.len || got.type != type || got.id != id || got.status != status)
			abort();
		check_message(&got);
		for (unsigned i = 0; i < count; i++)
			if (got.len[i] != field[i].len ||
			    (got.len[i] && memcmp(got.field[i], field[i].data, got.len[i]) != 0))
				abort();
		ipcmsg_clear(&got);
	}
	check_empty(&got);
	check_encode(again, &m, !enc_valid, raw.data, raw.len);

	check_stream(raw.data, raw.len, IPCMSG_MAX_DIRECTORY, again, want);
	check_stream(raw.data, raw.len, IPCMSG_MAX_REQUEST, again, want);
	buf_release(&raw);
	for (unsigned i = 0; i < IPCMSG_MAX_FIELDS; i++)
		buf_release(&field[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct buf again, want;
	buf_init(&again, 0);
	buf_init(&want, 0);
	if (data[0] & 2) {
		check_built(data + 1, size - 1, &again, &want);
	} else {
		size_t max_body = (data[0] & 1) ? IPCMSG_MAX_DIRECTORY : IPCMSG_MAX_REQUEST;
		check_stream(data + 1, size - 1, max_body, &again, &want);
	}
	buf_release(&again);
	buf_release(&want);
	return 0;
}
