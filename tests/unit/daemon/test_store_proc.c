/* Black-box tests of the store process (daemon/store_proc.c), driven the
 * way a buggy or taken-over network process could drive it, through the
 * harness in helper_peer.h. Its decoder and request handling are the
 * trust boundary, so refusals are checked as closely as answers: what a
 * refused request left on disk, whether the store keeps serving, and its
 * exit status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/store_proc.h"
#include "helper_peer.h"
#include "lib/buf.h"
#include "lib/ipcmsg.h"
#include "lib/log.h"

/* ---- files ---- */

static struct buf *snap_out;

static int snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	bool ok = buf_append_str(snap_out, path) &&
		  buf_append_byte(snap_out, (uint8_t)('0' + flag)) && buf_append_byte(snap_out, '\n');
	return ok ? 0 : -1;
}

/* Every path under root, to compare a tree before and after. */
static void snapshot(const char *root, struct buf *out)
{
	buf_init(out, 0);
	snap_out = out;
	assert_int_equal(nftw(root, snap_one, 16, FTW_PHYS), 0);
	snap_out = NULL;
}

/* Entries of dir other than dot files; the name of the last in *name. */
static size_t count_entries(const char *dir, char *name, size_t namesz)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	const struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (name)
			snprintf(name, namesz, "%s", e->d_name);
	}
	closedir(d);
	return n;
}

static void slurp(const char *path, struct buf *out)
{
	buf_init(out, 0);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t chunk[8192];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
		assert_true(buf_append(out, chunk, got));
	fclose(f);
}

/* Checks that <data>/mail/<maildrop>/new holds count files and tmp/ none
 * (nothing half-delivered left behind); reads one of them (the only one
 * when count is 1) into out unless it is NULL. */
static void the_message(const struct peer *p, const char *maildrop, size_t count, struct buf *out)
{
	char root[256], dir[300], name[256], path[600];
	snprintf(root, sizeof root, "%s/mail/%s", p->data, maildrop);
	pathf(dir, sizeof dir, root, "tmp");
	assert_int_equal(count_entries(dir, NULL, 0), 0);
	pathf(dir, sizeof dir, root, "new");
	assert_int_equal(count_entries(dir, name, sizeof name), count);
	if (out) {
		pathf(path, sizeof path, dir, name);
		slurp(path, out);
	}
}

/* ---- store process ---- */

/* Starts the store process, which says "ready" (a RESULT with id 0, which
 * no request has) once it has cleaned up and can serve. */
static void store_start(struct peer *p)
{
	peer_start(p, HELPER_STORE, store_proc_main);
	struct ipcmsg m;
	peer_result(p, 0, IPCMSG_OK, &m);
	assert_string_equal(m.field[0], "ready");
	ipcmsg_clear(&m);
}

static const char HEAD[] = "Return-Path: <a@b>\n";
static const char BODY[] = "Subject: x\n\nhello\n";

static void deliver(struct peer *p, uint32_t id, const char *accounts, const void *body,
		    size_t len, int status)
{
	struct field f[3] = { { accounts, strlen(accounts) }, { HEAD, strlen(HEAD) }, { body, len } };
	struct buf b;
	buf_init(&b, 0);
	encode(&b, IPCMSG_DELIVER, id, f, 3);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	struct ipcmsg m;
	peer_result(p, id, status, &m);
	ipcmsg_clear(&m);
}

static bool content_is(const struct buf *got, const char *head, const void *body, size_t len)
{
	size_t hl = strlen(head);
	return got->len == hl + len && !memcmp(got->data, head, hl) &&
	       !memcmp(got->data + hl, body, len);
}

static void test_store_delivers_one_file_per_maildrop(void **state)
{
	struct peer *p = *state;
	store_start(p);
	deliver(p, 1, "bob@localhost\n", BODY, strlen(BODY), IPCMSG_OK);
	struct buf got;
	the_message(p, "localhost/bob", 1, &got);
	assert_true(content_is(&got, HEAD, BODY, strlen(BODY)));
	buf_release(&got);

	/* Any octets, NUL and CRLF included, are stored as sent; a maildrop
	 * named twice gets one copy. */
	static const char body2[] = "Subject: y\r\n\r\nnul\0byte\n";
	deliver(p, 2, "bob@localhost\nbob@localhost\ncarol@localhost\n", body2, sizeof body2 - 1,
		IPCMSG_OK);
	the_message(p, "localhost/bob", 2, NULL);
	the_message(p, "localhost/carol", 1, &got);
	assert_true(content_is(&got, HEAD, body2, sizeof body2 - 1));
	buf_release(&got);
	assert_int_equal(peer_finish(p), 0);
}

static void test_store_refuses_names_that_are_not_accounts(void **state)
{
	struct peer *p = *state;
	char escape[128], local_escape[160], domain_escape[160], long_local[80];
	/* What "../" would reach from <data>/mail/<domain>/<local>: a
	 * sibling of the case's directory, outside everything it owns. */
	snprintf(escape, sizeof escape, "%s-escape", p->top);
	snprintf(local_escape, sizeof local_escape, "../../../..%s@localhost", escape + 4);
	snprintf(domain_escape, sizeof domain_escape, "bob@../../..%s", escape + 4);
	memset(long_local, 'a', 65);
	snprintf(long_local + 65, sizeof long_local - 65, "@localhost");
	const char *names[] = {
		"../../etc@localhost", "bob@../../tmp", "Bob@localhost", "bob@LOCALHOST", "bob",
		"", "\n", "bob@localhost/x", "/etc/passwd", "bo\001b@localhost",
		"bob@local\x7fhost", ".bob@localhost", "bob.@localhost", "bob@.localhost",
		"bob@localhost.", "bob@@localhost", "bob@localhost@x", "bo b@localhost",
		"bob@localhost\r", "@localhost", "bob@", local_escape, domain_escape, long_local,
		/* one bad name spoils the whole list: nothing delivered */
		"bob@localhost\n../x@localhost\n", "bob@localhost\nBob@localhost\n",
	};
	store_start(p);
	struct buf before, after;
	snapshot(p->top, &before);
	uint32_t id = 1;
	for (size_t i = 0; i < LEN(names); i++) {
		deliver(p, id++, names[i], BODY, strlen(BODY), IPCMSG_BAD);
		ask(p, IPCMSG_OPEN, id++, names[i], NULL, NULL, IPCMSG_BAD, NULL);
	}
	snapshot(p->top, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	assert_int_equal(access(escape, F_OK), -1);
	buf_release(&before);
	buf_release(&after);
	/* Refusals do not end the session. */
	deliver(p, id, "bob@localhost", BODY, strlen(BODY), IPCMSG_OK);
	assert_int_equal(peer_finish(p), 0);
}

/* POP3 octets (RFC 1939 11): CRLF line ends, plus 2 when the last line
 * is unterminated. */
static uint64_t crlf_size(const struct buf *b)
{
	uint64_t n = b->len;
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			n++;
	return b->len && b->data[b->len - 1] != '\n' ? n + 2 : n;
}

struct listed {
	char path[600];
	struct buf content;
};

/* Checks an OPEN listing against new/: each "octets uidl" line names the
 * file whose name starts with uidl and gives its POP3 size. */
static size_t check_listing(const struct peer *p, const char *listing, struct listed *out,
			    size_t max)
{
	char dir[256];
	snprintf(dir, sizeof dir, "%s/mail/localhost/bob/new", p->data);
	size_t n = 0;
	for (const char *line = listing; *line; n++) {
		const char *nl = strchr(line, '\n');
		assert_non_null(nl);
		assert_true(n < max);
		char *end;
		errno = 0;
		unsigned long long octets = strtoull(line, &end, 10);
		assert_true(end != line && *end == ' ' && errno == 0);
		/* RFC 1939 7: 1..70 characters 0x21..0x7e. */
		const char *uidl = end + 1;
		size_t ul = (size_t)(nl - uidl);
		assert_true(ul >= 1 && ul <= 70);
		for (size_t i = 0; i < ul; i++)
			assert_true(uidl[i] >= 0x21 && uidl[i] <= 0x7e);
		DIR *d = opendir(dir);
		assert_non_null(d);
		const struct dirent *e;
		bool found = false;
		while (!found && (e = readdir(d))) {
			if (!strncmp(e->d_name, uidl, ul) && e->d_name[ul] == ',') {
				pathf(out[n].path, sizeof out[n].path, dir, e->d_name);
				found = true;
			}
		}
		closedir(d);
		assert_true(found);
		slurp(out[n].path, &out[n].content);
		assert_true(octets == crlf_size(&out[n].content));
		line = nl + 1;
	}
	return n;
}

/* A READ of handle 10 that must succeed; returns the bytes. */
static void read_ok(struct peer *p, uint32_t id, const char *index, const char *offset,
		    const uint8_t *want, size_t len)
{
	struct buf b;
	buf_init(&b, 0);
	encode_text(&b, IPCMSG_READ, id, "10", index, offset);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	struct ipcmsg m;
	peer_result(p, id, IPCMSG_OK, &m);
	assert_int_equal(m.len[0], len);
	if (len)
		assert_memory_equal(m.field[0], want, len);
	ipcmsg_clear(&m);
}

static void test_store_maildrop_open_read_delete_close(void **state)
{
	struct peer *p = *state;
	store_start(p);
	/* Big enough to need two READs. */
	struct buf big;
	buf_init(&big, 0);
	assert_true(buf_append_str(&big, "Subject: big\n\n"));
	while (big.len < IPCMSG_READ_CHUNK + 5000)
		assert_true(buf_append_str(&big, "0123456789abcdefghijklmnopqrstuvwxyz\n"));
	deliver(p, 1, "bob@localhost", BODY, strlen(BODY), IPCMSG_OK);
	deliver(p, 2, "bob@localhost", big.data, big.len, IPCMSG_OK);
	buf_release(&big);

	struct buf b;
	buf_init(&b, 0);
	encode_text(&b, IPCMSG_OPEN, 10, "bob@localhost", NULL, NULL);
	send_raw(p, b.data, b.len);
	struct ipcmsg m;
	peer_result(p, 10, IPCMSG_OK, &m);
	struct listed msg[2];
	assert_int_equal(check_listing(p, m.field[0], msg, 2), 2);
	ipcmsg_clear(&m);
	size_t small = msg[0].content.len < msg[1].content.len ? 0 : 1, large = 1 - small;
	char idx_large[4];
	snprintf(idx_large, sizeof idx_large, "%zu", large);
	/* The lock holds against a second session; its id is no handle. */
	ask(p, IPCMSG_OPEN, 11, "bob@localhost", NULL, NULL, IPCMSG_BUSY, NULL);
	ask(p, IPCMSG_READ, 12, "11", "0", "0", IPCMSG_BAD, NULL);

	const struct buf *L = &msg[large].content, *S = &msg[small].content;
	char off[32];
	read_ok(p, 20, small ? "1" : "0", "0", S->data, S->len);
	read_ok(p, 21, idx_large, "0", L->data, IPCMSG_READ_CHUNK);
	snprintf(off, sizeof off, "%d", IPCMSG_READ_CHUNK);
	read_ok(p, 22, idx_large, off, L->data + IPCMSG_READ_CHUNK, L->len - IPCMSG_READ_CHUNK);
	snprintf(off, sizeof off, "%zu", L->len - 1);
	read_ok(p, 23, idx_large, off, L->data + L->len - 1, 1);
	snprintf(off, sizeof off, "%zu", L->len);
	read_ok(p, 24, idx_large, off, NULL, 0);
	read_ok(p, 25, idx_large, "1000000000", NULL, 0);

	static const char *const bad[][3] = {
		{ "10", "2", "0" }, { "10", "-1", "0" }, { "10", "", "0" }, { "10", "0x0", "0" },
		{ "10", "18446744073709551616", "0" }, { "abc", "0", "0" }, { "", "0", "0" },
		{ "999", "0", "0" }, { "4294967306", "0", "0" }, /* 10 + 2^32 */
		{ "+10", "0", "0" }, { "10", "0", "-1" }, { "10", "0", " 0" }, { "10", "0", "1e3" },
		{ "10", "0", "9223372036854775808" }, { "10", "0", "18446744073709551616" },
	};
	uint32_t id = 30;
	for (size_t i = 0; i < LEN(bad); i++)
		ask(p, IPCMSG_READ, id++, bad[i][0], bad[i][1], bad[i][2], IPCMSG_BAD, NULL);
	read_ok(p, id++, small ? "1" : "0", "0", S->data, S->len);

	static const char *const bad_delete[][2] = {
		{ "10", "2" }, { "10", "0 2" }, { "10", "0 x" }, { "10", "-1" }, { "11", "0" },
		{ "x", "0" },
	};
	for (size_t i = 0; i < LEN(bad_delete); i++)
		ask(p, IPCMSG_DELETE, id++, bad_delete[i][0], bad_delete[i][1], NULL, IPCMSG_BAD, NULL);
	assert_int_equal(access(msg[0].path, F_OK), 0);
	assert_int_equal(access(msg[1].path, F_OK), 0);
	ask(p, IPCMSG_DELETE, id++, "10", small ? "1" : "0", NULL, IPCMSG_OK, "");
	assert_int_equal(access(msg[small].path, F_OK), -1);
	assert_int_equal(access(msg[large].path, F_OK), 0);

	ask(p, IPCMSG_CLOSE, id++, "10", NULL, NULL, IPCMSG_OK, "");
	ask(p, IPCMSG_READ, id++, "10", idx_large, "0", IPCMSG_BAD, NULL);
	ask(p, IPCMSG_DELETE, id++, "10", idx_large, NULL, IPCMSG_BAD, NULL);
	ask(p, IPCMSG_CLOSE, id++, "10", NULL, NULL, IPCMSG_BAD, NULL);
	/* The lock went with the CLOSE. */
	buf_clear(&b);
	encode_text(&b, IPCMSG_OPEN, 50, "bob@localhost", NULL, NULL);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	peer_result(p, 50, IPCMSG_OK, &m);
	struct listed again[1];
	assert_int_equal(check_listing(p, m.field[0], again, 1), 1);
	assert_string_equal(again[0].path, msg[large].path);
	ipcmsg_clear(&m);
	buf_release(&again[0].content);
	ask(p, IPCMSG_CLOSE, 51, "50", NULL, NULL, IPCMSG_OK, "");
	buf_release(&msg[0].content);
	buf_release(&msg[1].content);
	assert_int_equal(peer_finish(p), 0);
}

/* An offset that pread(2) cannot take (offset + chunk past INT64_MAX) is
 * the network process's mistake: BAD, or nothing at the end, never a
 * "temporary" failure that reads as a disk problem. */
static void test_store_read_offset_near_int64_max(void **state)
{
	struct peer *p = *state;
	store_start(p);
	deliver(p, 1, "bob@localhost", BODY, strlen(BODY), IPCMSG_OK);
	ask(p, IPCMSG_OPEN, 10, "bob@localhost", NULL, NULL, IPCMSG_OK, NULL);
	struct buf b;
	buf_init(&b, 0);
	encode_text(&b, IPCMSG_READ, 11, "10", "0", "9223372036854775807");
	send_raw(p, b.data, b.len);
	buf_release(&b);
	struct ipcmsg m;
	assert_int_equal(peer_recv(p, &m), 1);
	int status = m.status;
	size_t len = m.len[0];
	ipcmsg_clear(&m);
	assert_true(status == IPCMSG_BAD || (status == IPCMSG_OK && len == 0));
	assert_int_equal(peer_finish(p), 0);
}

/* Many requests in one write: every one is answered once, good or bad. */
static void test_store_pipelined_flood_is_answered(void **state)
{
	struct peer *p = *state;
	store_start(p);
	deliver(p, 1, "bob@localhost", BODY, strlen(BODY), IPCMSG_OK);
	ask(p, IPCMSG_OPEN, 10, "bob@localhost", NULL, NULL, IPCMSG_OK, NULL);
	struct buf b;
	buf_init(&b, 0);
	for (uint32_t i = 0; i < FLOOD; i++)
		encode_text(&b, IPCMSG_READ, 1000 + i, "10", i % 2 ? "9" : "0", "0");
	send_raw(p, b.data, b.len);
	buf_release(&b);
	static bool answered[FLOOD];
	memset(answered, 0, sizeof answered);
	for (size_t n = 0; n < FLOOD; n++) {
		struct ipcmsg m;
		assert_int_equal(peer_recv(p, &m), 1);
		assert_int_equal(m.type, IPCMSG_RESULT);
		assert_true(m.id >= 1000 && m.id < 1000 + FLOOD && !answered[m.id - 1000]);
		answered[m.id - 1000] = true;
		assert_int_equal(m.status, m.id % 2 ? IPCMSG_BAD : IPCMSG_OK);
		ipcmsg_clear(&m);
	}
	ask(p, IPCMSG_CLOSE, 11, "10", NULL, NULL, IPCMSG_OK, "");
	assert_int_equal(peer_finish(p), 0);
}

/* The network process dies with requests queued: the store finishes what
 * it started, takes on nothing new, and leaks nothing on the way out. */
static void test_store_exits_cleanly_with_requests_pending(void **state)
{
	struct peer *p = *state;
	store_start(p);
	deliver(p, 1, "bob@localhost", BODY, strlen(BODY), IPCMSG_OK);
	ask(p, IPCMSG_OPEN, 10, "bob@localhost", NULL, NULL, IPCMSG_OK, NULL);
	struct buf b;
	buf_init(&b, 0);
	for (uint32_t i = 0; i < FLOOD; i++)
		encode_text(&b, IPCMSG_READ, 1000 + i, "10", "0", "0");
	send_raw(p, b.data, b.len);
	buf_release(&b);
	int st = peer_finish(p);
	assert_true(st == 0 || st == 1);
}

static void test_store_protocol_breakers_end_it(void **state)
{
	struct peer *p = *state;
	p->conf.max_message_size = 1024;
	uint32_t max_in = 1024 + (8u << 20);
	struct field open_f[2] = { { "bob@localhost", 13 }, { "x", 1 } };
	struct field nul_f[1] = { { "bob\0@localhost", 14 } };
	struct field one_f[1] = { { "x", 1 } };
	struct buf bad;
	for (unsigned c = 0; c < 15; c++) {
		buf_init(&bad, 0);
		uint8_t head[11] = { 0 };
		switch (c) {
		case 0: raw_frame(&bad, 99, 1, 1, one_f, 1); break;
		case 1: raw_frame(&bad, 0, 1, 0, NULL, 0); break;
		case 2: encode_text(&bad, IPCMSG_PASS, 1, "bob@localhost", "pw", NULL); break;
		case 3: encode_text(&bad, IPCMSG_APOP, 1, "bob", "<1@x>", "00"); break;
		case 4: encode_text(&bad, IPCMSG_REFRESH, 1, NULL, NULL, NULL); break;
		case 5: encode(&bad, IPCMSG_RESULT, 1, one_f, 1); break;
		case 6: encode_text(&bad, IPCMSG_DIRECTORY, 1, "bob@localhost:-\n", "", "x"); break;
		case 7: /* a body longer than a message and its envelope */
			put32(head, max_in + 1);
			assert_true(buf_append(&bad, head, sizeof head));
			break;
		case 8:
			put32(head, UINT32_MAX);
			assert_true(buf_append(&bad, head, sizeof head));
			break;
		case 9: /* shorter than type, id, status and count */
			put32(head, 3);
			assert_true(buf_append(&bad, head, 7));
			break;
		case 10: /* the field claims more than the frame holds */
			raw_frame(&bad, IPCMSG_OPEN, 1, 1, open_f, 1);
			put32(bad.data + 11, 1000);
			break;
		case 11: raw_frame(&bad, IPCMSG_OPEN, 1, 1, open_f, 2); break; /* bytes after */
		case 12: raw_frame(&bad, IPCMSG_OPEN, 1, 2, open_f, 2); break; /* wrong count */
		case 13: raw_frame(&bad, IPCMSG_OPEN, 1, 1, nul_f, 1); break;
		default: raw_frame(&bad, IPCMSG_CLOSE, 1, 1, nul_f, 1); break;
		}
		char what[32];
		snprintf(what, sizeof what, "store breaker %u", c);
		store_start(p);
		ask(p, IPCMSG_CLOSE, 1, "7", NULL, NULL, IPCMSG_BAD, NULL); /* serving */
		expect_break(p, &bad, what);
		buf_release(&bad);
	}
	/* The largest frame it accepts is still a request. */
	store_start(p);
	const char *acct = "bob@localhost";
	size_t blen = max_in - 7 - 12 - strlen(acct) - strlen(HEAD);
	uint8_t *body = malloc(blen);
	assert_non_null(body);
	memset(body, 'a', blen);
	deliver(p, 1, acct, body, blen, IPCMSG_OK);
	free(body);
	the_message(p, "localhost/bob", 1, NULL);
	assert_int_equal(peer_finish(p), 0);
}

static void test_store_eof_exits_zero_and_keeps_deliveries(void **state)
{
	struct peer *p = *state;
	store_start(p);
	assert_int_equal(peer_finish(p), 0);

	store_start(p);
	deliver(p, 1, "bob@localhost", BODY, strlen(BODY), IPCMSG_OK);
	assert_int_equal(peer_finish(p), 0);
	the_message(p, "localhost/bob", 1, NULL);

	/* Closed before the answer, as when the network process dies: the
	 * store may finish the delivery or abandon it (tmp/ leftovers go at
	 * a later start), but it exits, and the acknowledged one stays. */
	store_start(p);
	struct buf b;
	buf_init(&b, 0);
	struct field f[3] = { { "bob@localhost", 13 }, { HEAD, strlen(HEAD) }, { "x\n", 2 } };
	encode(&b, IPCMSG_DELIVER, 2, f, 3);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	int st = peer_finish(p);
	assert_true(st == 0 || st == 1);
	char new_dir[256];
	snprintf(new_dir, sizeof new_dir, "%s/mail/localhost/bob/new", p->data);
	size_t n = count_entries(new_dir, NULL, 0);
	assert_true(n == 1 || n == 2);

	/* A new store process lists what is there. */
	store_start(p);
	struct ipcmsg m;
	buf_init(&b, 0);
	encode_text(&b, IPCMSG_OPEN, 3, "bob@localhost", NULL, NULL);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	peer_result(p, 3, IPCMSG_OK, &m);
	struct listed msg[2] = { 0 };
	assert_int_equal(check_listing(p, m.field[0], msg, 2), n);
	buf_release(&msg[0].content);
	buf_release(&msg[1].content);
	ipcmsg_clear(&m);
	assert_int_equal(peer_finish(p), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, peer_setup, peer_teardown)

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		T(test_store_delivers_one_file_per_maildrop),
		T(test_store_refuses_names_that_are_not_accounts),
		T(test_store_maildrop_open_read_delete_close),
		T(test_store_read_offset_near_int64_max),
		T(test_store_pipelined_flood_is_answered),
		T(test_store_exits_cleanly_with_requests_pending),
		T(test_store_protocol_breakers_end_it),
		T(test_store_eof_exits_zero_and_keeps_deliveries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
