/* Unit tests for src/lib/ipcmsg: the frames between the network process
 * and its helpers, the auth process and the store process. The decoder
 * faces whatever a compromised network process sends, so the hostile
 * frames below are built byte by byte and each one stands for one rule in
 * ipcmsg.h. Which field of which type may hold a NUL, and how many fields
 * each type has, are restated here (rules[]) rather than taken from the
 * codec. */
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

static void assert_buf_is(const struct buf *b, const char *want, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

/* Every octet value once: message bytes and READ chunks are not text. */
static const char *all_octets(void)
{
	static char b[256];
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (char)(uint8_t)i;
	return b;
}

/* One message of each type and status, with ids that use all four bytes.
 * All fit a request's limit. */
#define NSAMPLES 17
static const struct ipcmsg *samples(size_t *n)
{
	static struct ipcmsg s[NSAMPLES];
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
	s[7] = msg(IPCMSG_RESULT, 7, IPCMSG_BUSY, 1, S(""), NONE, NONE);
	s[8] = msg(IPCMSG_RESULT, 8, IPCMSG_NOSPACE, 1, S("quota exceeded"), NONE, NONE);
	/* An OPEN's listing, then a READ's chunk. */
	s[9] = msg(IPCMSG_RESULT, 0x7f000001, IPCMSG_OK, 1,
		   S("1234 1700000000.M1P2.host\n56 1700000001.M3P4.host\n"), NONE, NONE);
	s[10] = msg(IPCMSG_RESULT, 0x80000000, IPCMSG_OK, 1, all_octets(), 256, NONE, NONE);
	s[11] = msg(IPCMSG_DELIVER, 0x00ff00ff, IPCMSG_OK, 3,
		    S("alice@localhost\nbob@example.test\n"),
		    S("Return-Path: <>\r\nReceived: from \0x\r\n"),
		    S("Subject: x\r\n\r\n\0bin\0\r\n\xff\xfe\0"));
	s[12] = msg(IPCMSG_DELIVER, 12, IPCMSG_OK, 3, S("alice@localhost"), all_octets(), 256,
		    all_octets(), 256);
	s[13] = msg(IPCMSG_OPEN, 0x7f000001, IPCMSG_OK, 1, S("alice@localhost"), NONE, NONE);
	s[14] = msg(IPCMSG_READ, 0xfffffffe, IPCMSG_OK, 3, S("2130706433"), S("0"),
		    S("65536"));
	s[15] = msg(IPCMSG_DELETE, 0x10203040, IPCMSG_OK, 2, S("2130706433"), S("0 3 17"), NONE);
	s[16] = msg(IPCMSG_CLOSE, 0x7f000001, IPCMSG_OK, 1, S("2130706433"), NONE, NONE);
	*n = NSAMPLES;
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

	/* The message's octets go out as they are, NULs and all. */
	struct ipcmsg d = msg(IPCMSG_DELIVER, 0x01000000, IPCMSG_OK, 3, S("bo"), S("\0"),
			       S("\0\r\n\xff"));
	static const uint8_t want_d[] = {
		0, 0, 0, 7 + 4 + 2 + 4 + 1 + 4 + 4,
		6, 0x01, 0, 0, 0, 0, 3,
		0, 0, 0, 2, 'b', 'o',
		0, 0, 0, 1, 0,
		0, 0, 0, 4, 0, '\r', '\n', 0xff,
	};
	encode_one(&b, &d);
	assert_int_equal(b.len, sizeof want_d);
	assert_memory_equal(b.data, want_d, sizeof want_d);
	buf_release(&b);
}

/* Type and status numbers are on the wire: renumbering one would make two
 * builds misread each other. */
static void test_ipcmsg_wire_numbers_are_fixed(void **state)
{
	(void)state;
	assert_int_equal(IPCMSG_PASS, 1);
	assert_int_equal(IPCMSG_APOP, 2);
	assert_int_equal(IPCMSG_REFRESH, 3);
	assert_int_equal(IPCMSG_RESULT, 4);
	assert_int_equal(IPCMSG_DIRECTORY, 5);
	assert_int_equal(IPCMSG_DELIVER, 6);
	assert_int_equal(IPCMSG_OPEN, 7);
	assert_int_equal(IPCMSG_READ, 8);
	assert_int_equal(IPCMSG_DELETE, 9);
	assert_int_equal(IPCMSG_CLOSE, 10);
	assert_int_equal(IPCMSG_OK, 0);
	assert_int_equal(IPCMSG_BAD, 1);
	assert_int_equal(IPCMSG_TEMPFAIL, 2);
	assert_int_equal(IPCMSG_BUSY, 3);
	assert_int_equal(IPCMSG_NOSPACE, 4);
	assert_int_equal(IPCMSG_MAX_FIELDS, 3);
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
	size_t ends[NSAMPLES];
	assert_true(n <= NSAMPLES);
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
		{ "type 11", 11, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "type 11, one field", 11, 0, 1, 1, { F("alice") }, NULL, 0 },
		{ "type 11, two fields", 11, 0, 2, 2, { F("a"), F("b") }, NULL, 0 },
		{ "type 12, three fields", 12, 0, 3, 3, { F("1"), F("0"), F("0") }, NULL, 0 },
		{ "type 128, one field", 128, 0, 1, 1, { F("") }, NULL, 0 },
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
		{ "DELIVER, no field", IPCMSG_DELIVER, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "DELIVER, one field", IPCMSG_DELIVER, 0, 1, 1, { F("alice") }, NULL, 0 },
		{ "DELIVER, two fields", IPCMSG_DELIVER, 0, 2, 2, { F("alice"), F("m") }, NULL, 0 },
		{ "DELIVER, four fields", IPCMSG_DELIVER, 0, 4, 4,
		  { F("a"), F("h"), F("m"), F("x") }, NULL, 0 },
		{ "DELIVER, count 3, two sent", IPCMSG_DELIVER, 0, 3, 2, { F("alice"), F("m") },
		  NULL, 0 },
		{ "OPEN, no field", IPCMSG_OPEN, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "OPEN, two fields", IPCMSG_OPEN, 0, 2, 2, { F("alice"), F("bob") }, NULL, 0 },
		{ "READ, no field", IPCMSG_READ, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "READ, two fields", IPCMSG_READ, 0, 2, 2, { F("1"), F("0") }, NULL, 0 },
		{ "READ, four fields", IPCMSG_READ, 0, 4, 4, { F("1"), F("0"), F("0"), F("0") },
		  NULL, 0 },
		{ "DELETE, one field", IPCMSG_DELETE, 0, 1, 1, { F("1") }, NULL, 0 },
		{ "DELETE, three fields", IPCMSG_DELETE, 0, 3, 3, { F("1"), F("2"), F("3") }, NULL,
		  0 },
		{ "CLOSE, no field", IPCMSG_CLOSE, 0, 0, 0, { { 0 } }, NULL, 0 },
		{ "CLOSE, two fields", IPCMSG_CLOSE, 0, 2, 2, { F("1"), F("1") }, NULL, 0 },
		{ "READ, count 3, two sent", IPCMSG_READ, 0, 3, 2, { F("1"), F("0") }, NULL, 0 },
		{ "CLOSE, count 1, none sent", IPCMSG_CLOSE, 0, 1, 0, { { 0 } }, NULL, 0 },
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
		{ "DELIVER message overruns by one", IPCMSG_DELIVER, 0, 3, 3,
		  { F("alice"), F(""), FLIE("m\0ssage", 8) }, NULL, 0 },
		{ "DELIVER message length 2^32-1", IPCMSG_DELIVER, 0, 3, 3,
		  { F("alice"), F("X: y\r\n"), FLIE("message", 0xffffffff) }, NULL, 0 },
		{ "DELIVER header lines eat the message", IPCMSG_DELIVER, 0, 3, 3,
		  { F("alice"), FLIE("X: y\r\n", 6 + 4 + 7), F("message") }, NULL, 0 },
		{ "DELIVER message short, NUL left over", IPCMSG_DELIVER, 0, 3, 3,
		  { F("alice"), F(""), FLIE("message\0", 7) }, NULL, 0 },
		{ "CLOSE with a trailing byte", IPCMSG_CLOSE, 0, 1, 1, { F("1") }, "\0", 1 },
		{ "READ with a trailing empty field", IPCMSG_READ, 0, 3, 3,
		  { F("1"), F("0"), F("0") }, "\0\0\0\0", 4 },
		{ "RESULT status 5", IPCMSG_RESULT, 5, 1, 1, { F("") }, NULL, 0 },
		{ "RESULT status 5, bytes", IPCMSG_RESULT, 5, 1, 1, { F("\0\xff") }, NULL, 0 },
		{ "RESULT status 128", IPCMSG_RESULT, 128, 1, 1, { F("x") }, NULL, 0 },
		{ "RESULT status 255", IPCMSG_RESULT, 255, 1, 1, { F("alice@localhost") }, NULL, 0 },
		{ "NUL in PASS login", IPCMSG_PASS, 0, 2, 2, { F("alice\0@evil"), F("pw") }, NULL, 0 },
		{ "NUL in PASS password", IPCMSG_PASS, 0, 2, 2, { F("alice"), F("pw\0") }, NULL, 0 },
		{ "PASS password is one NUL", IPCMSG_PASS, 0, 2, 2, { F("alice"), F("\0") }, NULL, 0 },
		{ "NUL in APOP login", IPCMSG_APOP, 0, 3, 3, { F("\0a"), F("<t>"), F("d") }, NULL, 0 },
		{ "NUL in APOP timestamp", IPCMSG_APOP, 0, 3, 3, { F("a"), F("<t\0>"), F("d") },
		  NULL, 0 },
		{ "NUL in APOP digest", IPCMSG_APOP, 0, 3, 3, { F("a"), F("<t>"), F("d\0") }, NULL, 0 },
		{ "NUL in DELIVER accounts", IPCMSG_DELIVER, 0, 3, 3,
		  { F("alice@localhost\0root"), F("X: y\r\n"), F("message") }, NULL, 0 },
		{ "DELIVER accounts is one NUL", IPCMSG_DELIVER, 0, 3, 3, { F("\0"), F(""), F("") },
		  NULL, 0 },
		{ "NUL ends DELIVER accounts", IPCMSG_DELIVER, 0, 3, 3,
		  { F("alice\nbob\n\0"), F("\0"), F("\0") }, NULL, 0 },
		{ "NUL in OPEN account", IPCMSG_OPEN, 0, 1, 1, { F("alice\0/../root") }, NULL, 0 },
		{ "OPEN account is one NUL", IPCMSG_OPEN, 0, 1, 1, { F("\0") }, NULL, 0 },
		{ "NUL in READ handle", IPCMSG_READ, 0, 3, 3, { F("1\0"), F("0"), F("0") },
		  NULL, 0 },
		{ "NUL in READ number", IPCMSG_READ, 0, 3, 3, { F("1"), F("\0" "0"), F("0") },
		  NULL, 0 },
		{ "NUL in READ offset", IPCMSG_READ, 0, 3, 3, { F("1"), F("0"), F("6\0" "5") },
		  NULL, 0 },
		{ "NUL in DELETE handle", IPCMSG_DELETE, 0, 2, 2, { F("\0" "1"), F("0") },
		  NULL, 0 },
		{ "NUL in DELETE numbers", IPCMSG_DELETE, 0, 2, 2, { F("1"), F("0 \0 3") },
		  NULL, 0 },
		{ "NUL in CLOSE handle", IPCMSG_CLOSE, 0, 1, 1, { F("1\0" "2") }, NULL, 0 },
	};
	/* A frame's defect does not depend on who reads it. */
	static const size_t limits[] = { IPCMSG_MAX_REQUEST, IPCMSG_MAX_DIRECTORY };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		build(&b, &cases[i]);
		for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
			struct ipcmsg got;
			size_t used = 777;
			int r = ipcmsg_decode(b.data, b.len, limits[l], &got, &used);
			if (r != -1)
				fail_msg("case \"%s\", limit %zu: decode returned %d, not -1",
					 cases[i].why, limits[l], r);
			assert_int_equal(used, 777);
			assert_no_fields(&got);
		}
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

/* RESULT's field (a READ chunk, an OPEN listing) is bytes too, in every
 * status; so are DELIVER's header lines and message, not its accounts. */
static void test_ipcmsg_result_and_message_keep_nul(void **state)
{
	(void)state;
	const struct ipcmsg cases[] = {
		msg(IPCMSG_RESULT, 1, IPCMSG_OK, 1, S("alice\0root"), NONE, NONE),
		msg(IPCMSG_RESULT, 2, IPCMSG_BAD, 1, S("\0"), NONE, NONE),
		msg(IPCMSG_RESULT, 3, IPCMSG_TEMPFAIL, 1, S("disk\0"), NONE, NONE),
		msg(IPCMSG_RESULT, 4, IPCMSG_BUSY, 1, S("\0\0\0"), NONE, NONE),
		msg(IPCMSG_RESULT, 5, IPCMSG_NOSPACE, 1, S("\0quota"), NONE, NONE),
		msg(IPCMSG_DELIVER, 6, IPCMSG_OK, 3, S("alice@localhost"), S("\0"), S("\0")),
		msg(IPCMSG_DELIVER, 7, IPCMSG_OK, 3, S("a\nb\n"), S(""), S("x\0\0y\r\n.\r\n\0")),
		msg(IPCMSG_DELIVER, 8, IPCMSG_OK, 3, S("a"), S("X-\0: \0\r\n"), S("")),
	};
	static const size_t limits[] = { IPCMSG_MAX_REQUEST, IPCMSG_MAX_DIRECTORY };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		encode_one(&b, &cases[i]);
		for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
			struct ipcmsg got;
			size_t used = 0;
			assert_int_equal(ipcmsg_decode(b.data, b.len, limits[l], &got, &used), 1);
			assert_int_equal(used, b.len);
			assert_same(&cases[i], &got);
			ipcmsg_clear(&got);
		}
		buf_release(&b);
	}
}

/* The tests' own statement of ipcmsg.h, not the codec's. */
static const struct {
	uint8_t type, nfields;
	bool bytes[IPCMSG_MAX_FIELDS]; /* may hold a NUL */
} rules[] = {
	{ IPCMSG_PASS, 2, { false, false } },
	{ IPCMSG_APOP, 3, { false, false, false } },
	{ IPCMSG_REFRESH, 0, { false } },
	{ IPCMSG_RESULT, 1, { true } },
	{ IPCMSG_DIRECTORY, 3, { true, true, true } },
	{ IPCMSG_DELIVER, 3, { false, true, true } },
	{ IPCMSG_OPEN, 1, { false } },
	{ IPCMSG_READ, 3, { false, false, false } },
	{ IPCMSG_DELETE, 2, { false, false } },
	{ IPCMSG_CLOSE, 1, { false } },
};

/* Rule r's message with nul in field f: encoded, and framed by hand. */
static void nul_case(size_t r, unsigned f, const struct raw_field *nul)
{
	uint8_t type = rules[r].type, nf = rules[r].nfields;
	bool want = rules[r].bytes[f];
	struct ipcmsg m = msg(type, 42, IPCMSG_OK, nf, S("1"), S("2"), S("3"));
	m.field[f] = (char *)nul->bytes;
	m.len[f] = nul->n;
	struct hostile h = { "nul", type, IPCMSG_OK, nf, nf, { F("1"), F("2"), F("3") }, NULL, 0 };
	h.f[f] = *nul;

	struct buf enc;
	buf_init(&enc, 0);
	assert_true(buf_append(&enc, S("earlier frame")));
	if (ipcmsg_encode(&enc, &m) != want)
		fail_msg("type %u field %u, %zu octets: encode gave %d", (unsigned)type, f, nul->n,
			 !want);
	if (!want)
		assert_buf_is(&enc, S("earlier frame"));

	struct buf b;
	build(&b, &h);
	struct ipcmsg got;
	size_t used = 777;
	int res = ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used);
	if (res != (want ? 1 : -1))
		fail_msg("type %u field %u, %zu octets: decode gave %d", (unsigned)type, f, nul->n,
			 res);
	if (want) {
		assert_int_equal(used, b.len);
		assert_int_equal(got.len[f], nul->n);
		assert_memory_equal(got.field[f], nul->bytes, nul->n);
		/* One encoding: the builder's frame is the encoder's. */
		assert_int_equal(enc.len, 13 + b.len);
		assert_memory_equal(enc.data + 13, b.data, b.len);
		ipcmsg_clear(&got);
	} else {
		assert_int_equal(used, 777);
		assert_no_fields(&got);
	}
	buf_release(&b);
	buf_release(&enc);
}

/* A NUL anywhere in a field: the encoder and the decoder agree, field by
 * field of every type, and both follow rules[]. A text field with a NUL
 * would be cut short by whoever reads it as a C string ("alice\0/../x"
 * checked as one name, used as another). The decoder sees each frame
 * built by hand, since the encoder refuses half of them. */
static void test_ipcmsg_nul_only_where_bytes_are_allowed(void **state)
{
	(void)state;
	static const struct raw_field nuls[] = {
		F("\0"), F("\0alice"), F("alice\0"), F("al\0ice"), F("\0\0"),
	};
	for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
		for (unsigned f = 0; f < rules[r].nfields; f++)
			for (size_t k = 0; k < sizeof nuls / sizeof nuls[0]; k++)
				nul_case(r, f, &nuls[k]);
}

/* Each type takes exactly its own number of fields, 0 to 3, on both sides;
 * types 0 and 11 to 255 are nobody's. */
static void test_ipcmsg_field_count_per_type(void **state)
{
	(void)state;
	for (unsigned type = 0; type <= 255; type++) {
		int want = -1;
		for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
			if (rules[r].type == type)
				want = rules[r].nfields;
		assert_true(want >= 0 || type == 0 || type >= 11);
		for (unsigned count = 0; count <= IPCMSG_MAX_FIELDS + 1; count++) {
			struct hostile h = { "count", (uint8_t)type, IPCMSG_OK, (uint8_t)count,
					     count, { F("1"), F("2"), F("3"), F("4") }, NULL, 0 };
			struct buf b;
			build(&b, &h);
			struct ipcmsg got;
			size_t used = 777;
			int res = ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used);
			bool ok = want == (int)count;
			if (res != (ok ? 1 : -1))
				fail_msg("type %u, %u fields: decode gave %d", type, count, res);
			if (ok) {
				assert_int_equal(got.type, type);
				assert_int_equal(got.nfields, count);
				ipcmsg_clear(&got);
			}
			assert_no_fields(&got);

			if (count <= IPCMSG_MAX_FIELDS) {
				struct ipcmsg m = msg((uint8_t)type, 1, IPCMSG_OK, (uint8_t)count,
						       S("1"), S("2"), S("3"));
				struct buf enc;
				buf_init(&enc, 0);
				if (ipcmsg_encode(&enc, &m) != ok)
					fail_msg("type %u, %u fields: encode gave %d", type, count,
						 !ok);
				assert_int_equal(enc.len, ok ? b.len : 0);
				buf_release(&enc);
			}
			buf_release(&b);
		}
	}
}

/* RESULT's status is one of five; 5 to 255 are refused by the encoder and
 * by the decoder, whatever the field holds. */
static void test_ipcmsg_result_status_zero_to_four(void **state)
{
	(void)state;
	for (unsigned status = 0; status <= 255; status++) {
		bool ok = status <= IPCMSG_NOSPACE;
		struct ipcmsg m = msg(IPCMSG_RESULT, 3, (uint8_t)status, 1, S("a\0b"), NONE, NONE);
		struct buf enc;
		buf_init(&enc, 0);
		assert_true(buf_append(&enc, S("earlier frame")));
		if (ipcmsg_encode(&enc, &m) != ok)
			fail_msg("status %u: encode gave %d", status, !ok);
		if (!ok)
			assert_buf_is(&enc, S("earlier frame"));
		buf_release(&enc);

		struct hostile h = { "status", IPCMSG_RESULT, (uint8_t)status, 1, 1, { F("a\0b") },
				     NULL, 0 };
		struct buf b;
		build(&b, &h);
		struct ipcmsg got;
		size_t used = 777;
		int r = ipcmsg_decode(b.data, b.len, IPCMSG_MAX_DIRECTORY, &got, &used);
		if (r != (ok ? 1 : -1))
			fail_msg("status %u: decode gave %d", status, r);
		if (ok) {
			assert_int_equal(got.status, status);
			assert_int_equal(used, b.len);
			ipcmsg_clear(&got);
		} else {
			assert_int_equal(used, 777);
		}
		assert_no_fields(&got);
		buf_release(&b);
	}
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
		msg(IPCMSG_RESULT, 5, IPCMSG_BUSY, 1, S(""), NONE, NONE),
		msg(IPCMSG_RESULT, 6, IPCMSG_NOSPACE, 1, S(""), NONE, NONE),
		msg(IPCMSG_DELIVER, 7, IPCMSG_OK, 3, S(""), S(""), S("")),
		msg(IPCMSG_OPEN, 8, IPCMSG_OK, 1, S(""), NONE, NONE),
		msg(IPCMSG_READ, 9, IPCMSG_OK, 3, S(""), S(""), S("")),
		msg(IPCMSG_DELETE, 10, IPCMSG_OK, 2, S(""), S(""), NONE),
		msg(IPCMSG_CLOSE, 11, IPCMSG_OK, 1, S(""), NONE, NONE),
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

static void test_ipcmsg_encode_refuses_wrong_field_count(void **state)
{
	(void)state;
	static const struct {
		uint8_t type, nfields;
	} bad[] = {
		{ IPCMSG_PASS, 1 },      { IPCMSG_PASS, 3 },	    { IPCMSG_APOP, 2 },
		{ IPCMSG_REFRESH, 1 },   { IPCMSG_RESULT, 0 },    { IPCMSG_RESULT, 2 },
		{ IPCMSG_DIRECTORY, 2 }, { IPCMSG_DIRECTORY, 0 }, { 0, 0 },
		{ 6, 0 },		  { 255, 1 },		  { IPCMSG_DELIVER, 1 },
		{ IPCMSG_DELIVER, 2 },   { IPCMSG_OPEN, 0 },	    { IPCMSG_OPEN, 2 },
		{ IPCMSG_READ, 2 },	  { IPCMSG_READ, 4 },	    { IPCMSG_DELETE, 1 },
		{ IPCMSG_DELETE, 3 },    { IPCMSG_CLOSE, 0 },	    { IPCMSG_CLOSE, 2 },
		{ 11, 0 },		  { 11, 1 },		    { 11, 3 },
		{ 12, 2 },		  { 255, 3 },
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

/* The auth process reads at most IPCMSG_MAX_REQUEST of body; the encoder
 * will not send it more, and the limit is inclusive on both sides. */
static void test_ipcmsg_encode_refuses_login_over_max_request(void **state)
{
	(void)state;
	size_t max = IPCMSG_MAX_REQUEST;
	char *big = malloc(max);
	assert_non_null(big);
	memset(big, 'p', max);
	/* PASS: 7 + 4 + 5 + 4 + pw; APOP: 7 + 4 + 5 + 4 + 3 + 4 + digest. */
	size_t pass_fit = max - 7 - 4 - 5 - 4;
	size_t apop_fit = max - 7 - 4 - 5 - 4 - 3 - 4;
	const struct ipcmsg fits[] = {
		msg(IPCMSG_PASS, 1, IPCMSG_OK, 2, S("alice"), big, pass_fit, NONE),
		msg(IPCMSG_APOP, 2, IPCMSG_OK, 3, S("alice"), S("<t>"), big, apop_fit),
	};
	for (size_t i = 0; i < sizeof fits / sizeof fits[0]; i++) {
		struct buf b;
		encode_one(&b, &fits[i]);
		assert_int_equal(b.len, 4 + max);
		struct ipcmsg got;
		size_t used = 0;
		assert_int_equal(ipcmsg_decode(b.data, b.len, max, &got, &used), 1);
		assert_int_equal(used, b.len);
		assert_same(&fits[i], &got);
		ipcmsg_clear(&got);
		buf_release(&b);

		/* One octet more, in the secret or in the login. */
		struct ipcmsg over = fits[i];
		unsigned last = over.nfields - 1;
		over.len[last]++;
		char *longer = malloc(max + 1);
		assert_non_null(longer);
		memset(longer, 'p', max + 1);
		over.field[last] = longer;
		buf_init(&b, 0);
		assert_true(buf_append(&b, S("earlier frame")));
		assert_false(ipcmsg_encode(&b, &over));
		assert_buf_is(&b, S("earlier frame"));
		over = fits[i];
		over.field[0] = longer;
		over.len[0]++;
		assert_false(ipcmsg_encode(&b, &over));
		assert_buf_is(&b, S("earlier frame"));
		/* Far over, whole fields' worth. */
		over = fits[i];
		over.field[last] = longer;
		over.len[last] = max + 1;
		assert_false(ipcmsg_encode(&b, &over));
		assert_buf_is(&b, S("earlier frame"));
		buf_release(&b);
		free(longer);
	}
	free(big);
}

/* The store's traffic is not a login: a message of 100 KiB (NULs, CRs,
 * every octet) and a full READ chunk encode, and pass the network
 * process's limit, not the auth process's. Neither has an encoder-side
 * size limit, nor does a long list of accounts. */
static void test_ipcmsg_large_store_messages_encode(void **state)
{
	(void)state;
	size_t big = 100 * 1024;
	char *bytes = malloc(big);
	assert_non_null(bytes);
	for (size_t i = 0; i < big; i++)
		bytes[i] = (char)(uint8_t)(i * 7 + (i >> 8));
	size_t nacc = 2 * IPCMSG_MAX_REQUEST;
	char *accounts = malloc(nacc);
	assert_non_null(accounts);
	for (size_t i = 0; i < nacc; i++)
		accounts[i] = (i % 16 == 15) ? '\n' : (char)('a' + i % 26);
	const struct ipcmsg cases[] = {
		msg(IPCMSG_DELIVER, 1, IPCMSG_OK, 3, S("alice@localhost\nbob@example.test\n"),
		    S("Received: from x\r\n"), bytes, big),
		msg(IPCMSG_RESULT, 2, IPCMSG_OK, 1, bytes, IPCMSG_READ_CHUNK, NONE, NONE),
		msg(IPCMSG_DELIVER, 3, IPCMSG_OK, 3, accounts, nacc, bytes, 1, bytes, 1),
		msg(IPCMSG_DELIVER, 5, IPCMSG_OK, 3, S("alice"), bytes, big, S("")),
		msg(IPCMSG_DIRECTORY, 4, IPCMSG_OK, 3, accounts, nacc, bytes, big, S("aliases")),
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		encode_one(&b, &cases[i]);
		size_t body = 7;
		for (unsigned f = 0; f < cases[i].nfields; f++)
			body += 4 + cases[i].len[f];
		assert_true(body > IPCMSG_MAX_REQUEST);
		assert_int_equal(b.len, 4 + body);
		struct ipcmsg got;
		size_t used = 0;
		int r = ipcmsg_decode(b.data, b.len, IPCMSG_MAX_DIRECTORY, &got, &used);
		assert_int_equal(r, 1);
		assert_int_equal(used, b.len);
		assert_same(&cases[i], &got);
		ipcmsg_clear(&got);
		used = 777;
		assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used), -1);
		assert_int_equal(used, 777);
		assert_no_fields(&got);
		/* The length alone condemns it, before the body arrives. */
		assert_int_equal(ipcmsg_decode(b.data, 4, IPCMSG_MAX_REQUEST, &got, &used), -1);
		assert_int_equal(ipcmsg_decode(b.data, 4, IPCMSG_MAX_DIRECTORY, &got, &used), 0);
		buf_release(&b);
	}
	assert_int_equal(cases[0].len[2], 102400);
	free(accounts);
	free(bytes);
}

/* A field or a body whose length does not fit the u32 on the wire is
 * refused, not truncated into a frame that says something else. Only
 * byte fields are used, so nothing is scanned: the lengths are refused
 * before a byte is read (the fields point at one octet). */
static void test_ipcmsg_encode_refuses_lengths_past_u32(void **state)
{
	(void)state;
	static const char one[1] = { 'x' };
	const size_t huge = (size_t)UINT32_MAX - 3, half = (size_t)1 << 31;
	const struct ipcmsg cases[] = {
		msg(IPCMSG_RESULT, 1, IPCMSG_OK, 1, one, huge, NONE, NONE),
		msg(IPCMSG_RESULT, 2, IPCMSG_OK, 1, one, SIZE_MAX, NONE, NONE),
		msg(IPCMSG_DIRECTORY, 3, IPCMSG_OK, 3, one, half, one, half, S("")),
		msg(IPCMSG_DELIVER, 4, IPCMSG_OK, 3, S("alice"), one, half, one, half),
	};
	struct buf b;
	buf_init(&b, 0);
	assert_true(buf_append(&b, S("earlier frame")));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_false(ipcmsg_encode(&b, &cases[i]));
		assert_buf_is(&b, S("earlier frame"));
	}
	buf_release(&b);
}

static void full_buf_case(const struct ipcmsg *m, size_t frame)
{
	for (size_t room = 0; room <= frame; room++) {
		struct buf b;
		buf_init(&b, 5 + room);
		assert_true(buf_append(&b, S("head:")));
		bool ok = ipcmsg_encode(&b, m);
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
			assert_same(m, &got);
			ipcmsg_clear(&got);
		}
		buf_release(&b);
	}
}

/* A buf with too little room left keeps what it held; exactly enough
 * room is enough. */
static void test_ipcmsg_encode_into_full_buf_fails_unchanged(void **state)
{
	(void)state;
	const struct ipcmsg ms[] = {
		msg(IPCMSG_APOP, 7, IPCMSG_OK, 3, S("alice@localhost"), S("<1.2@x>"),
		    S("0123456789abcdef0123456789abcdef")),
		msg(IPCMSG_DELIVER, 8, IPCMSG_OK, 3, S("alice@localhost"), S("X: \0\r\n"),
		    S("\0\r\n.\r\n\0\xff")),
	};
	const size_t frames[] = { HEAD + 4 + 15 + 4 + 7 + 4 + 32, HEAD + 4 + 15 + 4 + 6 + 4 + 8 };
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
		full_buf_case(&ms[i], frames[i]);
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

	/* A decoded message with NULs inside is freed whole, not to its first NUL
	 * (valgrind and ASan would see the rest leak or the wipe overrun). */
	struct ipcmsg d = msg(IPCMSG_DELIVER, 2, IPCMSG_OK, 3, S("alice"), S("\0"),
			       S("\0\0body\0"));
	encode_one(&b, &d);
	assert_int_equal(ipcmsg_decode(b.data, b.len, IPCMSG_MAX_REQUEST, &got, &used), 1);
	assert_int_equal(got.nfields, 3);
	assert_int_equal(got.len[2], 7);
	ipcmsg_clear(&got);
	assert_no_fields(&got);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipcmsg_wire_format_is_as_documented),
		cmocka_unit_test(test_ipcmsg_wire_numbers_are_fixed),
		cmocka_unit_test(test_ipcmsg_every_type_round_trips),
		cmocka_unit_test(test_ipcmsg_large_directory_round_trips),
		cmocka_unit_test(test_ipcmsg_back_to_back_messages_decode_in_order),
		cmocka_unit_test(test_ipcmsg_every_prefix_needs_more),
		cmocka_unit_test(test_ipcmsg_body_limit_is_inclusive_and_checked_early),
		cmocka_unit_test(test_ipcmsg_body_under_seven_bytes_rejected),
		cmocka_unit_test(test_ipcmsg_builder_makes_valid_frames),
		cmocka_unit_test(test_ipcmsg_hostile_frames_rejected),
		cmocka_unit_test(test_ipcmsg_directory_keeps_nul),
		cmocka_unit_test(test_ipcmsg_result_and_message_keep_nul),
		cmocka_unit_test(test_ipcmsg_nul_only_where_bytes_are_allowed),
		cmocka_unit_test(test_ipcmsg_field_count_per_type),
		cmocka_unit_test(test_ipcmsg_result_status_zero_to_four),
		cmocka_unit_test(test_ipcmsg_empty_fields_accepted),
		cmocka_unit_test(test_ipcmsg_encode_refuses_wrong_field_count),
		cmocka_unit_test(test_ipcmsg_encode_refuses_login_over_max_request),
		cmocka_unit_test(test_ipcmsg_large_store_messages_encode),
		cmocka_unit_test(test_ipcmsg_encode_refuses_lengths_past_u32),
		cmocka_unit_test(test_ipcmsg_encode_into_full_buf_fails_unchanged),
		cmocka_unit_test(test_ipcmsg_clear_frees_and_zeroes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
