/* loadgen_pop3.c: the POP3 client state machine of loadgen (see loadgen.c):
 * USER/PASS, STAT, optional UIDL and LIST, RETR of every message, QUIT
 * without DELE; and the pop3 mode. */
#define _GNU_SOURCE
#include "loadgen.h"

/* ---- POP3 ---- */

static void pop3_quit(struct conn *c)
{
	c->st = ST_PQUIT;
	send_cmd(c, NULL, 0, "QUIT\r\n");
}

static void pop3_fail(struct conn *c, const char *what, const char *line)
{
	note_error(c, what, line);
	conn_close(c);
}

static void pop3_next_retr(struct conn *c)
{
	if (stopping || c->next_msg > c->msgs_total || started >= O.max_msgs)
		return pop3_quit(c);
	started++;
	if (t_retr0 == 0)
		t_retr0 = now_s();
	c->st = ST_RETR;
	c->multi = true;
	c->multi_ok = false;
	c->t_op = now_s();
	send_cmd(c, NULL, 0, "RETR %ld\r\n", c->next_msg++);
}

static void pop3_after_stat(struct conn *c)
{
	if (O.list) {
		c->st = ST_UIDL;
		c->multi = true;
		c->multi_ok = false;
		c->t_op = now_s();
		send_cmd(c, NULL, 0, "UIDL\r\n");
		return;
	}
	if (O.retr)
		return pop3_next_retr(c);
	pop3_quit(c);
}

/* A status line, or the end of a multi-line answer. */
void pop3_answer(struct conn *c, bool ok, const char *line)
{
	double t = now_s();
	switch (c->st) {
	case ST_GREET:
		if (!ok)
			return pop3_fail(c, "greeting", line);
		if (c->probe) {
			sample_add(&greet_t, t - c->t_op);
			return pop3_quit(c);
		}
		c->st = ST_USER;
		{
			char u[256];
			user_name(u, sizeof u, O.user_base + c->idx);
			send_cmd(c, NULL, 0, "USER %s\r\n", u);
		}
		return;
	case ST_USER:
		if (!ok)
			return pop3_fail(c, "user", line);
		c->st = ST_PASS;
		c->t_op = t;
		send_cmd(c, NULL, 0, "PASS %s\r\n", O.pass);
		return;
	case ST_PASS:
		if (!ok)
			return pop3_fail(c, "pass", line);
		sample_add(&login_t, t - c->t_op);
		if (!strcmp(O.mode, "idle")) {
			c->st = ST_HELD;
			c->deadline = 1e18;
			held++;
			return;
		}
		c->st = ST_STAT;
		send_cmd(c, NULL, 0, "STAT\r\n");
		return;
	case ST_STAT: {
		if (!ok)
			return pop3_fail(c, "stat", line);
		char *end;
		c->msgs_total = strtol(line + 3, &end, 10);
		c->next_msg = 1;
		return pop3_after_stat(c);
	}
	case ST_UIDL:
		if (!ok)
			return pop3_fail(c, "uidl", line);
		sample_add(&uidl_t, t - c->t_op);
		c->st = ST_LIST;
		c->multi = true;
		c->multi_ok = false;
		c->t_op = t;
		send_cmd(c, NULL, 0, "LIST\r\n");
		return;
	case ST_LIST:
		if (!ok)
			return pop3_fail(c, "list", line);
		sample_add(&list_t, t - c->t_op);
		if (O.retr)
			return pop3_next_retr(c);
		return pop3_quit(c);
	case ST_RETR:
		if (!ok)
			return pop3_fail(c, "retr", line);
		retrieved++;
		sample_add(&lat, t - c->t_op);
		t_end_send = t;
		return pop3_next_retr(c);
	case ST_PQUIT:
		conn_close(c);
		return;
	default:
		return pop3_fail(c, "unexpected", line);
	}
}

/* Feeds multi-line bytes: returns how many belong to this answer. */
size_t pop3_multi_feed(struct conn *c, const char *p, size_t len)
{
	static const char term[] = "\r\n.\r\n";
	for (size_t i = 0; i < len; i++) {
		char ch = p[i];
		if (ch == term[c->term]) {
			c->term++;
		} else {
			/* Partial matches of "\r\n.\r\n" restart at a CR. */
			c->term = ch == '\r' ? 1 : 0;
		}
		if (c->term == 5) {
			c->multi = false;
			c->term = 0;
			return i + 1;
		}
	}
	return len;
}

/* ---- the pop3 mode ---- */

void mode_pop3(void)
{
	if (!O.user_fmt)
		O.user_fmt = "p%d@localhost";
	run_clients();
	double el = t_end_send - (t_retr0 ? t_retr0 : t_start);
	printf("mode=pop3 conns=%d msgs=%ld bytes=%llu errors=%ld elapsed=%.3f rate=%.1f "
	       "mb_per_s=%.2f retr_p50_ms=%.3f retr_p99_ms=%.3f login_p50_ms=%.3f "
	       "login_max_ms=%.3f uidl_ms=%.3f list_ms=%.3f lg_cpu_s=%.2f first_error=\"%s\"\n",
	       O.conns, retrieved, bytes_in, errors, el, el > 0 ? (double)retrieved / el : 0,
	       el > 0 ? (double)bytes_in / el / 1e6 : 0, pct(&lat, 50) * 1e3,
	       pct(&lat, 99) * 1e3, pct(&login_t, 50) * 1e3, smax(&login_t) * 1e3,
	       pct(&uidl_t, 50) * 1e3, pct(&list_t, 50) * 1e3, self_cpu_s(), first_error);
}

