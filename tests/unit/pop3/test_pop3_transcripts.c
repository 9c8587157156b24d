/* Plays every transcript in tests/transcripts/pop3/ against the pure POP3 core
 * (format: tests/transcripts/README.md). The directory comes as argv[1].
 *
 * The player stands in for the daemon: alice@localhost (or "alice") with
 * password "secret" logs in, anything else is refused; the maildrop holds
 * the M<n> messages with LF line ends, as the store keeps them; RETR/TOP
 * content goes through pop3_body; UPDATE succeeds. Each file runs three
 * ways: every send fed whole, one byte at a time, and in random splits
 * (fixed seed).
 *
 * The session is configured as the daemon configures one from a loopback
 * client: USER/PASS and AUTH (SASL) allowed without TLS (plaintext_auth_ok,
 * sasl_offered); no STLS (the transcript daemon runs without TLS). A
 * comment line "# cfg: NAME[, NAME]" (an ordinary comment to the README's
 * format; play_daemon.py reads it too) selects a variant:
 *   auth-plaintext  AUTH offered (sasl_offered), allowed without TLS;
 *   no-cleartext    AUTH offered, no login without TLS (plaintext_auth_ok
 *                   false) and no TLS configured either, as the daemon
 *                   with "cleartext_auth_networks = none" and no
 *                   certificate (the integration harness has none).
 * Failed logins: auth_failures.txt, older than the limit, makes three
 * and logs in, so this player allows TRANSCRIPT_AUTH_FAILURES. */
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
#include "proto/limits.h"
#include "proto/pop3_body.h"
#include "proto/pop3_server.h"

#define MAX_MSGS 32
#define MAX_FILES 256
#define TRANSCRIPT_AUTH_FAILURES 5

enum step_kind { STEP_SEND, STEP_S, STEP_CLOSED };
enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

struct step {
	enum step_kind kind;
	char *text;    /* SEND: bytes (len); S: expected text */
	size_t len;
	bool prefix;   /* S: line ending in "*" */
	int lineno;
};

struct script {
	const char *path;
	struct buf msgs[MAX_MSGS];   /* stored form: LF line ends */
	size_t nmsgs;
	struct step *steps;
	size_t nsteps;
	bool sasl;          /* "# cfg: auth-plaintext" or "no-cleartext" */
	bool no_cleartext;  /* "# cfg: no-cleartext" */
};

struct player {
	const struct script *sc;
	struct pop3_server *s;
	struct buf in;                /* client bytes not yet taken */
	struct buf out;               /* server bytes not yet matched */
	bool closed;
	enum feed_mode mode;
	uint32_t rng;
	struct pop3_msg_info info[MAX_MSGS];
	char uidl[MAX_MSGS][16];
};

static void die(const struct script *sc, int lineno, const char *why)
{
	print_error("%s:%d: %s\n", sc->path, lineno, why);
	fail();
}

static void script_free(struct script *sc)
{
	for (size_t i = 0; i < MAX_MSGS; i++)
		buf_release(&sc->msgs[i]);
	for (size_t i = 0; i < sc->nsteps; i++)
		free(sc->steps[i].text);
	free(sc->steps);
}

static struct step *add_step(struct script *sc, enum step_kind k, const char *text,
			     int lineno)
{
	sc->steps = realloc(sc->steps, (sc->nsteps + 1) * sizeof(*sc->steps));
	assert_non_null(sc->steps);
	struct step *st = &sc->steps[sc->nsteps++];
	st->kind = k;
	st->len = strlen(text);
	st->text = malloc(st->len + 3);
	assert_non_null(st->text);
	memcpy(st->text, text, st->len + 1);
	st->lineno = lineno;
	st->prefix = false;
	if (k == STEP_S && st->len > 0 && st->text[st->len - 1] == '*') {
		st->text[--st->len] = '\0';
		st->prefix = true;
	}
	return st;
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

/* R: escapes, as in the SMTP section of the README. Decodes in place
 * (the result is never longer); returns false on a bad escape. */
static bool unescape(char *t, size_t *len)
{
	size_t o = 0;
	for (size_t i = 0; t[i]; i++) {
		if (t[i] != '\\') {
			t[o++] = t[i];
			continue;
		}
		switch (t[++i]) {
		case 'r': t[o++] = '\r'; break;
		case 'n': t[o++] = '\n'; break;
		case 't': t[o++] = '\t'; break;
		case '0': t[o++] = '\0'; break;
		case '\\': t[o++] = '\\'; break;
		case 'x': {
			int hi = t[i + 1] ? hexval(t[i + 1]) : -1;
			int lo = hi >= 0 && t[i + 2] ? hexval(t[i + 2]) : -1;
			if (lo < 0)
				return false;
			t[o++] = (char)(hi * 16 + lo);
			i += 2;
			break;
		}
		default:
			return false;
		}
	}
	*len = o;
	return true;
}

/* "X:" alone is an empty text; "X: text" is text. */
static bool tagged(const char *line, const char *tag, const char **text)
{
	size_t n = strlen(tag);
	if (strncmp(line, tag, n) != 0)
		return false;
	if (line[n] == '\0')
		*text = "";
	else if (line[n] == ' ')
		*text = line + n + 1;
	else
		return false;
	return true;
}

/* "# cfg: a, b": the variants named in the header comment. */
static void cfg_line(struct script *sc, const char *names, int lineno)
{
	while (*names) {
		names += strspn(names, " ,");
		size_t n = strcspn(names, " ,");
		if (n == 0)
			break;
		if (n == 14 && strncmp(names, "auth-plaintext", n) == 0) {
			sc->sasl = true;
		} else if (n == 12 && strncmp(names, "no-cleartext", n) == 0) {
			sc->sasl = true;
			sc->no_cleartext = true;
		} else {
			die(sc, lineno, "unknown cfg variant");
		}
		names += n;
	}
}

static void script_load(struct script *sc, const char *path)
{
	memset(sc, 0, sizeof(*sc));
	sc->path = path;
	for (size_t i = 0; i < MAX_MSGS; i++)
		buf_init(&sc->msgs[i], 0);
	FILE *f = fopen(path, "r");
	if (!f)
		die(sc, 0, "cannot open");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		const char *text = "";
		if (strncmp(line, "# cfg:", 6) == 0) {
			cfg_line(sc, line + 6, lineno);
			continue;
		}
		if (len == 0 || line[0] == '#')
			continue;
		if (line[0] == 'M' && line[1] >= '1' && line[1] <= '9') {
			char *colon;
			unsigned long n = strtoul(line + 1, &colon, 10);
			char tag[8];
			snprintf(tag, sizeof(tag), "M%lu:", n);
			if (sc->nsteps > 0)
				die(sc, lineno, "M lines must come before the session");
			if (n != sc->nmsgs && n != sc->nmsgs + 1)
				die(sc, lineno, "messages must be numbered 1, 2, ... in order");
			if (n > MAX_MSGS || !tagged(line, tag, &text))
				die(sc, lineno, "bad M line");
			sc->nmsgs = n;
			buf_append_str(&sc->msgs[n - 1], text);
			buf_append_str(&sc->msgs[n - 1], "\n");
		} else if (tagged(line, "C:", &text)) {
			struct step *st = add_step(sc, STEP_SEND, text, lineno);
			memcpy(st->text + st->len, "\r\n", 3);
			st->len += 2;
		} else if (tagged(line, "R:", &text)) {
			struct step *st = add_step(sc, STEP_SEND, text, lineno);
			if (!unescape(st->text, &st->len))
				die(sc, lineno, "bad escape in R: line");
		} else if (tagged(line, "S:", &text)) {
			add_step(sc, STEP_S, text, lineno);
		} else if (strcmp(line, "CLOSED") == 0) {
			add_step(sc, STEP_CLOSED, "", lineno);
		} else {
			die(sc, lineno, "unknown line");
		}
	}
	free(line);
	fclose(f);
}

static void answer_auth(struct player *p, const struct pop3_out *o)
{
	struct pop3_in in = { .kind = POP3_IN_AUTH_RESULT, .result = POP3_AUTH_BAD };
	if (o->pass && strcmp(o->pass, "secret") == 0 &&
	    (strcmp(o->user, "alice") == 0 || strcmp(o->user, "alice@localhost") == 0)) {
		in.result = POP3_AUTH_OK;
		in.msgs = p->info;
		in.nmsgs = p->sc->nmsgs;
	}
	pop3_server_input(p->s, &in);
}

/* What the adapter does for SEND_MSG: stream the stored content through
 * the encoder (in small pieces, to exercise its state). */
static void send_msg(struct player *p, size_t msg, long top_lines)
{
	const struct buf *m = &p->sc->msgs[msg];
	struct pop3_body_enc e;
	pop3_body_init(&e, top_lines);
	for (size_t off = 0; off < m->len; off += 7) {
		size_t n = m->len - off < 7 ? m->len - off : 7;
		assert_true(pop3_body_encode(&e, m->data + off, n, &p->out));
	}
	assert_true(pop3_body_finish(&e, &p->out));
	struct pop3_in in = { .kind = POP3_IN_SENT };
	pop3_server_input(p->s, &in);
}

static void drain(struct player *p)
{
	struct pop3_out o;
	while (pop3_server_next(p->s, &o)) {
		switch (o.kind) {
		case POP3_OUT_REPLY:
			buf_append(&p->out, o.data, o.len);
			break;
		case POP3_OUT_LOG:
			assert_null(strstr(o.data, "secret"));
			break;
		case POP3_OUT_AUTH:
			answer_auth(p, &o);
			break;
		case POP3_OUT_SEND_MSG:
			assert_true(o.msg < p->sc->nmsgs);
			send_msg(p, o.msg, o.top_lines);
			break;
		case POP3_OUT_UPDATE: {
			struct pop3_in in = { .kind = POP3_IN_UPDATE_RESULT, .result = 0 };
			pop3_server_input(p->s, &in);
			break;
		}
		case POP3_OUT_CLOSE:
			p->closed = true;
			break;
		case POP3_OUT_STLS:
			/* Neither player can do a TLS handshake. */
			die(p->sc, 0, "STLS accepted in a transcript");
			break;
		}
	}
}

static size_t chunk(struct player *p)
{
	switch (p->mode) {
	case FEED_WHOLE:
		return p->in.len;
	case FEED_BYTES:
		return 1;
	case FEED_RANDOM: {
		p->rng = p->rng * 1103515245u + 12345u;
		size_t n = 1 + (p->rng >> 16) % 17;
		return n < p->in.len ? n : p->in.len;
	}
	}
	return p->in.len;
}

/* Sends what C:/R: lines collected (one write for the daemon player). */
static void flush(struct player *p, int lineno)
{
	while (p->in.len > 0 && !p->closed) {
		size_t n = pop3_server_feed(p->s, p->in.data, chunk(p));
		buf_consume(&p->in, n);
		drain(p);
		if (n == 0 && !p->closed)
			die(p->sc, lineno, "server stalled");
	}
}

static void play(const struct script *sc, enum feed_mode mode)
{
	struct pop3_server_cfg cfg = {
		.hostname = "mx.test",
		.apop_unique = "1.2.3",
		.apop_enabled = false,
		.max_cmd_line = LIMIT_POP3_CMD_LINE,
		.max_errors = LIMIT_POP3_ERRORS,
		.implementation = "facteur " FACTEUR_VERSION,
		.plaintext_auth_ok = !sc->no_cleartext,
		.sasl_offered = true, /* as the daemon always offers it */
		.max_auth_failures = TRANSCRIPT_AUTH_FAILURES,
	};
	struct player p = { .sc = sc, .mode = mode, .rng = 42 };
	buf_init(&p.in, 0);
	buf_init(&p.out, 0);
	for (size_t i = 0; i < sc->nmsgs; i++) {
		bool cr = false;
		p.info[i].octets = pop3_crlf_size(sc->msgs[i].data, sc->msgs[i].len, &cr);
		snprintf(p.uidl[i], sizeof(p.uidl[i]), "msg-%zu", i + 1);
		p.info[i].uidl = p.uidl[i];
	}
	p.s = pop3_server_new(&cfg);
	assert_non_null(p.s);
	drain(&p);

	for (size_t i = 0; i < sc->nsteps; i++) {
		const struct step *st = &sc->steps[i];
		switch (st->kind) {
		case STEP_SEND:
			buf_append(&p.in, st->text, st->len);
			break;
		case STEP_S: {
			flush(&p, st->lineno);
			const uint8_t *nl = p.out.len ? memchr(p.out.data, '\n', p.out.len) : NULL;
			if (!nl || nl == p.out.data || nl[-1] != '\r')
				die(sc, st->lineno, "expected a server line, got none");
			size_t len = (size_t)(nl - p.out.data) - 1;
			size_t tl = strlen(st->text);
			bool match = (st->prefix ? len >= tl : len == tl) &&
				     memcmp(p.out.data, st->text, tl) == 0;
			if (!match) {
				print_error("%s:%d: want \"%s%s\", got \"%.*s\" (mode %d)\n",
					    sc->path, st->lineno, st->text, st->prefix ? "*" : "",
					    (int)len, (const char *)p.out.data, (int)mode);
				fail();
			}
			buf_consume(&p.out, len + 2);
			break;
		}
		case STEP_CLOSED:
			flush(&p, st->lineno);
			if (!p.closed || p.out.len != 0)
				die(sc, st->lineno, "expected the server to have closed");
			break;
		}
	}
	flush(&p, 0);
	if (p.out.len != 0) {
		print_error("%s: unread server output: \"%.*s\"\n", sc->path, (int)p.out.len,
			    (const char *)p.out.data);
		fail();
	}
	pop3_server_free(&p.s);
	buf_release(&p.in);
	buf_release(&p.out);
}

static void test_transcript(void **state)
{
	const char *path = *state;
	struct script sc;
	script_load(&sc, path);
	assert_true(sc.nsteps > 0);
	play(&sc, FEED_WHOLE);
	play(&sc, FEED_BYTES);
	play(&sc, FEED_RANDOM);
	script_free(&sc);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <transcript directory>\n", argv[0]);
		return 2;
	}
	DIR *dir = opendir(argv[1]);
	if (!dir) {
		perror(argv[1]);
		return 2;
	}
	char *names[MAX_FILES];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dir)) && n < MAX_FILES) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".txt") != 0)
			continue;
		size_t sz = strlen(argv[1]) + len + 2;
		names[n] = malloc(sz);
		if (!names[n])
			return 2;
		snprintf(names[n], sz, "%s/%s", argv[1], de->d_name);
		n++;
	}
	closedir(dir);
	if (n == 0) {
		fprintf(stderr, "%s: no transcripts\n", argv[1]);
		return 2;
	}
	qsort(names, n, sizeof(names[0]), by_name);
	struct CMUnitTest *tests = calloc(n, sizeof(*tests));
	if (!tests)
		return 2;
	for (size_t i = 0; i < n; i++) {
		tests[i].name = strrchr(names[i], '/') + 1;
		tests[i].test_func = test_transcript;
		tests[i].initial_state = names[i];
	}
	int rc = _cmocka_run_group_tests("pop3_transcripts", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(tests);
	return rc;
}
