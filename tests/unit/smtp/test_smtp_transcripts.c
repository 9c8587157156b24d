/* Plays every SMTP session file (*.txt) in the directory given as argv[1]
 * (tests/transcripts/smtp) against the pure SMTP core; the format is in
 * tests/transcripts/README.md. Each file runs whole, one byte at a time
 * and in random splits.
 *
 * A comment line "# cfg: NAME[, NAME]" names configuration variants, as
 * for play_daemon.py. Known here: "auth-plaintext", AUTH offered and
 * allowed without TLS (auth_offered, auth_plaintext_ok), as on loopback in
 * the daemon's test configuration; any other name fails the file. Such
 * files use HELO, whose reply does not depend on the EHLO keyword list. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "proto/smtp_server.h"
#include "smtp_harness.h"

static const char *dir;

struct player {
	struct harness h;
	enum harness_split split;
	struct buf send;   /* the pending client bytes */
	size_t rpos;       /* replies read so far (offset in h.replies) */
	const char *file;
	size_t lineno;
	bool failed;
};

static void pfail(struct player *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void pfail(struct player *p, const char *fmt, ...)
{
	static const char *const names[] = {"whole", "bytes", "random"};
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	print_error("%s:%zu (%s): %s\n", p->file, p->lineno, names[p->split], msg);
	p->failed = true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the escapes of an R: line into p->send. */
static bool append_raw(struct player *p, const char *t)
{
	for (size_t i = 0; t[i]; i++) {
		if (t[i] != '\\') {
			buf_append_byte(&p->send, (uint8_t)t[i]);
			continue;
		}
		char e = t[++i];
		uint8_t b;
		switch (e) {
		case 'r': b = '\r'; break;
		case 'n': b = '\n'; break;
		case 't': b = '\t'; break;
		case '0': b = '\0'; break;
		case '\\': b = '\\'; break;
		case 'x': {
			int hi = t[i + 1] ? hexval(t[i + 1]) : -1;
			int lo = hi >= 0 && t[i + 2] ? hexval(t[i + 2]) : -1;
			if (lo < 0)
				return false;
			b = (uint8_t)(hi * 16 + lo);
			i += 2;
			break;
		}
		default:
			return false;
		}
		buf_append_byte(&p->send, b);
	}
	return true;
}

static void flush(struct player *p)
{
	if (p->send.len == 0)
		return;
	harness_feed(&p->h, p->send.data, p->send.len, p->split);
	buf_clear(&p->send);
}

/* The next unread reply line without its CRLF, or NULL. */
static const char *next_line(struct player *p, size_t *len)
{
	const struct buf *r = &p->h.replies;
	if (p->rpos >= r->len)
		return NULL;
	const char *s = (const char *)r->data + p->rpos;
	const char *lf = memchr(s, '\n', r->len - p->rpos);
	if (!lf)
		return NULL;
	size_t n = (size_t)(lf - s) + 1;
	p->rpos += n;
	*len = n >= 2 && s[n - 2] == '\r' ? n - 2 : n;
	return s;
}

static void expect_line(struct player *p, const char *want)
{
	flush(p);
	size_t len;
	const char *got = next_line(p, &len);
	if (!got) {
		pfail(p, "expected \"%s\", got nothing%s", want,
			p->h.saw_close ? " (closed)" : "");
		return;
	}
	size_t wl = strlen(want);
	bool prefix = wl > 0 && want[wl - 1] == '*';
	if (prefix)
		wl--;
	if (prefix ? (len < wl || memcmp(got, want, wl) != 0)
		   : (len != wl || memcmp(got, want, wl) != 0))
		pfail(p, "expected \"%s\", got \"%.*s\"", want, (int)len, got);
}

static void play(struct player *p, char *text)
{
	char *save = NULL;
	p->lineno = 0;
	for (char *line = text; line && !p->failed; line = save) {
		char *lf = strchr(line, '\n');
		save = lf ? lf + 1 : NULL;
		if (lf)
			*lf = '\0';
		p->lineno++;
		size_t n = strlen(line);
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		if (n == 0 && !save)
			break;
		if (n == 0 || line[0] == '#')
			continue;
		if (strcmp(line, "CLOSED") == 0) {
			flush(p);
			size_t len;
			const char *extra = next_line(p, &len);
			if (extra)
				pfail(p, "expected close, got \"%.*s\"", (int)len, extra);
			else if (!p->h.saw_close)
				pfail(p, "expected close, the session is open");
			continue;
		}
		if (n < 2 || line[1] != ':' || (n > 2 && line[2] != ' ')) {
			pfail(p, "invalid line \"%s\"", line);
			return;
		}
		const char *arg = n > 2 ? line + 3 : "";
		switch (line[0]) {
		case 'C':
			buf_append_str(&p->send, arg);
			buf_append_str(&p->send, "\r\n");
			break;
		case 'R':
			if (!append_raw(p, arg))
				pfail(p, "bad escape in \"%s\"", line);
			break;
		case 'S':
			expect_line(p, arg);
			break;
		default:
			pfail(p, "invalid line \"%s\"", line);
			return;
		}
	}
	if (p->failed)
		return;
	p->lineno++;
	flush(p);
	size_t len;
	const char *extra = next_line(p, &len);
	if (extra)
		pfail(p, "end of file, but the server said \"%.*s\"", (int)len,
			extra);
	if (p->h.output_after_close)
		pfail(p, "output after CLOSE");
}

/* Applies "# cfg: name, name" comment lines to cfg (play_daemon.py reads
 * the same lines). Returns false for an unknown name. */
static bool file_cfg(const char *text, struct smtp_server_cfg *cfg)
{
	static const char tag[] = "# cfg:";
	const char *l = text;
	while (l && *l) {
		size_t n = strcspn(l, "\r\n");
		size_t i = sizeof tag - 1;
		if (n >= i && memcmp(l, tag, i) == 0) {
			while (i < n) {
				while (i < n && (l[i] == ' ' || l[i] == ','))
					i++;
				size_t w = i;
				while (i < n && l[i] != ',' && l[i] != ' ')
					i++;
				if (i == w)
					break;
				if (i - w == 14 && memcmp(l + w, "auth-plaintext", 14) == 0) {
					cfg->auth_offered = true;
					cfg->auth_plaintext_ok = true;
				} else {
					print_error("unknown cfg variant \"%.*s\"\n",
						(int)(i - w), l + w);
					return false;
				}
			}
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return true;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b;
	buf_init(&b, 1 << 20);
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		if (!buf_append(&b, tmp, n))
			break;
	fclose(f);
	const char *s = buf_cstr(&b);
	char *copy = strdup(s);
	buf_release(&b);
	return copy;
}

static void test_file(void **state)
{
	const char *name = *state;
	char path[4096];
	int k = snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_true(k > 0 && (size_t)k < sizeof path);
	char *text = slurp(path);
	assert_non_null(text);
	bool failed = false;
	for (int split = 0; split < 3; split++) {
		struct player p = {.split = (enum harness_split)split, .file = name};
		char *copy = strdup(text);
		struct smtp_server_cfg cfg = harness_default_cfg();
		if (!file_cfg(text, &cfg)) {
			failed = true;
			free(copy);
			break;
		}
		harness_init(&p.h, &cfg);
		p.h.commit_id = "T1";
		p.h.rng = 2024;
		buf_init(&p.send, 0);
		play(&p, copy);
		failed |= p.failed;
		buf_release(&p.send);
		harness_clear(&p.h);
		free(copy);
	}
	free(text);
	if (failed)
		fail();
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <transcript directory>\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	DIR *d = opendir(dir);
	if (!d) {
		perror(dir);
		return 1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof *names);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n == 0) {
		fprintf(stderr, "no transcripts in %s\n", dir);
		return 1;
	}
	qsort(names, n, sizeof *names, cmp_names);
	struct CMUnitTest *tests = calloc(n, sizeof *tests);
	for (size_t i = 0; i < n; i++) {
		tests[i].name = names[i];
		tests[i].test_func = test_file;
		tests[i].initial_state = names[i];
	}
	int failed = _cmocka_run_group_tests("smtp_transcripts", tests, n, NULL,
		NULL);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	return failed;
}
