/* loadgen_smtp.c: the SMTP client state machine of loadgen (see loadgen.c):
 * EHLO once, then MAIL / RCPT xK / DATA / message, RSET between messages,
 * QUIT after --per-session messages and a new session; and the smtp mode. */
#define _GNU_SOURCE
#include "loadgen.h"

/* smtp message, built once */
static char *message;
static size_t message_len;

/* ---- SMTP ---- */

bool may_start_txn(void)
{
	return !stopping && started < O.max_msgs;
}

static void smtp_start_txn(struct conn *c)
{
	started++;
	c->rcpt_sent = 0;
	c->t_txn = now_s();
	c->st = ST_MAIL;
	send_cmd(c, NULL, 0, "MAIL FROM:<bench@example.org> SIZE=%zu\r\n", message_len);
}

static void smtp_send_rcpt(struct conn *c)
{
	char u[256];
	int k = (c->user_rot + c->rcpt_sent) % O.users;
	user_name(u, sizeof u, O.user_base + k);
	c->rcpt_sent++;
	c->st = ST_RCPT;
	send_cmd(c, NULL, 0, "RCPT TO:<%s>\r\n", u);
}

static void smtp_fail(struct conn *c, const char *what, const char *line)
{
	note_error(c, what, line);
	conn_lost(c);
}

/* One complete reply (its last line) has arrived. */
static void smtp_reply(struct conn *c, int code, const char *line)
{
	switch (c->st) {
	case ST_GREET:
		if (code != 220)
			return smtp_fail(c, "greeting", line);
		c->st = ST_EHLO;
		send_cmd(c, NULL, 0, "EHLO loadgen.localhost\r\n");
		return;
	case ST_EHLO:
		if (code != 250)
			return smtp_fail(c, "ehlo", line);
		if (!may_start_txn()) {
			c->st = ST_QUIT;
			send_cmd(c, NULL, 0, "QUIT\r\n");
			return;
		}
		smtp_start_txn(c);
		return;
	case ST_MAIL:
		if (code != 250)
			return smtp_fail(c, "mail", line);
		smtp_send_rcpt(c);
		return;
	case ST_RCPT:
		if (code != 250 && code != 251)
			return smtp_fail(c, "rcpt", line);
		if (c->rcpt_sent < O.rcpts) {
			smtp_send_rcpt(c);
			return;
		}
		c->st = ST_DATA;
		send_cmd(c, NULL, 0, "DATA\r\n");
		return;
	case ST_DATA:
		if (code != 354)
			return smtp_fail(c, "data", line);
		c->st = ST_BODY;
		c->cmd_len = c->cmd_off = 0;
		c->tail = message;
		c->tail_len = message_len;
		c->tail_off = 0;
		c->deadline = now_s() + O.timeout;
		flush_out(c);
		return;
	case ST_BODY: {
		if (code != 250)
			return smtp_fail(c, "dot", line);
		double t = now_s();
		accepted++;
		sample_add(&lat, t - c->t_txn);
		t_end_send = t;
		c->in_session++;
		c->user_rot = (c->user_rot + O.rcpts) % O.users;
		if (c->in_session < O.per_session && may_start_txn()) {
			c->st = ST_RSET;
			send_cmd(c, NULL, 0, "RSET\r\n");
		} else {
			c->st = ST_QUIT;
			send_cmd(c, NULL, 0, "QUIT\r\n");
		}
		return;
	}
	case ST_RSET:
		if (code != 250)
			return smtp_fail(c, "rset", line);
		if (!may_start_txn()) {
			c->st = ST_QUIT;
			send_cmd(c, NULL, 0, "QUIT\r\n");
			return;
		}
		smtp_start_txn(c);
		return;
	case ST_QUIT:
		/* a clean end: the next session starts while the budget allows */
		conn_close(c);
		if (may_start_txn())
			conn_open(c);
		return;
	default:
		return smtp_fail(c, "unexpected", line);
	}
}

void smtp_line(struct conn *c, const char *line, size_t len)
{
	if (len < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return smtp_fail(c, "bad-reply", line);
	if (len > 3 && line[3] == '-')
		return; /* continuation */
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	smtp_reply(c, code, line);
}

void idle_smtp_greeting(struct conn *c, const char *line, size_t len)
{
	if (len > 3 && line[3] == '-')
		return;
	double t = now_s();
	if (strncmp(line, "220", 3) != 0) {
		note_error(c, "greeting", line);
		conn_close(c);
		return;
	}
	if (c->probe) {
		sample_add(&greet_t, t - c->t_op);
		c->st = ST_QUIT;
		send_cmd(c, NULL, 0, "QUIT\r\n");
		return;
	}
	c->st = ST_HELD;
	c->deadline = 1e18;
	held++;
}

/* ---- the smtp mode ---- */

/* The message is exactly O.size bytes (headers included), CRLF lines of
 * at most 78 characters, none starting with a dot; ".\r\n" follows it in
 * the same buffer so it goes out with the last write. */
static void build_message(void)
{
	message = malloc(O.size + 256);
	if (!message)
		die("out of memory");
	int h = snprintf(message, 256,
			 "From: <bench@example.org>\r\nTo: <bench@localhost>\r\n"
			 "Subject: loadgen\r\nMessage-ID: <loadgen@example.org>\r\n\r\n");
	size_t len = (size_t)h;
	if (O.size < len + 2)
		O.size = len + 2;
	size_t left = O.size - len;
	while (left > 80) {
		for (size_t i = 0; i < 76; i++)
			message[len + i] = (char)('a' + (i + len) % 26);
		len += 76;
		message[len++] = '\r';
		message[len++] = '\n';
		left -= 78;
	}
	for (size_t i = 0; i + 2 < left; i++)
		message[len + i] = (char)('a' + (i + len) % 26);
	len += left - 2;
	message[len++] = '\r';
	message[len++] = '\n';
	memcpy(message + len, ".\r\n", 3);
	message_len = len;
}

static size_t count_stored(const char *root)
{
	DIR *d = opendir(root);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *u;
	while ((u = readdir(d))) {
		if (u->d_name[0] == '.')
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s/new", root, u->d_name);
		DIR *nd = opendir(p);
		if (!nd)
			continue;
		struct dirent *f;
		while ((f = readdir(nd)))
			if (f->d_name[0] != '.')
				n++;
		closedir(nd);
	}
	closedir(d);
	return n;
}

void mode_smtp(void)
{
	if (!O.user_fmt)
		O.user_fmt = "u%d@localhost";
	if (O.rcpts > O.users)
		die("--rcpts %d needs --users >= %d (distinct recipients)", O.rcpts, O.rcpts);
	build_message();
	/* terminator goes out with the message */
	message_len += 3;
	size_t stored0 = O.wait_root ? count_stored(O.wait_root) : 0;
	run_clients();
	double el = t_end_send - t_start;
	double stored_el = el;
	long stored_msgs = accepted;
	bool stored_ok = true;
	if (O.wait_root) {
		size_t want = stored0 + (size_t)accepted * (size_t)O.rcpts;
		double wdl = now_s() + O.wait_timeout;
		size_t have;
		for (;;) {
			have = count_stored(O.wait_root);
			if (have >= want)
				break;
			if (now_s() > wdl) {
				stored_ok = false;
				break;
			}
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		stored_el = now_s() - t_start;
		if (!stored_ok)
			stored_msgs = (long)((have - stored0) / (size_t)O.rcpts);
	}
	printf("mode=smtp conns=%d size=%zu rcpts=%d per_session=%d msgs=%ld errors=%ld "
	       "elapsed=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "stored_elapsed=%.3f stored_rate=%.1f stored_complete=%s lg_cpu_s=%.2f "
	       "first_error=\"%s\"\n",
	       O.conns, message_len - 3, O.rcpts, O.per_session, accepted, errors, el,
	       el > 0 ? (double)accepted / el : 0, pct(&lat, 50) * 1e3, pct(&lat, 99) * 1e3,
	       smax(&lat) * 1e3, stored_el, stored_el > 0 ? (double)stored_msgs / stored_el : 0,
	       stored_ok ? "yes" : "no", self_cpu_s(), first_error);
}

