/* Unit tests for src/store: maildir_name (pure) and maildir (on a
 * temporary directory under /tmp). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "store/maildir.h"
#include "store/maildir_name.h"

/* ---- helpers ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *t)
{
	snprintf(t->path, sizeof t->path, "/tmp/facteur-store-XXXXXX");
	assert_non_null(mkdtemp(t->path));
}

static void join(char *out, size_t outsz, const char *a, const char *b)
{
	int n = snprintf(out, outsz, "%s/%s", a, b);
	assert_true(n > 0 && (size_t)n < outsz);
}

static void make_maildir(char *out, size_t outsz, const char *base, const char *name)
{
	char err[256];
	join(out, outsz, base, name);
	assert_int_equal(maildir_ensure(out, err, sizeof err), 0);
}

static void write_file(const char *dir, const char *name, const char *content)
{
	char path[PATH_MAX];
	join(path, sizeof path, dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
	assert_int_equal(fclose(f), 0);
}

/* Names in dir (no dot files), sorted; returns the count. */
static size_t list_dir(const char *dir, char names[][NAME_MAX + 1], size_t max)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_true(n < max);
		snprintf(names[n++], NAME_MAX + 1, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

static size_t count_dir(const char *root, const char *sub)
{
	char path[PATH_MAX];
	char names[16][NAME_MAX + 1];
	join(path, sizeof path, root, sub);
	return list_dir(path, names, 16);
}

static void read_file(const char *path, char *out, size_t outsz, size_t *len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t r = read(fd, out, outsz);
	assert_true(r >= 0);
	*len = (size_t)r;
	close(fd);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- maildir_name ---- */

static void test_name_make_format(void **state)
{
	(void)state;
	char name[256];
	assert_true(maildir_name_make(name, sizeof name, 1700000000, 123456, 42, 7,
				      "mx.example.org", 10, 12));
	assert_string_equal(name, "1700000000.M123456P42Q7.mx.example.org,S=10,W=12");
	assert_true(maildir_name_make(name, sizeof name, 1, 2, 3, 4, "a/b:c,d\\e f", 0, 0));
	assert_string_equal(name, "1.M2P3Q4.a\\057b\\072c\\054d\\134e\\040f,S=0,W=0");
	assert_true(maildir_name_make(name, sizeof name, 1, 2, 3, 4, "", 5, 6));
	assert_string_equal(name, "1.M2P3Q4.localhost,S=5,W=6");
}

static void test_name_make_too_small(void **state)
{
	(void)state;
	char full[256];
	assert_true(maildir_name_make(full, sizeof full, 1700000000, 1, 2, 3, "host", 4, 5));
	size_t need = strlen(full) + 1;
	char small[64];
	for (size_t sz = 1; sz < need; sz++)
		assert_false(maildir_name_make(small, sz, 1700000000, 1, 2, 3, "host", 4, 5));
	assert_true(maildir_name_make(small, need, 1700000000, 1, 2, 3, "host", 4, 5));
	assert_string_equal(small, full);
	/* Escapes that do not fit. */
	assert_false(maildir_name_make(small, 12, 1, 2, 3, 4, "///", 0, 0));
}

static void test_name_sizes(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		bool has_s, has_w;
		uint64_t s, w;
	} cases[] = {
		{ "1.M2P3Q4.h,S=10,W=12", true, true, 10, 12 },
		{ "1.M2P3Q4.h,S=10,W=12:2,S", true, true, 10, 12 },
		{ "1.M2P3Q4.h,W=12,S=10:2,RS", true, true, 10, 12 },
		{ "1.M2P3Q4.h:2,S", false, false, 0, 0 },
		{ "1.M2P3Q4.h", false, false, 0, 0 },
		{ "1.h,S=5", true, false, 5, 0 },
		{ "1.h,W=7:2,", false, true, 0, 7 },
		{ "1.h,S=abc,W=", false, false, 0, 0 },
		{ "1.h,S=-1", false, false, 0, 0 },
		{ "1.h,S=18446744073709551616", false, false, 0, 0 },
		{ "1.h,S=18446744073709551615", true, false, UINT64_MAX, 0 },
		{ "1.h,X=1,S=3", true, false, 3, 0 },
		{ "1.h:2,S=4", false, false, 0, 0 }, /* after ':' is the info part */
		{ "", false, false, 0, 0 },
		{ ",S=1", true, false, 1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t s = 99, w = 99;
		bool hs = true, hw = true;
		maildir_name_sizes(cases[i].name, &s, &hs, &w, &hw);
		assert_int_equal(hs, cases[i].has_s);
		assert_int_equal(hw, cases[i].has_w);
		if (hs)
			assert_true(s == cases[i].s);
		if (hw)
			assert_true(w == cases[i].w);
	}
}

static void test_name_uniq_and_time(void **state)
{
	(void)state;
	assert_int_equal(maildir_name_uniq_len("1.M2P3Q4.h,S=1:2,S"), strlen("1.M2P3Q4.h"));
	assert_int_equal(maildir_name_uniq_len("1.M2P3Q4.h:2,S"), strlen("1.M2P3Q4.h"));
	assert_int_equal(maildir_name_uniq_len("plain"), 5);
	assert_int_equal(maildir_name_uniq_len(""), 0);
	assert_true(maildir_name_time("1700000000.M1P2Q3.h") == 1700000000LL);
	assert_true(maildir_name_time("12") == 12);
	assert_true(maildir_name_time("abc") == 0);
	assert_true(maildir_name_time("") == 0);
	assert_true(maildir_name_time("99999999999999999999999.x") == 0);
	assert_true(maildir_name_time("9223372036854775807.x") == INT64_MAX);
	assert_true(maildir_name_time("9223372036854775808.x") == 0);
}

/* ---- maildir ---- */

static const char msg_a[] = "Subject: hi\n\nline one\r\nline two\n";

static void test_ensure_creates_tree(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], err[256], p[PATH_MAX];
	join(root, sizeof root, t.path, "a/b/c/md");
	assert_int_equal(maildir_ensure(root, err, sizeof err), 0);
	assert_int_equal(maildir_ensure(root, err, sizeof err), 0); /* idempotent */
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < 3; i++) {
		struct stat st;
		join(p, sizeof p, root, subs[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	/* A file in the way is an error. */
	write_file(t.path, "file", "x");
	join(root, sizeof root, t.path, "file/md");
	assert_int_equal(maildir_ensure(root, err, sizeof err), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(maildir_ensure("", err, sizeof err), -1);
	rm_rf(t.path);
}

static void test_account_path(void **state)
{
	(void)state;
	char out[256];
	assert_int_equal(maildir_account_path("/d", "alice@example.org", out, sizeof out), 0);
	assert_string_equal(out, "/d/mail/example.org/alice");
	static const char *const bad[] = {
		"alice", "@x", "a@", "a@b@c", "../x@y", "a/b@c", "a@b/c", ".a@b", "a@.b", "a@..",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(maildir_account_path("/d", bad[i], out, sizeof out), -1);
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(maildir_account_path("/d", "a@b", out, 8), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/* Checks the one file in root/new: content, ",S=", ",W=", mode. Returns
 * its inode. */
static ino_t check_delivered(const char *root, const char *content, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX], names[4][NAME_MAX + 1];
	join(dir, sizeof dir, root, "new");
	assert_int_equal(list_dir(dir, names, 4), 1);
	uint64_t s, w;
	bool hs, hw;
	maildir_name_sizes(names[0], &s, &hs, &w, &hw);
	assert_true(hs && hw);
	assert_true(s == len);
	uint64_t crlf = len;
	for (size_t i = 0; i < len; i++)
		if (content[i] == '\n' && (i == 0 || content[i - 1] != '\r'))
			crlf++;
	if (len > 0 && content[len - 1] != '\n')
		crlf += 2; /* RETR ends the last line */
	assert_true(w == crlf);
	join(path, sizeof path, dir, names[0]);
	char buf[8192];
	size_t got;
	read_file(path, buf, sizeof buf, &got);
	assert_int_equal(got, len);
	assert_memory_equal(buf, content, len);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(count_dir(root, "tmp"), 0);
	assert_int_equal(count_dir(root, "cur"), 0);
	return st.st_ino;
}

static void test_deliver_one(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], err[256];
	make_maildir(root, sizeof root, t.path, "md");
	/* Split in the middle of "\r\n" so W= must carry state across parts. */
	const char *split = strchr(msg_a, '\r') + 1;
	struct iovec iov[3] = {
		{ (void *)msg_a, (size_t)(split - msg_a) },
		{ (void *)"", 0 },
		{ (void *)split, strlen(split) },
	};
	const char *mds[] = { root };
	assert_int_equal(maildir_deliver(mds, 1, iov, 3, err, sizeof err), 0);
	check_delivered(root, msg_a, strlen(msg_a));
	rm_rf(t.path);
}

static void test_deliver_three_share_inode(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char r1[PATH_MAX], r2[PATH_MAX], r3[PATH_MAX], err[256];
	make_maildir(r1, sizeof r1, t.path, "one");
	make_maildir(r2, sizeof r2, t.path, "two");
	make_maildir(r3, sizeof r3, t.path, "three");
	const char body[] = "From: a@b\n\nbare\nlines\n\n.\n";
	struct iovec iov = { (void *)body, strlen(body) };
	const char *mds[] = { r1, r2, r3 };
	assert_int_equal(maildir_deliver(mds, 3, &iov, 1, err, sizeof err), 0);
	ino_t i1 = check_delivered(r1, body, strlen(body));
	ino_t i2 = check_delivered(r2, body, strlen(body));
	ino_t i3 = check_delivered(r3, body, strlen(body));
	/* One write, three hard links. */
	assert_true(i1 == i2 && i2 == i3);
	rm_rf(t.path);
}

static void test_deliver_same_maildir_twice_is_one_copy(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char r1[PATH_MAX], alias[PATH_MAX], err[256];
	make_maildir(r1, sizeof r1, t.path, "one");
	int an = snprintf(alias, sizeof alias, "%s/", r1);
	assert_true(an > 0 && (size_t)an < sizeof alias);
	struct iovec iov = { (void *)msg_a, strlen(msg_a) };
	const char *mds[] = { r1, alias, r1 };
	assert_int_equal(maildir_deliver(mds, 3, &iov, 1, err, sizeof err), 0);
	check_delivered(r1, msg_a, strlen(msg_a));
	rm_rf(t.path);
}

/* link() across file systems fails with EXDEV: the message is copied
 * (through that maildir's tmp/). Skipped when /dev/shm is not a separate
 * file system. */
static void test_deliver_across_file_systems_copies(void **state)
{
	(void)state;
	struct stat a, b;
	if (stat("/tmp", &a) < 0 || stat("/dev/shm", &b) < 0 || a.st_dev == b.st_dev) {
		skip();
		return;
	}
	struct tmpdir t;
	tmpdir_make(&t);
	char other[] = "/dev/shm/facteur-store-XXXXXX";
	if (!mkdtemp(other)) {
		rm_rf(t.path);
		skip();
		return;
	}
	char r1[PATH_MAX], r2[PATH_MAX], r3[PATH_MAX], err[256];
	make_maildir(r1, sizeof r1, t.path, "local");
	make_maildir(r2, sizeof r2, other, "remote");
	make_maildir(r3, sizeof r3, t.path, "local2");
	struct iovec iov = { (void *)msg_a, strlen(msg_a) };
	const char *mds[] = { r1, r2, r3 };
	assert_int_equal(maildir_deliver(mds, 3, &iov, 1, err, sizeof err), 0);
	ino_t i1 = check_delivered(r1, msg_a, strlen(msg_a));
	check_delivered(r2, msg_a, strlen(msg_a)); /* also: its tmp/ is empty */
	ino_t i3 = check_delivered(r3, msg_a, strlen(msg_a));
	assert_true(i1 == i3);

	/* A failure after the copy removes it as well. */
	char missing[PATH_MAX];
	join(missing, sizeof missing, t.path, "nope");
	const char *mds2[] = { r1, r2, missing };
	assert_int_equal(maildir_deliver(mds2, 3, &iov, 1, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_dir(r1, "new"), 1);
	assert_int_equal(count_dir(r2, "new"), 1);
	assert_int_equal(count_dir(r2, "tmp"), 0);
	rm_rf(other);
	rm_rf(t.path);
}

static void test_deliver_failure_leaves_nothing(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char r1[PATH_MAX], r2[PATH_MAX], missing[PATH_MAX], err[256];
	make_maildir(r1, sizeof r1, t.path, "one");
	make_maildir(r2, sizeof r2, t.path, "two");
	join(missing, sizeof missing, t.path, "nope");
	struct iovec iov = { (void *)msg_a, strlen(msg_a) };
	const char *mds[] = { r1, r2, missing };
	err[0] = '\0';
	assert_int_equal(maildir_deliver(mds, 3, &iov, 1, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(count_dir(r1, "new"), 0);
	assert_int_equal(count_dir(r2, "new"), 0);
	assert_int_equal(count_dir(r1, "tmp"), 0);
	/* The first maildir's tmp/ is where the file is written. */
	const char *mds2[] = { missing, r1 };
	assert_int_equal(maildir_deliver(mds2, 2, &iov, 1, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_dir(r1, "new"), 0);
	assert_int_equal(maildir_deliver(mds2, 0, &iov, 1, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	rm_rf(t.path);
}

/* A write error (here EFBIG from RLIMIT_FSIZE, standing in for ENOSPC)
 * reaches the caller as errno, and nothing is left behind. */
static void test_deliver_write_error_keeps_errno(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], err[256];
	make_maildir(root, sizeof root, t.path, "md");
	static char big[8192];
	memset(big, 'x', sizeof big);
	struct iovec iov = { big, sizeof big };
	const char *mds[] = { root };
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 1000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = maildir_deliver(mds, 1, &iov, 1, err, sizeof err);
	int e = errno;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(rc, -1);
	assert_int_equal(e, EFBIG);
	assert_non_null(strstr(err, "write"));
	assert_int_equal(count_dir(root, "tmp"), 0);
	assert_int_equal(count_dir(root, "new"), 0);
	rm_rf(t.path);
}

static void test_deliver_many_parts_and_empty(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], err[256];
	make_maildir(root, sizeof root, t.path, "md");
	/* More parts than IOV_MAX: writev must be called in batches. */
	enum { NPARTS = 2500 };
	static char content[NPARTS];
	static struct iovec iov[NPARTS];
	for (size_t i = 0; i < NPARTS; i++) {
		content[i] = (i % 7 == 6) ? '\n' : (char)('a' + i % 26);
		iov[i].iov_base = &content[i];
		iov[i].iov_len = 1;
	}
	const char *mds[] = { root };
	assert_int_equal(maildir_deliver(mds, 1, iov, NPARTS, err, sizeof err), 0);
	check_delivered(root, content, NPARTS);
	rm_rf(t.path);

	tmpdir_make(&t);
	make_maildir(root, sizeof root, t.path, "md");
	const char *mds2[] = { root };
	assert_int_equal(maildir_deliver(mds2, 1, NULL, 0, err, sizeof err), 0);
	check_delivered(root, "", 0);
	rm_rf(t.path);
}

static void test_scan_order_sizes_uidl(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], err[256], newd[PATH_MAX], curd[PATH_MAX], p[PATH_MAX];
	make_maildir(root, sizeof root, t.path, "md");
	join(newd, sizeof newd, root, "new");
	join(curd, sizeof curd, root, "cur");
	/* Written by other programs: no S=/W=, flags in cur/. */
	write_file(newd, "1000.A.host", "a\nb\r\nc\n");              /* 7 bytes, 9 CRLF */
	write_file(curd, "999.B.host:2,S", "x\r\ny\r\n");            /* 6, 6 */
	write_file(curd, "1000.C.host,S=5,W=6:2,RS", "hello");      /* trusts S=, W= */
	write_file(curd, "1000.D.host,S=3:2,", "\n\n\n");           /* W counted: 6 */
	write_file(newd, "1001.E.host", "no newline");             /* 10, 12 */
	write_file(newd, "1001.F.host", "a\r");                     /* 2, 4 */
	write_file(newd, ".hidden", "x");
	join(p, sizeof p, newd, "1001.dir");
	assert_int_equal(mkdir(p, 0700), 0);
	join(p, sizeof p, curd, "1002.link");
	assert_int_equal(symlink("/etc/passwd", p), 0);
	/* And one of ours, delivered now (sorts last). */
	struct iovec iov = { (void *)msg_a, strlen(msg_a) };
	const char *mds[] = { root };
	assert_int_equal(maildir_deliver(mds, 1, &iov, 1, err, sizeof err), 0);

	struct maildir_msg *m = NULL;
	size_t n = 0;
	assert_int_equal(maildir_scan(root, &m, &n, err, sizeof err), 0);
	assert_int_equal(n, 7);
	assert_string_equal(m[0].path, "cur/999.B.host:2,S");
	assert_string_equal(m[0].uidl, "999.B.host");
	assert_true(m[0].size == 6 && m[0].octets == 6);
	assert_string_equal(m[1].path, "new/1000.A.host");
	assert_string_equal(m[1].uidl, "1000.A.host");
	assert_true(m[1].size == 7 && m[1].octets == 9);
	assert_string_equal(m[2].path, "cur/1000.C.host,S=5,W=6:2,RS");
	assert_string_equal(m[2].uidl, "1000.C.host");
	assert_true(m[2].size == 5 && m[2].octets == 6);
	assert_string_equal(m[3].path, "cur/1000.D.host,S=3:2,");
	assert_string_equal(m[3].uidl, "1000.D.host");
	assert_true(m[3].size == 3 && m[3].octets == 6);
	/* Unterminated last lines count the CRLF that RETR adds. */
	assert_string_equal(m[4].path, "new/1001.E.host");
	assert_true(m[4].size == 10 && m[4].octets == 12);
	assert_string_equal(m[5].path, "new/1001.F.host");
	assert_true(m[5].size == 2 && m[5].octets == 4);
	assert_int_equal(strncmp(m[6].path, "new/", 4), 0);
	assert_true(m[6].size == strlen(msg_a) && m[6].octets == strlen(msg_a) + 3);
	assert_int_equal(strlen(m[6].uidl), maildir_name_uniq_len(m[6].path + 4));

	/* maildir_open reads the listed content. */
	int fd = maildir_open(root, &m[1]);
	assert_true(fd >= 0);
	char buf[32];
	assert_int_equal(read(fd, buf, sizeof buf), 7);
	assert_memory_equal(buf, "a\nb\r\nc\n", 7);
	close(fd);
	maildir_list_free(&m, n);
	assert_null(m);
	rm_rf(t.path);
}

static void test_scan_uidl_fallbacks(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], err[256], newd[PATH_MAX], curd[PATH_MAX];
	make_maildir(root, sizeof root, t.path, "md");
	join(newd, sizeof newd, root, "new");
	join(curd, sizeof curd, root, "cur");
	char longname[128];
	memset(longname, 'x', 80);
	memcpy(longname, "10.", 3);
	longname[80] = '\0';
	write_file(newd, longname, "1");
	write_file(newd, "11.caf\xc3\xa9", "2");    /* not printable ASCII */
	write_file(newd, "12.same", "3");           /* the same unique part twice */
	write_file(curd, "12.same:2,S", "4");

	struct maildir_msg *m = NULL;
	size_t n = 0;
	assert_int_equal(maildir_scan(root, &m, &n, err, sizeof err), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(m[i].uidl);
		assert_true(l >= 1 && l <= 70);
		for (size_t j = 0; j < l; j++)
			assert_true(m[i].uidl[j] >= 0x21 && m[i].uidl[j] <= 0x7e);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(m[i].uidl, m[j].uidl);
	}
	assert_int_equal(strlen(m[0].uidl), 32); /* digest of the long name */
	assert_int_equal(strlen(m[1].uidl), 32); /* digest of the UTF-8 name */
	/* One of the twins keeps its name, the other gets a digest. */
	assert_true(strcmp(m[2].uidl, "12.same") == 0 || strcmp(m[3].uidl, "12.same") == 0);
	maildir_list_free(&m, n);

	/* Stable across scans. */
	struct maildir_msg *m2 = NULL;
	size_t n2 = 0;
	assert_int_equal(maildir_scan(root, &m2, &n2, err, sizeof err), 0);
	assert_int_equal(maildir_scan(root, &m, &n, err, sizeof err), 0);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(m[i].uidl, m2[i].uidl);
	maildir_list_free(&m, n);
	maildir_list_free(&m2, n2);
	rm_rf(t.path);
}

static void test_scan_missing(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], err[256];
	struct maildir_msg *m = (void *)1;
	size_t n = 9;
	join(root, sizeof root, t.path, "none");
	assert_int_equal(maildir_scan(root, &m, &n, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_null(m);
	assert_int_equal(n, 0);
	/* A root without new/ and cur/ is an empty maildrop. */
	assert_int_equal(maildir_scan(t.path, &m, &n, err, sizeof err), 0);
	assert_int_equal(n, 0);
	maildir_list_free(&m, n);
	rm_rf(t.path);
}

static void test_delete(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], err[256];
	make_maildir(root, sizeof root, t.path, "md");
	const char *mds[] = { root };
	for (int i = 0; i < 4; i++) {
		char body[32];
		snprintf(body, sizeof body, "message %d\n", i);
		struct iovec iov = { body, strlen(body) };
		assert_int_equal(maildir_deliver(mds, 1, &iov, 1, err, sizeof err), 0);
	}
	struct maildir_msg *m = NULL;
	size_t n = 0;
	assert_int_equal(maildir_scan(root, &m, &n, err, sizeof err), 0);
	assert_int_equal(n, 4);

	/* Message 3 vanished meanwhile; message 2 was moved to cur/ by
	 * another mail program. Both count as deleted. */
	char from[PATH_MAX], to[PATH_MAX];
	join(from, sizeof from, root, m[3].path);
	assert_int_equal(unlink(from), 0);
	join(from, sizeof from, root, m[2].path);
	int tn = snprintf(to, sizeof to, "%s/cur/%s:2,S", root, m[2].path + 4);
	assert_true(tn > 0 && (size_t)tn < sizeof to);
	assert_int_equal(rename(from, to), 0);

	size_t idx[] = { 0, 2, 3 };
	assert_int_equal(maildir_delete(root, m, idx, 3, err, sizeof err), 0);
	char kept[PATH_MAX];
	snprintf(kept, sizeof kept, "%s", m[1].path);
	maildir_list_free(&m, n);

	assert_int_equal(maildir_scan(root, &m, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].path, kept);
	/* Delivery order survives several messages in one second. */
	int fd = maildir_open(root, &m[0]);
	char buf[32];
	assert_int_equal(read(fd, buf, sizeof buf), 10);
	assert_memory_equal(buf, "message 1\n", 10);
	close(fd);
	assert_int_equal(maildir_delete(root, m, idx, 0, err, sizeof err), 0);

	/* A corrupted path never leaves the maildir. */
	struct maildir_msg evil = { .path = (char *)"new/../../x", .uidl = (char *)"x" };
	size_t zero = 0;
	assert_int_equal(maildir_delete(root, &evil, &zero, 1, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(maildir_open(root, &evil), -1);
	assert_int_equal(errno, EINVAL);
	evil.path = (char *)"tmp/x";
	assert_int_equal(maildir_open(root, &evil), -1);
	maildir_list_free(&m, n);
	rm_rf(t.path);
}

struct deliver_job {
	const char *mds[2];
	int id;
	int failures;
};

static void *deliver_thread(void *arg)
{
	struct deliver_job *j = arg;
	char err[256];
	for (int i = 0; i < 50; i++) {
		char body[64];
		int n = snprintf(body, sizeof body, "thread %d message %d\n", j->id, i);
		struct iovec iov = { body, (size_t)n };
		if (maildir_deliver(j->mds, 2, &iov, 1, err, sizeof err) < 0)
			j->failures++;
	}
	return NULL;
}

/* Worker threads deliver at once: every name is unique (atomic counter),
 * nothing is lost, and the listing sees them all with distinct UIDLs. */
static void test_deliver_concurrent_threads(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char r1[PATH_MAX], r2[PATH_MAX], err[256];
	make_maildir(r1, sizeof r1, t.path, "one");
	make_maildir(r2, sizeof r2, t.path, "two");
	enum { NTHREADS = 8 };
	pthread_t th[NTHREADS];
	struct deliver_job jobs[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		jobs[i] = (struct deliver_job){ { r1, r2 }, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, deliver_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(jobs[i].failures, 0);
	}
	struct maildir_msg *m = NULL;
	size_t n = 0;
	assert_int_equal(maildir_scan(r2, &m, &n, err, sizeof err), 0);
	assert_int_equal(n, NTHREADS * 50);
	char **u = calloc(n, sizeof *u);
	assert_non_null(u);
	for (size_t i = 0; i < n; i++)
		u[i] = m[i].uidl;
	qsort(u, n, sizeof *u, cmp_str);
	for (size_t i = 1; i < n; i++)
		assert_string_not_equal(u[i - 1], u[i]);
	free(u);
	maildir_list_free(&m, n);
	assert_int_equal(count_dir(r1, "tmp"), 0);
	rm_rf(t.path);
}

static void test_lock_conflict(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX];
	make_maildir(root, sizeof root, t.path, "md");
	int a = maildir_lock(root);
	assert_true(a >= 0);
	int b = maildir_lock(root);
	assert_int_equal(b, -1);
	assert_int_equal(errno, EWOULDBLOCK);
	maildir_unlock(a);
	b = maildir_lock(root);
	assert_true(b >= 0);
	maildir_unlock(b);
	/* The lock file is not a message. */
	struct maildir_msg *m = NULL;
	size_t n = 0;
	char err[256];
	assert_int_equal(maildir_scan(root, &m, &n, err, sizeof err), 0);
	assert_int_equal(n, 0);
	maildir_list_free(&m, n);
	char missing[PATH_MAX];
	join(missing, sizeof missing, t.path, "nope");
	assert_int_equal(maildir_lock(missing), -1);
	rm_rf(t.path);
}

static void test_clean_tmp(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	char root[PATH_MAX], tmpd[PATH_MAX], p[PATH_MAX];
	make_maildir(root, sizeof root, t.path, "md");
	join(tmpd, sizeof tmpd, root, "tmp");
	write_file(tmpd, "old1", "x");
	write_file(tmpd, "old2", "y");
	write_file(tmpd, "fresh", "z");
	struct timespec old[2] = { { time(NULL) - 2 * 86400, 0 }, { time(NULL) - 2 * 86400, 0 } };
	join(p, sizeof p, tmpd, "old1");
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	join(p, sizeof p, tmpd, "old2");
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	assert_int_equal(maildir_clean_tmp(root, 36 * 3600), 2);
	assert_int_equal(count_dir(root, "tmp"), 1);
	assert_int_equal(maildir_clean_tmp(root, 36 * 3600), 0);
	join(p, sizeof p, t.path, "nope");
	assert_int_equal(maildir_clean_tmp(p, 1), 0);
	rm_rf(t.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_make_format),
		cmocka_unit_test(test_name_make_too_small),
		cmocka_unit_test(test_name_sizes),
		cmocka_unit_test(test_name_uniq_and_time),
		cmocka_unit_test(test_ensure_creates_tree),
		cmocka_unit_test(test_account_path),
		cmocka_unit_test(test_deliver_one),
		cmocka_unit_test(test_deliver_three_share_inode),
		cmocka_unit_test(test_deliver_same_maildir_twice_is_one_copy),
		cmocka_unit_test(test_deliver_across_file_systems_copies),
		cmocka_unit_test(test_deliver_failure_leaves_nothing),
		cmocka_unit_test(test_deliver_write_error_keeps_errno),
		cmocka_unit_test(test_deliver_many_parts_and_empty),
		cmocka_unit_test(test_scan_order_sizes_uidl),
		cmocka_unit_test(test_scan_uidl_fallbacks),
		cmocka_unit_test(test_scan_missing),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_deliver_concurrent_threads),
		cmocka_unit_test(test_lock_conflict),
		cmocka_unit_test(test_clean_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
