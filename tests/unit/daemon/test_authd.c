/* Black-box tests of the auth process (daemon/authd.c), driven the way a
 * buggy or taken-over network process could drive it, through the
 * harness in helper_peer.h. Its decoder and request handling are the
 * trust boundary, so refusals are checked as closely as answers: whether
 * the auth process keeps serving, its exit status, and that nothing it
 * sent holds a password, hash or secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <crypt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "daemon/authd.h"
#include "helper_peer.h"
#include "lib/buf.h"
#include "lib/ipcmsg.h"
#include "lib/log.h"

/* Replaced by rename: a new inode, so the auth process sees the change
 * even within the same second and at the same size. */
static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256], tmp[260];
	pathf(path, sizeof path, dir, name);
	snprintf(tmp, sizeof tmp, "%s~", path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static const char *const PASSWORD[2] = { "pw-bob-1", "pw-carol-2" };
static const char APOP_SECRET[] = "apop-secret-bob";
static const char STAMP[] = "<1896.697170952@localhost>";

/* sha512-crypt with few rounds: valgrind runs hundreds of these. */
static char *hash_of(const char *password)
{
	struct crypt_data *cd = calloc(1, sizeof *cd);
	assert_non_null(cd);
	const char *h = crypt_r(password, "$6$rounds=1000$facteurtest$", cd);
	assert_true(h && h[0] == '$');
	char *copy = strdup(h);
	free(cd);
	assert_non_null(copy);
	return copy;
}

static void write_passwd(struct peer *p, const char *extra)
{
	char text[1024];
	snprintf(text, sizeof text, "bob@localhost:%s\ncarol@localhost:%s\n%s", p->hash[0],
		 p->hash[1], extra);
	write_file(p->data, "passwd", text);
}

/* Writes the account files, starts the auth process and checks its first
 * frame: the directory, names only. */
static void auth_start(struct peer *p)
{
	for (int i = 0; i < 2; i++)
		if (!p->hash[i])
			p->hash[i] = hash_of(PASSWORD[i]);
	write_passwd(p, "");
	write_file(p->data, "apop", "bob@localhost:apop-secret-bob\n");
	peer_start(p, HELPER_AUTH, authd_main);
	struct ipcmsg m;
	assert_int_equal(peer_recv(p, &m), 1);
	assert_int_equal(m.type, IPCMSG_DIRECTORY);
	assert_int_equal(m.nfields, 3);
	assert_string_equal(m.field[0], "bob@localhost:-\ncarol@localhost:-\n");
	char aliases[128];
	pathf(aliases, sizeof aliases, p->data, "aliases");
	assert_string_equal(m.field[2], aliases);
	note_directory(p, &m);
	ipcmsg_clear(&m);
}

/* Nothing the auth process sent may hold a hash, a password or a secret. */
static void assert_no_secrets(const struct peer *p)
{
	const char *secrets[] = { p->hash[0], p->hash[1], PASSWORD[0], PASSWORD[1], APOP_SECRET,
				  "$6$" };
	for (size_t i = 0; i < LEN(secrets); i++)
		if (p->seen.len && memmem(p->seen.data, p->seen.len, secrets[i], strlen(secrets[i])))
			fail_msg("the auth process sent \"%s\"", secrets[i]);
}

static void test_auth_publishes_names_only(void **state)
{
	struct peer *p = *state;
	auth_start(p);
	ask(p, IPCMSG_PASS, 1, "bob@localhost", PASSWORD[0], NULL, IPCMSG_OK, "bob@localhost");
	ask(p, IPCMSG_PASS, 2, "bob@localhost", PASSWORD[1], NULL, IPCMSG_BAD, "");
	/* Nothing changed: no new directory before the answer. */
	ask(p, IPCMSG_REFRESH, 3, NULL, NULL, NULL, IPCMSG_OK, "");
	assert_int_equal(p->directories, 1);
	assert_int_equal(peer_finish(p), 0);
	assert_no_secrets(p);
}

static void test_auth_pass(void **state)
{
	struct peer *p = *state;
	static const struct {
		const char *login;
		int pw;             /* index in PASSWORD, -1 for "wrong", -2 for "" */
		const char *name;   /* NULL: BAD */
	} cases[] = {
		{ "bob@localhost", 0, "bob@localhost" },
		{ "BOB@LocalHost", 0, "bob@localhost" },
		{ "bob", 0, "bob@localhost" },
		{ "carol", 1, "carol@localhost" },
		{ "bob@localhost", -1, NULL },
		{ "bob@localhost", -2, NULL },
		{ "bob@localhost", 1, NULL },
		{ "bob", 1, NULL },
		{ "nobody@localhost", 0, NULL },
		{ "nobody", 0, NULL },
		{ "", 0, NULL },
		{ "bob@localhost\n", 0, NULL },
		{ "bob@other.test", 0, NULL },
	};
	auth_start(p);
	for (size_t i = 0; i < LEN(cases); i++) {
		const char *pw = cases[i].pw >= 0 ? PASSWORD[cases[i].pw]
				 : cases[i].pw == -1 ? "wrong" : "";
		ask(p, IPCMSG_PASS, (uint32_t)i + 1, cases[i].login, pw, NULL,
		    cases[i].name ? IPCMSG_OK : IPCMSG_BAD, cases[i].name ? cases[i].name : "");
	}
	assert_int_equal(peer_finish(p), 0);
	assert_no_secrets(p);
}

static void md5_hex(const char *a, const char *b, char out[33])
{
	char in[256];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	int n = snprintf(in, sizeof in, "%s%s", a, b);
	assert_true(n > 0 && (size_t)n < sizeof in);
	assert_int_equal(EVP_Digest(in, (size_t)n, md, &len, EVP_md5(), NULL), 1);
	assert_int_equal(len, 16);
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_auth_apop(void **state)
{
	struct peer *p = *state;
	char good[33], upper[33], wrong[33], other[33], no_secret[33], of_hash[33];
	md5_hex(STAMP, APOP_SECRET, good);
	for (int i = 0; i < 33; i++)
		upper[i] = (char)(good[i] >= 'a' && good[i] <= 'f' ? good[i] - 32 : good[i]);
	memcpy(wrong, good, sizeof wrong);
	wrong[31] = wrong[31] == '0' ? '1' : '0';
	md5_hex("<1@localhost>", APOP_SECRET, other);
	md5_hex(STAMP, "", no_secret);
	auth_start(p);
	md5_hex(STAMP, p->hash[1], of_hash);
	const struct {
		const char *login, *digest;
		bool ok;
	} cases[] = {
		{ "bob@localhost", good, true },
		{ "bob", upper, true },
		{ "bob@localhost", wrong, false },
		{ "bob@localhost", other, false },
		{ "bob@localhost", "", false },
		{ "bob@localhost", "0123456789abcdef0123456789abcde", false },
		{ "bob@localhost", "zz23456789abcdef0123456789abcdef", false },
		{ "nobody@localhost", good, false },
		/* carol has a password and no APOP secret */
		{ "carol@localhost", no_secret, false },
		{ "carol@localhost", of_hash, false },
	};
	for (size_t i = 0; i < LEN(cases); i++)
		ask(p, IPCMSG_APOP, (uint32_t)i + 1, cases[i].login, STAMP, cases[i].digest,
		    cases[i].ok ? IPCMSG_OK : IPCMSG_BAD, cases[i].ok ? "bob@localhost" : "");
	/* The digest is for this timestamp only. */
	ask(p, IPCMSG_APOP, 50, "bob@localhost", "<1@localhost>", good, IPCMSG_BAD, "");
	assert_int_equal(peer_finish(p), 0);
	assert_no_secrets(p);
}

static void test_auth_refresh_publishes_before_answering(void **state)
{
	struct peer *p = *state;
	auth_start(p);
	char line[512];
	snprintf(line, sizeof line, "dave@other.test:%s\nbob@other.test:%s\n", p->hash[1],
		 p->hash[1]);
	write_passwd(p, line);
	ask(p, IPCMSG_REFRESH, 1, NULL, NULL, NULL, IPCMSG_OK, "");
	assert_true(p->directories >= 2);
	assert_string_equal(buf_cstr(&p->names), "bob@localhost:-\nbob@other.test:-\n"
						 "carol@localhost:-\ndave@other.test:-\n");
	ask(p, IPCMSG_PASS, 2, "dave@other.test", PASSWORD[1], NULL, IPCMSG_OK, "dave@other.test");
	/* "bob" now names two accounts. */
	ask(p, IPCMSG_PASS, 3, "bob", PASSWORD[0], NULL, IPCMSG_BAD, "");
	ask(p, IPCMSG_PASS, 4, "bob@localhost", PASSWORD[0], NULL, IPCMSG_OK, "bob@localhost");

	/* A passwd file that does not parse changes nothing. */
	unsigned before = p->directories;
	write_file(p->data, "passwd", "this is not a passwd line\n");
	ask(p, IPCMSG_REFRESH, 5, NULL, NULL, NULL, IPCMSG_OK, "");
	assert_int_equal(p->directories, before);
	ask(p, IPCMSG_PASS, 6, "dave@other.test", PASSWORD[1], NULL, IPCMSG_OK, "dave@other.test");
	assert_int_equal(peer_finish(p), 0);
	assert_no_secrets(p);
}

/* Many logins in one write: each is answered once. */
static void test_auth_pipelined_flood_is_answered(void **state)
{
	struct peer *p = *state;
	auth_start(p);
	struct buf b;
	buf_init(&b, 0);
	for (uint32_t i = 0; i < FLOOD / 2; i++)
		encode_text(&b, IPCMSG_PASS, 1000 + i, "bob@localhost", PASSWORD[i % 2], NULL);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	static bool answered[FLOOD / 2];
	memset(answered, 0, sizeof answered);
	for (size_t n = 0; n < FLOOD / 2; n++) {
		struct ipcmsg m;
		assert_int_equal(peer_recv(p, &m), 1);
		assert_int_equal(m.type, IPCMSG_RESULT);
		assert_true(m.id >= 1000 && m.id < 1000 + FLOOD / 2 && !answered[m.id - 1000]);
		answered[m.id - 1000] = true;
		assert_int_equal(m.status, m.id % 2 ? IPCMSG_BAD : IPCMSG_OK);
		ipcmsg_clear(&m);
	}
	assert_int_equal(peer_finish(p), 0);
	assert_no_secrets(p);
}

/* Only LeakSanitizer in the child (the clang build) sees the leak. */
static void test_auth_exits_cleanly_with_requests_pending(void **state)
{
	struct peer *p = *state;
	auth_start(p);
	struct buf b;
	buf_init(&b, 0);
	/* Far more than one batch of finished jobs takes off the queue, so
	 * the socket error comes with 256 in flight and more waiting. */
	for (uint32_t i = 0; i < 2000; i++)
		encode_text(&b, IPCMSG_PASS, 1000 + i, "bob@localhost", PASSWORD[0], NULL);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	int st = peer_finish(p);
	assert_true(st == 0 || st == 1);
}

static void test_auth_protocol_breakers_end_it(void **state)
{
	struct peer *p = *state;
	/* A PASS exactly at the limit is a request; one byte more is not. */
	char login[IPCMSG_MAX_REQUEST];
	size_t at_limit = IPCMSG_MAX_REQUEST - 7 - 8 - 2;
	memset(login, 'a', sizeof login);
	struct field big[2] = { { login, at_limit }, { "pw", 2 } };
	struct field over[2] = { { login, at_limit + 1 }, { "pw", 2 } };
	struct field nul_pw[2] = { { "bob@localhost", 13 }, { "p\0w", 3 } };
	struct field one_f[1] = { { "x", 1 } };
	struct buf bad;
	for (unsigned c = 0; c < 10; c++) {
		buf_init(&bad, 0);
		uint8_t head[11] = { 0 };
		switch (c) {
		case 0: raw_frame(&bad, 99, 1, 1, one_f, 1); break;
		case 1: encode(&bad, IPCMSG_RESULT, 1, one_f, 1); break;
		case 2: encode_text(&bad, IPCMSG_DIRECTORY, 1, "evil@localhost:-\n", "", "x"); break;
		case 3: raw_frame(&bad, IPCMSG_PASS, 1, 2, over, 2); break;
		case 4:
			put32(head, UINT32_MAX);
			assert_true(buf_append(&bad, head, sizeof head));
			break;
		case 5: raw_frame(&bad, IPCMSG_PASS, 1, 2, nul_pw, 2); break;
		case 6: raw_frame(&bad, IPCMSG_PASS, 1, 1, nul_pw, 1); break; /* wrong count */
		case 7: raw_frame(&bad, IPCMSG_REFRESH, 1, 0, one_f, 1); break; /* bytes after */
		case 8: /* the field claims more than the frame holds */
			raw_frame(&bad, IPCMSG_PASS, 1, 2, nul_pw, 2);
			put32(bad.data + 11, 100);
			break;
		default:
			put32(head, 3);
			assert_true(buf_append(&bad, head, 7));
			break;
		}
		char what[32];
		snprintf(what, sizeof what, "auth breaker %u", c);
		auth_start(p);
		ask(p, IPCMSG_REFRESH, 1, NULL, NULL, NULL, IPCMSG_OK, ""); /* serving */
		expect_break(p, &bad, what);
		buf_release(&bad);
		assert_no_secrets(p);
	}
	auth_start(p);
	buf_init(&bad, 0);
	raw_frame(&bad, IPCMSG_PASS, 1, 2, big, 2);
	send_raw(p, bad.data, bad.len);
	buf_release(&bad);
	struct ipcmsg m;
	peer_result(p, 1, IPCMSG_BAD, &m);
	ipcmsg_clear(&m);
	assert_int_equal(peer_finish(p), 0);
}

/* The store's requests are not the auth process's: sent there, they
 * mean the network process is broken, as a RESULT would. */
static void test_auth_refuses_store_requests(void **state)
{
	struct peer *p = *state;
	static const uint8_t types[] = { IPCMSG_DELIVER, IPCMSG_OPEN, IPCMSG_READ, IPCMSG_DELETE,
					 IPCMSG_CLOSE };
	/* Shaped like logins, so that a PASS handler would take them. */
	struct field f[3] = { { "bob@localhost", 13 }, { PASSWORD[0], strlen(PASSWORD[0]) },
			      { "0", 1 } };
	static const size_t nf[] = { 3, 1, 3, 2, 1 };
	for (size_t i = 0; i < LEN(types); i++) {
		struct buf bad;
		buf_init(&bad, 0);
		encode(&bad, types[i], 1, f, nf[i]);
		auth_start(p);
		send_raw(p, bad.data, bad.len);
		buf_release(&bad);
		struct ipcmsg m;
		if (peer_recv(p, &m) != 0) {
			ipcmsg_clear(&m);
			fail_msg("the auth process answered a request of type %u", types[i]);
		}
		assert_int_equal(peer_finish(p), 1);
	}
}

static void test_auth_eof_exits_zero(void **state)
{
	struct peer *p = *state;
	auth_start(p);
	assert_int_equal(peer_finish(p), 0);
	assert_no_secrets(p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, peer_setup, peer_teardown)

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		T(test_auth_publishes_names_only),
		T(test_auth_pass),
		T(test_auth_apop),
		T(test_auth_refresh_publishes_before_answering),
		T(test_auth_pipelined_flood_is_answered),
		T(test_auth_exits_cleanly_with_requests_pending),
		T(test_auth_protocol_breakers_end_it),
		T(test_auth_refuses_store_requests),
		T(test_auth_eof_exits_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
