/* The harness of the helper-process tests: see helper_peer.h. */
#include "helper_peer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void pathf(char *out, size_t outsz, const char *a, const char *b)
{
	int n = snprintf(out, outsz, "%s/%s", a, b);
	assert_true(n > 0 && (size_t)n < outsz);
}

int peer_setup(void **state)
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

int peer_teardown(void **state)
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

void peer_start(struct peer *p, enum helper_kind kind, helper_main_fn *fn)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	buf_clear(&p->in);
	p->kind = kind;
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

int peer_finish(struct peer *p)
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

void send_raw(struct peer *p, const void *data, size_t len)
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

void encode(struct buf *b, uint8_t type, uint32_t id, const struct field *f, size_t n)
{
	struct ipcmsg m = { .type = type, .id = id, .nfields = (uint8_t)n };
	for (size_t i = 0; i < n; i++) {
		m.field[i] = (char *)(f[i].len ? f[i].p : "");
		m.len[i] = f[i].len;
	}
	assert_true(ipcmsg_encode(b, &m));
}

void encode_text(struct buf *b, uint8_t type, uint32_t id, const char *f0, const char *f1,
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

void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void raw_frame(struct buf *b, uint8_t type, uint32_t id, uint8_t count, const struct field *f,
	       size_t n)
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

void note_directory(struct peer *p, const struct ipcmsg *m)
{
	p->directories++;
	buf_clear(&p->names);
	assert_true(buf_append(&p->names, m->field[0], m->len[0]));
	buf_cstr(&p->names);
}

int peer_recv(struct peer *p, struct ipcmsg *m)
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

void peer_result(struct peer *p, uint32_t id, int status, struct ipcmsg *m)
{
	for (;;) {
		assert_int_equal(peer_recv(p, m), 1);
		if (m->type != IPCMSG_DIRECTORY || p->kind != HELPER_AUTH)
			break;
		note_directory(p, m);
		ipcmsg_clear(m);
	}
	assert_int_equal(m->type, IPCMSG_RESULT);
	assert_int_equal(m->id, id);
	assert_int_equal(m->status, status);
	assert_int_equal(m->nfields, 1);
}

void ask(struct peer *p, uint8_t type, uint32_t id, const char *f0, const char *f1,
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

void expect_break(struct peer *p, const struct buf *bad, const char *what)
{
	struct buf b;
	buf_init(&b, 0);
	assert_true(buf_append(&b, bad->data, bad->len));
	if (p->kind == HELPER_AUTH)
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
