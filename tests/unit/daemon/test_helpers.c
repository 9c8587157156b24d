/* Black-box tests of the two helper processes, the store process
 * (daemon/store_proc.c) and the auth process (daemon/authd.c), driven the
 * way a buggy or taken-over network process could drive them. Their
 * decoder and request handling are the trust boundary, so refusals are
 * checked as closely as answers: what a refused request left on disk,
 * whether the helper keeps serving, and its exit status.
 *
 * Each case forks the helper's main on one end of a socketpair in a fresh
 * data directory under /tmp, writes frames (ipcmsg_encode for requests,
 * bytes by hand for what the encoder refuses to build) and reads the
 * answers with a timeout, so a hang fails the case instead of blocking
 * the suite. Under AddressSanitizer the child runs a leak check before
 * _exit and reports leaks through its exit status; under valgrind the
 * forked child is checked by valgrind itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "conf/conf.h"
#include "daemon/authd.h"
#include "daemon/store_proc.h"
#include "lib/buf.h"
#include "lib/ipcmsg.h"
#include "lib/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define HELPERS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HELPERS_LSAN 1
#endif
#endif
#ifdef HELPERS_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Long enough for crypt(3) and fsync under valgrind; a hang still fails. */
#define WAIT_SEC 30
/* The child's exit status when LeakSanitizer found a leak in it. */
#define LEAK_STATUS 97
/* More requests than either helper keeps in flight (MAX_IN_FLIGHT, 256),
 * so the pause-and-resume of reading is exercised. */
#define FLOOD 600

typedef int helper_main_fn(const struct conf *c, int fd);

struct peer {
	char top[64];         /* mkdtemp; data/ is meant to be all it holds */
	char data[80];        /* the helper's data_dir */
	struct conf conf;
	helper_main_fn *main;
	int fd;               /* our end, -1 when closed */
	pid_t pid;            /* the helper, -1 once reaped */
	struct buf in;        /* received, not yet decoded */
	struct buf seen;      /* every byte the helper sent: no secret may be in it */
	struct buf names;     /* the last DIRECTORY's account names */
	unsigned directories; /* DIRECTORY frames received */
	char *hash[2];        /* auth cases: bob's and carol's passwd hashes */
};

struct field {
	const void *p;
	size_t len;
};

/* ---- files ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

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

static void pathf(char *out, size_t outsz, const char *a, const char *b)
{
	int n = snprintf(out, outsz, "%s/%s", a, b);
	assert_true(n > 0 && (size_t)n < outsz);
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

/* ---- the helper process ---- */

static int setup(void **state)
{
	struct peer *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	*state = p;
	p->fd = -1;
	p->pid = -1;
	snprintf(p->top, sizeof p->top, "/tmp/facteur-helpers-XXXXXX");
	if (!mkdtemp(p->top))
		return -1;
	snprintf(p->data, sizeof p->data, "%s/data", p->top);
	if (mkdir(p->data, 0700) < 0 || conf_defaults(&p->conf) < 0)
		return -1;
	free(p->conf.data_dir);
	p->conf.data_dir = strdup(p->data);
	p->conf.sandbox = false; /* these cases are about the protocol */
	p->conf.workers = 2;
	buf_init(&p->in, 0);
	buf_init(&p->seen, 0);
	buf_init(&p->names, 0);
	return p->conf.data_dir ? 0 : -1;
}

static int teardown(void **state)
{
	struct peer *p = *state;
	if (p->fd >= 0)
		close(p->fd);
	if (p->pid > 0) { /* a failed case: the helper may still run */
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	nftw(p->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	conf_free(&p->conf);
	buf_release(&p->in);
	buf_release(&p->seen);
	buf_release(&p->names);
	free(p->hash[0]);
	free(p->hash[1]);
	free(p);
	return 0;
}

/* The child leaves with _exit, which skips LeakSanitizer's pass at exit:
 * ask for it here and make a leak the exit status. */
static int child_status(int status)
{
#ifdef HELPERS_LSAN
	if (__lsan_do_recoverable_leak_check())
		return LEAK_STATUS;
#endif
	return status;
}

static void peer_start(struct peer *p, helper_main_fn *fn)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	buf_clear(&p->in);
	p->main = fn;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* As "facteur serve" leaves it for its helpers: a write to a
		 * closed socket is an error, not a signal. */
		signal(SIGPIPE, SIG_IGN);
		close(sv[0]);
		/* _exit: no stdio buffer or handler of the parent runs twice. */
		_exit(child_status(fn(&p->conf, sv[1])));
	}
	close(sv[1]);
	p->fd = sv[0];
	p->pid = pid;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Closes our end and returns the helper's exit status, 128 + signal if
 * one killed it. A helper still running after WAIT_SEC fails the case. */
static int peer_finish(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm; /* no SA_RESTART: waitpid returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	alarm(WAIT_SEC);
	int st = 0;
	pid_t r = waitpid(p->pid, &st, 0);
	alarm(0);
	if (r != p->pid)
		fail_msg("the helper did not exit within %d s", WAIT_SEC);
	p->pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void send_raw(struct peer *p, const void *data, size_t len)
{
	const uint8_t *q = data;
	while (len) {
		ssize_t w = send(p->fd, q, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		assert_true(w > 0);
		q += w;
		len -= (size_t)w;
	}
}

static void encode(struct buf *b, uint8_t type, uint32_t id, const struct field *f, size_t n)
{
	struct ipcmsg m = { .type = type, .id = id, .nfields = (uint8_t)n };
	for (size_t i = 0; i < n; i++) {
		m.field[i] = (char *)(f[i].len ? f[i].p : "");
		m.len[i] = f[i].len;
	}
	assert_true(ipcmsg_encode(b, &m));
}

/* Appends a request whose fields are the non-NULL texts among f0..f2. */
static void encode_text(struct buf *b, uint8_t type, uint32_t id, const char *f0, const char *f1,
			const char *f2)
{
	const char *t[3] = { f0, f1, f2 };
	struct field f[3];
	size_t n = 0;
	while (n < 3 && t[n]) {
		f[n] = (struct field){ t[n], strlen(t[n]) };
		n++;
	}
	encode(b, type, id, f, n);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Appends a frame built by hand (for what ipcmsg_encode will not build):
 * count is the field count it claims, f[0..n) the fields it carries. */
static void raw_frame(struct buf *b, uint8_t type, uint32_t id, uint8_t count,
		      const struct field *f, size_t n)
{
	size_t body = 7;
	for (size_t i = 0; i < n; i++)
		body += 4 + f[i].len;
	uint8_t head[11];
	put32(head, (uint32_t)body);
	head[4] = type;
	put32(head + 5, id);
	head[9] = 0;
	head[10] = count;
	assert_true(buf_append(b, head, sizeof head));
	for (size_t i = 0; i < n; i++) {
		uint8_t len[4];
		put32(len, (uint32_t)f[i].len);
		assert_true(buf_append(b, len, sizeof len) && buf_append(b, f[i].p, f[i].len));
	}
}

static void note_directory(struct peer *p, const struct ipcmsg *m)
{
	p->directories++;
	buf_clear(&p->names);
	assert_true(buf_append(&p->names, m->field[0], m->len[0]));
	buf_cstr(&p->names);
}

/* The next frame: 1 (m owns its fields), or 0 when the helper closed the
 * socket between frames. A timeout or bytes that are no frame fail. */
static int peer_recv(struct peer *p, struct ipcmsg *m)
{
	memset(m, 0, sizeof *m);
	for (;;) {
		size_t used = 0;
		int r = p->in.len ? ipcmsg_decode(p->in.data, p->in.len, IPCMSG_MAX_DIRECTORY, m, &used)
				  : 0;
		assert_int_not_equal(r, -1);
		if (r == 1) {
			buf_consume(&p->in, used);
			return 1;
		}
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		int n = poll(&pfd, 1, WAIT_SEC * 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			fail_msg("no frame from the helper within %d s", WAIT_SEC);
		uint8_t chunk[16384];
		ssize_t got = read(p->fd, chunk, sizeof chunk);
		if (got < 0 && errno == EINTR)
			continue;
		/* ECONNRESET: it closed with a request of ours unread. */
		if (got == 0 || (got < 0 && errno == ECONNRESET)) {
			assert_int_equal(p->in.len, 0);
			return 0;
		}
		assert_true(got > 0);
		assert_true(buf_append(&p->in, chunk, (size_t)got) &&
			    buf_append(&p->seen, chunk, (size_t)got));
	}
}

/* Reads up to the next RESULT, which must answer id with status; m keeps
 * it (the caller clears it). DIRECTORY frames on the way are noted: the
 * auth process publishes one whenever its files change. */
static void peer_result(struct peer *p, uint32_t id, int status, struct ipcmsg *m)
{
	for (;;) {
		assert_int_equal(peer_recv(p, m), 1);
		if (m->type != IPCMSG_DIRECTORY || p->main != authd_main)
			break;
		note_directory(p, m);
		ipcmsg_clear(m);
	}
	assert_int_equal(m->type, IPCMSG_RESULT);
	assert_int_equal(m->id, id);
	assert_int_equal(m->status, status);
	assert_int_equal(m->nfields, 1);
}

/* Sends a text request and checks the answer's status and, unless NULL,
 * its field. */
static void ask(struct peer *p, uint8_t type, uint32_t id, const char *f0, const char *f1,
		const char *f2, int status, const char *answer)
{
	struct buf b;
	buf_init(&b, 0);
	encode_text(&b, type, id, f0, f1, f2);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	struct ipcmsg m;
	peer_result(p, id, status, &m);
	if (answer)
		assert_string_equal(m.field[0], answer);
	ipcmsg_clear(&m);
}

/* Sends bytes that break the protocol, then a good request in the same
 * write: the helper must answer nothing more and exit with status 1. */
static void expect_break(struct peer *p, const struct buf *bad, const char *what)
{
	struct buf b;
	buf_init(&b, 0);
	assert_true(buf_append(&b, bad->data, bad->len));
	if (p->main == authd_main)
		encode_text(&b, IPCMSG_REFRESH, 99, NULL, NULL, NULL);
	else
		encode_text(&b, IPCMSG_CLOSE, 99, "1", NULL, NULL);
	send_raw(p, b.data, b.len);
	buf_release(&b);
	struct ipcmsg m;
	if (peer_recv(p, &m) != 0) {
		ipcmsg_clear(&m);
		fail_msg("%s: the helper answered after it", what);
	}
	int st = peer_finish(p);
	if (st != 1)
		fail_msg("%s: exit status %d, not 1", what, st);
}

/* ---- store process ---- */

/* Starts the store process, which says "ready" (a RESULT with id 0, which
 * no request has) once it has cleaned up and can serve. */
static void store_start(struct peer *p)
{
	peer_start(p, store_proc_main);
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

/* ---- auth process ---- */

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
	peer_start(p, authd_main);
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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

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
