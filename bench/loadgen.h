/* loadgen.h: what the parts of loadgen share (see loadgen.c). */
#ifndef FACTEUR_BENCH_LOADGEN_H
#define FACTEUR_BENCH_LOADGEN_H

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_DURATION 600.0
#define LINE_MAX_LEN 4096
#define SCRATCH (256 * 1024)
#define MAX_ERRORS 1000

/* ---- options ---- */

struct opts {
	const char *mode;
	const char *host;
	int port;
	int conns;
	double duration;
	long max_msgs;
	double timeout;
	/* smtp */
	size_t size;
	int rcpts;
	int users;
	int user_base;
	const char *user_fmt;
	int per_session;
	const char *wait_root;
	double wait_timeout;
	/* pop3 */
	const char *pass;
	bool retr;
	bool list;
	/* idle */
	const char *proto;
	int samples;
	const char *ready_file;
	double hold;
	int ramp;
};

extern struct opts O;

struct samples {
	double *v;
	size_t n, cap;
};

/* ---- connections ---- */

enum st {
	ST_CONNECTING,
	ST_GREET,
	/* smtp */
	ST_EHLO, ST_MAIL, ST_RCPT, ST_DATA, ST_BODY, ST_RSET, ST_QUIT,
	/* pop3 */
	ST_USER, ST_PASS, ST_STAT, ST_UIDL, ST_LIST, ST_RETR, ST_PQUIT,
	ST_HELD,
	ST_DONE,
};

struct conn {
	int fd;
	unsigned gen;       /* bumped by conn_open: a new session in this slot */
	int idx;            /* client number (pop3 user, smtp rcpt rotation) */
	enum st st;
	bool multi;         /* pop3: reading a multi-line body */
	bool multi_ok;      /* its status line was +OK */
	int term;           /* progress through "\r\n.\r\n" */
	bool probe;         /* idle: a greeting-time probe */
	char line[LINE_MAX_LEN];
	size_t llen;
	/* output: a small owned command, then a borrowed tail */
	char cmd[600];
	size_t cmd_len, cmd_off;
	const char *tail;
	size_t tail_len, tail_off;
	bool want_out;
	double deadline;
	double t_op;        /* start of the timed operation */
	double t_txn;       /* smtp: MAIL sent */
	int rcpt_sent;
	int in_session;     /* smtp: messages done in this session */
	long msgs_total;    /* pop3: messages in the drop */
	long next_msg;
	int user_rot;       /* smtp: rotates recipients */
};

/* engine state and results (loadgen.c) */
extern struct conn **conns;
extern int nconns;
extern long started, accepted, errors, retrieved;
extern unsigned long long bytes_in;
extern struct samples lat, login_t, uidl_t, list_t, greet_t;
extern char first_error[200];
extern double t_start, t_end_send, t_retr0;
extern bool stopping;
extern int active, held;

/* loadgen.c */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
double now_s(void);
double self_cpu_s(void);
void sample_add(struct samples *s, double x);
double pct(struct samples *s, double p);
double smax(const struct samples *s);
void note_error(struct conn *c, const char *what, const char *detail);
bool conn_open(struct conn *c);
void conn_close(struct conn *c);
void conn_lost(struct conn *c);
void flush_out(struct conn *c);
void send_cmd(struct conn *c, const char *tail, size_t tail_len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void user_name(char *out, size_t outsz, int i);
void run_clients(void);

/* loadgen_smtp.c */
bool may_start_txn(void);
void smtp_line(struct conn *c, const char *line, size_t len);
void idle_smtp_greeting(struct conn *c, const char *line, size_t len);
void mode_smtp(void);

/* loadgen_pop3.c */
void pop3_answer(struct conn *c, bool ok, const char *line);
size_t pop3_multi_feed(struct conn *c, const char *p, size_t len);
void mode_pop3(void);

#endif
