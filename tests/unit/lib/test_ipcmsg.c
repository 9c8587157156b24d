/* Unit tests for src/auth/ipcmsg: the frames between the network process
 * and the auth process. The decoder faces whatever a compromised network
 * process sends, so the hostile frames below are built byte by byte and
 * each one stands for one rule in ipcmsg.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/ipcmsg.h"
#include "lib/buf.h"

#define HEAD (4 + 7) /* frame length + type, id, status, count */

static struct ipcmsg msg(uint8_t type, uint32_t id, uint8_t status, uint8_t nfields,
			  const char *f0, size_t l0, const char *f1, size_t l1,
			  const char *f2, size_t l2)
{
	struct ipcmsg m = { .type = type, .id = id, .status = status, .nfields = nfields };
	m.field[0] = (char *)f0;
	m.field[1] = (char *)f1;
	m.field[2] = (char *)f2;
	m.len[0] = l0;
	m.len[1] = l1;
	m.len[2] = l2;
	return m;
}

/* Literal fields, which may hold a NUL. */
#define S(s) (s), sizeof(s) - 1
#define NONE NULL, 0

static void assert_no_fields(const struct ipcmsg *m)
{
	assert_int_equal(m->nfields, 0);
	for (unsigned i = 0; i < IPCMSG_MAX_FIELDS; i++) {
		assert_null(m->field[i]);
		assert_int_equal(m->len[i], 0);
	}
}

static void assert_same(const struct ipcmsg *want, const struct ipcmsg *got)
{
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->id, want->id);
	assert_int_equal(got->status, want->status);
	assert_int_equal(got->nfields, want->nfields);
	for (unsigned i = 0; i < want->nfields; i++) {
		assert_non_null(got->field[i]);
		assert_int_equal(got->len[i], want->len[i]);
		if (want->len[i])
			assert_memory_equal(got->field[i], want->field[i], want->len[i]);
		/* Decoded fields are C strings too. */
		assert_int_equal(got->field[i][got->len[i]], '\0');
	}
	for (unsigned i = want->nfields; i < IPCMSG_MAX_FIELDS; i++)
		assert_null(got->field[i]);
}

/* One message of each type and status, with ids that use all four bytes. */
static const struct ipcmsg *samples(size_t *n)
{
	static struct ipcmsg s[7];
	s[0] = msg(IPCMSG_PASS, 1, IPCMSG_OK, 2, S("alice@localhost"), S("hunter2 with spaces"),
		   NONE);
	s[1] = msg(IPCMSG_APOP, 0xdeadbeef, IPCMSG_OK, 3, S("bob@example.test"),
		   S("<1896.697170952@dbc.mtview.ca.us>"), S("c4c9334bac560ecc979e58001b3e22fb"));
	s[2] = msg(IPCMSG_REFRESH, UINT32_MAX, IPCMSG_OK, 0, NONE, NONE, NONE);
	s[3] = msg(IPCMSG_RESULT, 0x01020304, IPCMSG_OK, 1, S("alice@localhost"), NONE, NONE);
	s[4] = msg(IPCMSG_RESULT, 5, IPCMSG_BAD, 1, S(""), NONE, NONE);
	s[5] = msg(IPCMSG_RESULT, 6, IPCMSG_TEMPFAIL, 1, S(""), NONE, NONE);
	s[6] = msg(IPCMSG_DIRECTORY, 0, IPCMSG_OK, 3, S("alice@localhost\nbob@example.test\n"),
		   S("postmaster: alice@localhost\nabuse: bob@example.test\n"),
		   S("/etc/facteur/aliases"));
	*n = sizeof s / sizeof s[0];
	return s;
}

static void encode_one(struct buf *b, const struct ipcmsg *m)
{
	buf_init(b, 0);
	assert_true(ipcmsg_encode(b, m));
}

static void test_ipcmsg_wire_format_is_as_documented(void **state)
{
	(void)state;
	struct ipcmsg m = msg(IPCMSG_PASS, 0x0a0b0c0d, IPCMSG_BAD, 2, S("al"), S("pw!"), NONE);
	static const uint8_t want[] = {
		0, 0, 0, 7 + 4 + 2 + 4 + 3, /* body length, big-endian */
		IPCMSG_PASS, 0x0a, 0x0b, 0x0c, 0x0d, IPCMSG_BAD, 2,
		0, 0, 0, 2, 'a', 'l',
		0, 0, 0, 3, 'p', 'w', '!',
	};
	struct buf b;
	encode_one(&b, &m);
	assert_int_equal(b.len, sizeof want);
	assert_memory_equal(b.data, want, sizeof want);
	buf_release(&b);
}

static void test_ipcmsg_every_type_round_trips(void **state)
{
	(void)state;
	size_t n;
	const struct ipcmsg *s = samples(&n);
	for (size_t i = 0; i < n; i++) {
		struct buf b;
		encode_one(&b, &s[i]);
		size_t body = 7;
		for (unsigned f = 0; f < s[i].nfields; f++)
			body += 4 + s[i].len[f];
		assert_int_equal(b.len, 4 + body);
		struct ipcmsg got;
		size_t used = 0;
		assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used), 1);
		assert_int_equal(used, b.len);
		assert_same(&s[i], &got);
		ipcmsg_clear(&got);
		buf_release(&b);
	}
}

/* A field of 0x010203 octets: every byte of the length counts, and a
 * directory passes its own limit but not a request's. */
static void test_ipcmsg_large_directory_round_trips(void **state)
{
	(void)state;
	size_t big = 0x010203;
	char *names = malloc(big);
	assert_non_null(names);
	for (size_t i = 0; i < big; i++)
		names[i] = (i % 17 == 16) ? '\n' : (char)('a' + i % 26);
	struct ipcmsg m = msg(IPCMSG_DIRECTORY, 9, IPCMSG_OK, 3, names, big, S("x: y\n"),
			       S("aliases"));
	struct buf b;
	encode_one(&b, &m);
	assert_int_equal(b.len, HEAD + 4 + big + 4 + 5 + 4 + 7);
	struct ipcmsg got;
	size_t used = 0;
	assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_DIRECTORY, &got, &used), 1);
	assert_int_equal(used, b.len);
	assert_same(&m, &got);
	ipcmsg_clear(&got);
	assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used), -1);
	assert_no_fields(&got);
	buf_release(&b);
	free(names);
}

/* Pipelined messages come out one by one, each `used` ending exactly
 * where the next begins: whole, and arriving in random chunks (fixed
 * seed) as a reader accumulating from a socket would see them. */
static void test_ipcmsg_back_to_back_messages_decode_in_order(void **state)
{
	(void)state;
	size_t n;
	const struct ipcmsg *s = samples(&n);
	struct buf all;
	buf_init(&all, 0);
	size_t ends[16];
	for (size_t i = 0; i < n; i++) {
		assert_true(ipcmsg_encode(&all, &s[i]));
		ends[i] = all.len;
	}

	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		struct ipcmsg got;
		size_t used = 0;
		assert_int_equal(ipcmsg_decode(all.data + off, all.len - off, IPCMSG_MAX_REQUEST,
						&got, &used), 1);
		assert_int_equal(off + used, ends[i]);
		assert_same(&s[i], &got);
		ipcmsg_clear(&got);
		off += used;
	}
	assert_int_equal(off, all.len);
	struct ipcmsg none;
	size_t used = 0;
	assert_int_equal(ipcmsg_decode(all.data + off, 0, IPCMSG_MAX_REQUEST, &none, &used), 0);

	uint32_t seed = 12345;
	struct buf in;
	buf_init(&in, 0);
	size_t fed = 0, next = 0;
	while (fed < all.len) {
		seed = seed * 1103515245u + 12345u;
		size_t chunk = 1 + (seed >> 16) % 17;
		if (chunk > all.len - fed)
			chunk = all.len - fed;
		assert_true(buf_append(&in, all.data + fed, chunk));
		fed += chunk;
		for (;;) {
			struct ipcmsg got;
			int r = ipcmsg_decode(in.data, in.len, IPCMSG_MAX_REQUEST, &got, &used);
			if (r == 0)
				break;
			assert_int_equal(r, 1);
			assert_true(next < n);
			assert_same(&s[next++], &got);
			ipcmsg_clear(&got);
			buf_consume(&in, used);
		}
	}
	assert_int_equal(next, n);
	assert_int_equal(in.len, 0);
	buf_release(&in);
	buf_release(&all);
}

/* A valid frame cut anywhere is "need more", never an error or a
 * message: the reader must not drop a slow peer nor act on half a
 * request. The fields stay unallocated meanwhile. */
static void test_ipcmsg_every_prefix_needs_more(void **state)
{
	(void)state;
	size_t n;
	const struct ipcmsg *s = samples(&n);
	for (size_t i = 0; i < n; i++) {
		struct buf b;
		encode_one(&b, &s[i]);
		for (size_t k = 0; k < b.len; k++) {
			struct ipcmsg got;
			size_t used = 777;
			assert_int_equal(ipcmsg_decode(b.data, k, IPCMSG_MAX_REQUEST, &got, &used),
					 0);
			assert_int_equal(used, 777);
			assert_no_fields(&got);
		}
		buf_release(&b);
	}
}

static void test_ipcmsg_body_limit_is_inclusive_and_checked_early(void **state)
{
	(void)state;
	struct ipcmsg m = msg(IPCMSG_PASS, 3, IPCMSG_OK, 2, S("alice@localhost"), S("secret"),
			       NONE);
	struct buf b;
	encode_one(&b, &m);
	size_t body = b.len - 4;
	struct ipcmsg got;
	size_t used = 0;
	assert_int_equal(ipcmsg_decode(b.data, b.len, body, &got, &used), 1);
	assert_int_equal(used, b.len);
	ipcmsg_clear(&got);
	used = 777;
	assert_int_equal(ipcmsg_decode(b.data, b.len, body - 1, &got, &used), -1);
	assert_int_equal(used, 777);
	assert_no_fields(&got);
	/* The length alone condemns a frame: a peer cannot make the reader
	 * wait for (and buffer) 4 GiB. */
	assert_int_equal(ipcmsg_decode(b.data, 4, body - 1, &got, &used), -1);
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff };
	assert_int_equal(ipcmsg_decode(huge, sizeof huge, IPCMSG_MAX_DIRECTORY, &got, &used), -1);
	static const uint8_t over[] = { 0, 0, 0x40, 0x01 }; /* IPCMSG_MAX_REQUEST + 1 */
	assert_int_equal(ipcmsg_decode(over, sizeof over, IPCMSG_MAX_REQUEST, &got, &used), -1);
	assert_int_equal(used, 777);
	assert_no_fields(&got);
	buf_release(&b);
}

/* A body shorter than type, id, status and count is refused from its
 * length, however many bytes follow. */
static void test_ipcmsg_body_under_seven_bytes_rejected(void **state)
{
	(void)state;
	for (uint8_t len = 0; len < 7; len++) {
		uint8_t frame[4 + 7] = { 0, 0, 0, len, IPCMSG_REFRESH };
		struct ipcmsg got;
		size_t used = 777;
		assert_int_equal(ipcmsg_decode(frame, 4, IPCMSG_MAX_REQUEST, &got, &used), -1);
		assert_int_equal(ipcmsg_decode(frame, 4 + (size_t)len, IPCMSG_MAX_REQUEST, &got,
						&used), -1);
		assert_int_equal(ipcmsg_decode(frame, sizeof frame, IPCMSG_MAX_REQUEST, &got,
						&used), -1);
		assert_int_equal(used, 777);
		assert_no_fields(&got);
	}
}

/* ---- hostile frames, built field by field ---- */

struct raw_field {
	const char *bytes;
	size_t n;
	int64_t declared; /* the length written on the wire; -1: n */
};

struct hostile {
	const char *why;
	uint8_t type, status, count;
	size_t nf;
	struct raw_field f[4];
	const char *tail; /* bytes after the last field */
	size_t tail_n;
};

#define F(s) { (s), sizeof(s) - 1, -1 }
#define FLIE(s, d) { (s), sizeof(s) - 1, (d) }

static void put32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	assert_true(buf_append(b, p, sizeof p));
}

/* The frame length is always true to the bytes, so each case is refused
 * for its own defect and not for a short or long body. */
static void build(struct buf *b, const struct hostile *h)
{
	size_t body = 7 + h->tail_n;
	for (size_t i = 0; i < h->nf; i++)
		body += 4 + h->f[i].n;
	buf_init(b, 0);
	put32(b, (uint32_t)body);
	assert_true(buf_append_byte(b, h->type));
	put32(b, 42);
	assert_true(buf_append_byte(b, h->status));
	assert_true(buf_append_byte(b, h->count));
	for (size_t i = 0; i < h->nf; i++) {
		put32(b, h->f[i].declared < 0 ? (uint32_t)h->f[i].n : (uint32_t)h->f[i].declared);
		assert_true(buf_append(b, h->f[i].bytes, h->f[i].n));
	}
	assert_true(buf_append(b, h->tail, h->tail_n));
}

static void test_ipcmsg_builder_makes_valid_frames(void **state)
{
	(void)state;
	/* The control for the table below: built right, the frame decodes. */
	static const struct hostile ok = { "control", IPCMSG_PASS, 0, 2, 2,
					   { F("alice@localhost"), F("secret") }, NULL, 0 };
	struct buf b;
	build(&b, &ok);
	struct ipcmsg got;
	size_t used = 0;
	assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used), 1);
	assert_int_equal(used, b.len);
	assert_int_equal(got.id, 42);
	assert_string_equal(got.field[1], "secret");
	ipcmsg_clear(&got);
	buf_release(&b);
}

static void test_ipcmsg_hostile_frames_rejected(void **state)
{
	(void)state;
	static const struct hostile cases[] = {
		{ "type 0", 0, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "type 6", 6, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "type 255, three fields", 255, 0, 3, 3, { F(""), F(""), F("") }, NULL, 0 },
		{ "PASS, no field", IPCMSG_PASS, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "PASS, one field", IPCMSG_PASS, 0, 1, 1, { F("alice") }, NULL, 0 },
		{ "PASS, three fields", IPCMSG_PASS, 0, 3, 3, { F("a"), F("b"), F("c") }, NULL, 0 },
		{ "APOP, two fields", IPCMSG_APOP, 0, 2, 2, { F("a"), F("<t>") }, NULL, 0 },
		{ "APOP, four fields", IPCMSG_APOP, 0, 4, 4, { F("a"), F("b"), F("c"), F("d") },
		  NULL, 0 },
		{ "REFRESH, one field", IPCMSG_REFRESH, 0, 1, 1, { F("") }, NULL, 0 },
		{ "RESULT, no field", IPCMSG_RESULT, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "RESULT, two fields", IPCMSG_RESULT, 0, 2, 2, { F("a"), F("b") }, NULL, 0 },
		{ "DIRECTORY, two fields", IPCMSG_DIRECTORY, 0, 2, 2, { F("a"), F("b") }, NULL, 0 },
		{ "PASS, count 255", IPCMSG_PASS, 0, 255, 2, { F("a"), F("b") }, NULL, 0 },
		{ "count 2, one field sent", IPCMSG_PASS, 0, 2, 1, { F("alice") }, NULL, 0 },
		{ "count 2, half a length", IPCMSG_PASS, 0, 2, 1, { F("alice") }, "\0\0", 2 },
		{ "field overruns by one", IPCMSG_PASS, 0, 2, 2, { F("alice"), FLIE("secret", 7) },
		  NULL, 0 },
		{ "field length 2^32-1", IPCMSG_PASS, 0, 2, 2,
		  { FLIE("alice", 0xffffffff), F("secret") }, NULL, 0 },
		{ "first field eats the second", IPCMSG_PASS, 0, 2, 2,
		  { FLIE("alice", 5 + 4 + 6), F("secret") }, NULL, 0 },
		{ "short field leaves bytes", IPCMSG_PASS, 0, 2, 2,
		  { F("alice"), FLIE("secret", 5) }, NULL, 0 },
		{ "one trailing byte", IPCMSG_PASS, 0, 2, 2, { F("alice"), F("secret") }, "x", 1 },
		{ "trailing empty field", IPCMSG_PASS, 0, 2, 2, { F("alice"), F("secret") },
		  "\0\0\0\0", 4 },
		{ "REFRESH with a trailing byte", IPCMSG_REFRESH, 0, 0, 0, { { 0 } }, "\0", 1 },
		{ "RESULT status 3", IPCMSG_RESULT, 3, 1, 1, { F("") }, NULL, 0 },
		{ "RESULT status 255", IPCMSG_RESULT, 255, 1, 1, { F("alice@localhost") }, NULL, 0 },
		{ "NUL in PASS login", IPCMSG_PASS, 0, 2, 2, { F("alice\0@evil"), F("pw") }, NULL, 0 },
		{ "NUL in PASS password", IPCMSG_PASS, 0, 2, 2, { F("alice"), F("pw\0") }, NULL, 0 },
		{ "PASS password is one NUL", IPCMSG_PASS, 0, 2, 2, { F("alice"), F("\0") }, NULL, 0 },
		{ "NUL in APOP login", IPCMSG_APOP, 0, 3, 3, { F("\0a"), F("<t>"), F("d") }, NULL, 0 },
		{ "NUL in APOP timestamp", IPCMSG_APOP, 0, 3, 3, { F("a"), F("<t\0>"), F("d") },
		  NULL, 0 },
		{ "NUL in APOP digest", IPCMSG_APOP, 0, 3, 3, { F("a"), F("<t>"), F("d\0") }, NULL, 0 },
		{ "NUL in RESULT name", IPCMSG_RESULT, IPCMSG_OK, 1, 1, { F("alice\0root") },
		  NULL, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		build(&b, &cases[i]);
		struct ipcmsg got;
		size_t used = 777;
		int r = ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used);
		if (r != -1)
			fail_msg("case \"%s\": decode returned %d, not -1", cases[i].why, r);
		assert_int_equal(used, 777);
		assert_no_fields(&got);
		buf_release(&b);
	}
}

/* The directory is data, not text: a NUL inside is kept and counted. */
static void test_ipcmsg_directory_keeps_nul(void **state)
{
	(void)state;
	struct ipcmsg m = msg(IPCMSG_DIRECTORY, 8, IPCMSG_OK, 3, S("a\0b\n"), S("\0"),
			       S("x\0"));
	struct buf b;
	encode_one(&b, &m);
	struct ipcmsg got;
	size_t used = 0;
	assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_DIRECTORY, &got, &used), 1);
	assert_int_equal(used, b.len);
	assert_int_equal(got.len[0], 4);
	assert_int_equal(got.len[1], 1);
	assert_int_equal(got.len[2], 2);
	assert_same(&m, &got);
	ipcmsg_clear(&got);
	buf_release(&b);
}

/* Empty fields are legal; encoding a NULL, 0 field is the same as "". */
static void test_ipcmsg_empty_fields_accepted(void **state)
{
	(void)state;
	const struct ipcmsg cases[] = {
		msg(IPCMSG_PASS, 1, IPCMSG_OK, 2, S(""), S(""), NONE),
		msg(IPCMSG_APOP, 2, IPCMSG_OK, 3, S(""), S(""), S("")),
		msg(IPCMSG_RESULT, 3, IPCMSG_BAD, 1, S(""), NONE, NONE),
		msg(IPCMSG_DIRECTORY, 4, IPCMSG_OK, 3, S(""), S(""), S("")),
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b, nulls;
		encode_one(&b, &cases[i]);
		assert_int_equal(b.len, HEAD + 4 * (size_t)cases[i].nfields);
		struct ipcmsg with_null = cases[i];
		for (unsigned f = 0; f < IPCMSG_MAX_FIELDS; f++)
			with_null.field[f] = NULL;
		encode_one(&nulls, &with_null);
		assert_int_equal(nulls.len, b.len);
		assert_memory_equal(nulls.data, b.data, b.len);

		struct ipcmsg got;
		size_t used = 0;
		assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used), 1);
		assert_int_equal(used, b.len);
		assert_same(&cases[i], &got);
		for (unsigned f = 0; f < got.nfields; f++)
			assert_string_equal(got.field[f], "");
		ipcmsg_clear(&got);
		buf_release(&b);
		buf_release(&nulls);
	}
}

static void assert_buf_is(const struct buf *b, const char *want, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

static void test_ipcmsg_encode_refuses_wrong_field_count(void **state)
{
	(void)state;
	static const struct {
		uint8_t type, nfields;
	} bad[] = {
		{ IPCMSG_PASS, 1 },      { IPCMSG_PASS, 3 },	    { IPCMSG_APOP, 2 },
		{ IPCMSG_REFRESH, 1 },   { IPCMSG_RESULT, 0 },    { IPCMSG_RESULT, 2 },
		{ IPCMSG_DIRECTORY, 2 }, { IPCMSG_DIRECTORY, 0 }, { 0, 0 },
		{ 6, 0 },		  { 255, 1 },
	};
	struct buf b;
	buf_init(&b, 0);
	assert_true(buf_append(&b, S("earlier frame")));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ipcmsg m = msg(bad[i].type, 1, IPCMSG_OK, bad[i].nfields, S("a"), S("b"),
				       S("c"));
		assert_false(ipcmsg_encode(&b, &m));
		assert_buf_is(&b, S("earlier frame"));
	}
	buf_release(&b);
}

/* A buf with too little room left keeps what it held; exactly enough
 * room is enough. */
static void test_ipcmsg_encode_into_full_buf_fails_unchanged(void **state)
{
	(void)state;
	struct ipcmsg m = msg(IPCMSG_APOP, 7, IPCMSG_OK, 3, S("alice@localhost"), S("<1.2@x>"),
			       S("0123456789abcdef0123456789abcdef"));
	size_t frame = HEAD + 4 + 15 + 4 + 7 + 4 + 32;
	for (size_t room = 0; room <= frame; room++) {
		struct buf b;
		buf_init(&b, 5 + room);
		assert_true(buf_append(&b, S("head:")));
		bool ok = ipcmsg_encode(&b, &m);
		if (room < frame) {
			assert_false(ok);
			assert_buf_is(&b, S("head:"));
		} else {
			assert_true(ok);
			assert_int_equal(b.len, 5 + frame);
			struct ipcmsg got;
			size_t used = 0;
			assert_int_equal(ipcmsg_decode(b.data + 5, b.len - 5, IPCMSG_MAX_REQUEST,
							&got, &used), 1);
			assert_int_equal(used, frame);
			assert_same(&m, &got);
			ipcmsg_clear(&got);
		}
		buf_release(&b);
	}
}

static void test_ipcmsg_clear_frees_and_zeroes(void **state)
{
	(void)state;
	struct ipcmsg m = msg(IPCMSG_APOP, 1, IPCMSG_OK, 3, S("alice"), S("<t>"), S("digest"));
	struct buf b;
	encode_one(&b, &m);
	struct ipcmsg got;
	size_t used = 0;
	assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used), 1);
	assert_int_equal(got.nfields, 3);
	ipcmsg_clear(&got);
	assert_no_fields(&got);
	/* Twice is harmless (error paths may clear what was cleared). */
	ipcmsg_clear(&got);
	assert_no_fields(&got);
	/* So is a message that never held anything. */
	struct ipcmsg empty = { 0 };
	ipcmsg_clear(&empty);
	assert_no_fields(&empty);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipcmsg_wire_format_is_as_documented),
		cmocka_unit_test(test_ipcmsg_every_type_round_trips),
		cmocka_unit_test(test_ipcmsg_large_directory_round_trips),
		cmocka_unit_test(test_ipcmsg_back_to_back_messages_decode_in_order),
		cmocka_unit_test(test_ipcmsg_every_prefix_needs_more),
		cmocka_unit_test(test_ipcmsg_body_limit_is_inclusive_and_checked_early),
		cmocka_unit_test(test_ipcmsg_body_under_seven_bytes_rejected),
		cmocka_unit_test(test_ipcmsg_builder_makes_valid_frames),
		cmocka_unit_test(test_ipcmsg_hostile_frames_rejected),
		cmocka_unit_test(test_ipcmsg_directory_keeps_nul),
		cmocka_unit_test(test_ipcmsg_empty_fields_accepted),
		cmocka_unit_test(test_ipcmsg_encode_refuses_wrong_field_count),
		cmocka_unit_test(test_ipcmsg_encode_into_full_buf_fails_unchanged),
		cmocka_unit_test(test_ipcmsg_clear_frees_and_zeroes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
