/* loadgen: a single-process, event-driven (epoll) load generator for
 * SMTP and POP3 servers on the loopback (helpers for the benchmark script
 * are in benchutil.c). The protocol state machines are in loadgen_smtp.c
 * and loadgen_pop3.c; this file has the event loop, idle mode and main.
 *
 * Modes (each prints one "key=value ..." line on stdout):
 *   smtp   N sessions, each EHLO once, then MAIL/RCPT xK/DATA/message of
 *          S bytes, RSET between messages, QUIT after M messages and a new
 *          session; msgs/s accepted (250 after DATA), latency of each
 *          transaction (MAIL sent to 250 after the dot) p50/p99, errors.
 *          With --wait-root, after the last 250 it waits until the
 *          accepted messages are present as files in ROOT/{user}/new/
 *          and also reports the accepted-and-stored rate.
 *   pop3   N clients, client i logs in as user (base+i), STAT, optional
 *          UIDL and LIST (timed), RETR of every message, QUIT without DELE;
 *          msgs/s, MB/s, login/UIDL/LIST times.
 *   idle   opens N SMTP (greeting read) or POP3 (logged in) sessions and
 *          holds them, then times new sessions' greetings while the N are
 *          held; writes the result to --ready-file and holds for --hold
 *          seconds (or until SIGTERM) so RSS can be sampled.
 *
 * Bounded by construction: the target must be in 127.0.0.0/8, every run
 * has a duration (at most 600 s) and a message budget, every operation a
 * timeout, and the run aborts after too many errors. */
#define _GNU_SOURCE
#include "loadgen.h"

/* ---- options ---- */

struct opts O = {
	.host = "127.0.0.1",
	.conns = 1,
	.duration = 10,
	.max_msgs = 1000000,
	.timeout = 60,
	.size = 1024,
	.rcpts = 1,
	.users = 1,
	.user_fmt = NULL,
	.per_session = 10,
	.wait_timeout = 180,
	.pass = "bench",
	.retr = true,
	.proto = "smtp",
	.samples = 20,
	.hold = 300,
	.ramp = 200,
};

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* CPU seconds this process used: shows the generator was not the
 * bottleneck (it should stay well under one core). */
double self_cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- latency samples ---- */

void sample_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, p in [0,100]. */
double pct(struct samples *s, double p)
{
	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof *s->v, cmp_double);
	size_t k = (size_t)((p / 100.0) * (double)s->n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > s->n)
		k = s->n;
	return s->v[k - 1];
}

double smax(const struct samples *s)
{
	double m = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] > m)
			m = s->v[i];
	return m;
}

static int epfd;
struct conn **conns;
int nconns;
static char *scratch;
static struct sockaddr_in target;

/* results */
long started, accepted, errors, retrieved;
unsigned long long bytes_in;
struct samples lat, login_t, uidl_t, list_t, greet_t;
char first_error[200];
double t_start, t_end_send, t_retr0;
static double deadline_soft, deadline_hard;
bool stopping;
int active;            /* connections not DONE */
int held;              /* idle: sessions established */
static int idle_failed;
static volatile sig_atomic_t got_term;


void note_error(struct conn *c, const char *what, const char *detail)
{
	errors++;
	if (!first_error[0]) {
		snprintf(first_error, sizeof first_error, "%s:%s", what, detail ? detail : "");
		for (char *p = first_error; *p; p++)
			if (*p == '"' || (unsigned char)*p < 0x20 || *p == ' ')
				*p = '_';
	}
	(void)c;
}

static void ep_mod(struct conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl mod: %s", strerror(errno));
}

void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->st != ST_DONE) {
		if (c->st == ST_HELD)
			held--;
		c->st = ST_DONE;
		active--;
	}
}

/* A session ended unexpectedly (already counted as an error). In smtp
 * mode a new session takes its place while the budget allows. */
void conn_lost(struct conn *c)
{
	conn_close(c);
	if (!strcmp(O.mode, "smtp") && may_start_txn() && errors < MAX_ERRORS)
		conn_open(c);
}

bool conn_open(struct conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		note_error(c, "socket", strerror(errno));
		return false;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
		note_error(c, "connect", strerror(errno));
		close(fd);
		return false;
	}
	c->fd = fd;
	c->gen++;
	c->st = ST_CONNECTING;
	c->llen = 0;
	c->cmd_len = c->cmd_off = c->tail_len = c->tail_off = 0;
	c->tail = NULL;
	c->multi = false;
	c->in_session = 0;
	c->t_op = now_s();
	c->deadline = c->t_op + O.timeout;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl add: %s", strerror(errno));
	c->want_out = true;
	active++;
	return true;
}

void flush_out(struct conn *c)
{
	while (c->cmd_off < c->cmd_len || c->tail_off < c->tail_len) {
		struct iovec iov[2];
		int n = 0;
		if (c->cmd_off < c->cmd_len)
			iov[n++] = (struct iovec){ c->cmd + c->cmd_off, c->cmd_len - c->cmd_off };
		if (c->tail_off < c->tail_len)
			iov[n++] = (struct iovec){ (void *)(c->tail + c->tail_off),
						   c->tail_len - c->tail_off };
		ssize_t w = writev(c->fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->want_out) {
				c->want_out = true;
				ep_mod(c, true);
			}
			return;
		}
		if (w < 0) {
			note_error(c, "write", strerror(errno));
			conn_lost(c);
			return;
		}
		size_t left = (size_t)w;
		size_t a = c->cmd_len - c->cmd_off;
		if (left >= a) {
			c->cmd_off = c->cmd_len;
			left -= a;
		} else {
			c->cmd_off += left;
			left = 0;
		}
		c->tail_off += left;
	}
	if (c->want_out) {
		c->want_out = false;
		ep_mod(c, false);
	}
}

void send_cmd(struct conn *c, const char *tail, size_t tail_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->cmd, sizeof c->cmd, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof c->cmd)
		die("command too long");
	c->cmd_len = (size_t)n;
	c->cmd_off = 0;
	c->tail = tail;
	c->tail_len = tail_len;
	c->tail_off = 0;
	c->deadline = now_s() + O.timeout;
	flush_out(c);
}

void user_name(char *out, size_t outsz, int i)
{
	snprintf(out, outsz, O.user_fmt, i);
}

/* ---- input ---- */

static bool is_smtp_conn(void)
{
	return !strcmp(O.mode, "smtp") || (!strcmp(O.mode, "idle") && !strcmp(O.proto, "smtp"));
}

static void on_line(struct conn *c, char *line, size_t len)
{
	line[len] = '\0';
	if (is_smtp_conn()) {
		if (!strcmp(O.mode, "idle")) {
			if (c->st == ST_GREET)
				return idle_smtp_greeting(c, line, len);
			if (c->st == ST_QUIT) {
				conn_close(c);
				return;
			}
			if (c->st == ST_HELD) {
				/* e.g. a 421 timeout: the session is lost */
				note_error(c, "held-closed", line);
				conn_close(c);
				return;
			}
		}
		return smtp_line(c, line, len);
	}
	if (c->st == ST_HELD) {
		note_error(c, "held-closed", line);
		conn_close(c);
		return;
	}
	bool ok = len >= 3 && !strncmp(line, "+OK", 3);
	if (c->multi) {
		if (!ok) {
			c->multi = false;
			return pop3_answer(c, false, line);
		}
		c->multi_ok = true;
		c->term = 2; /* the status line ended with CRLF */
		return;
	}
	pop3_answer(c, ok, line);
}

/* Feeds what one read() returned; stops if the session ended (or a new
 * one took its slot) on the way: the rest belonged to the old one. */
static void feed(struct conn *c, const char *p, size_t len)
{
	unsigned gen = c->gen;
	while (len > 0 && c->st != ST_DONE && c->gen == gen) {
		if (c->multi && c->multi_ok) {
			size_t n = pop3_multi_feed(c, p, len);
			p += n;
			len -= n;
			if (!c->multi)
				pop3_answer(c, true, "+OK");
			continue;
		}
		const char *nl = memchr(p, '\n', len);
		size_t take = nl ? (size_t)(nl - p) + 1 : len;
		if (c->llen + take >= sizeof c->line) {
			note_error(c, "long-line", NULL);
			conn_close(c);
			return;
		}
		memcpy(c->line + c->llen, p, take);
		c->llen += take;
		p += take;
		len -= take;
		if (nl) {
			size_t l = c->llen - 1;
			if (l > 0 && c->line[l - 1] == '\r')
				l--;
			c->llen = 0;
			on_line(c, c->line, l);
		}
	}
}

static void on_readable(struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, scratch, SCRATCH);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			if (c->st == ST_QUIT || c->st == ST_PQUIT) {
				conn_close(c);
				if (!strcmp(O.mode, "smtp") && may_start_txn())
					conn_open(c);
				return;
			}
			note_error(c, n == 0 ? "eof" : "read", n == 0 ? "" : strerror(errno));
			conn_lost(c);
			return;
		}
		bytes_in += (unsigned long long)n;
		unsigned gen = c->gen;
		feed(c, scratch, (size_t)n);
		if (c->st == ST_DONE || c->fd < 0 || c->gen != gen)
			return;
		if ((size_t)n < SCRATCH)
			return;
	}
}

static void on_event(struct conn *c, uint32_t ev)
{
	if (c->st == ST_CONNECTING) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			note_error(c, "connect", strerror(err));
			conn_lost(c);
			return;
		}
		c->st = ST_GREET;
		c->want_out = false;
		ep_mod(c, false);
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(c);
	if (c->st != ST_DONE && c->fd >= 0 && (ev & EPOLLOUT))
		flush_out(c);
}

static void check_timeouts(double t)
{
	for (int i = 0; i < nconns; i++) {
		struct conn *c = conns[i];
		if (c && c->st != ST_DONE && c->st != ST_HELD && t > c->deadline) {
			note_error(c, "timeout", NULL);
			conn_lost(c);
		}
	}
}

static void loop_once(int timeout_ms)
{
	struct epoll_event evs[512];
	int n = epoll_wait(epfd, evs, 512, timeout_ms);
	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		on_event(evs[i].data.ptr, evs[i].events);
}

static struct conn *conn_alloc(int idx)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		die("out of memory");
	c->fd = -1;
	c->idx = idx;
	c->st = ST_DONE;
	return c;
}

void run_clients(void)
{
	conns = calloc((size_t)O.conns, sizeof *conns);
	if (!conns)
		die("out of memory");
	nconns = O.conns;
	t_start = now_s();
	t_end_send = t_start;
	deadline_soft = t_start + O.duration;
	deadline_hard = deadline_soft + O.timeout + 5;
	for (int i = 0; i < O.conns; i++) {
		conns[i] = conn_alloc(i);
		conns[i]->user_rot = (i * O.rcpts) % O.users;
		if (!conn_open(conns[i]))
			die("cannot open connection %d: %s", i, first_error);
	}
	double last_check = t_start;
	while (active > 0) {
		loop_once(50);
		double t = now_s();
		if (!stopping && (t >= deadline_soft || got_term))
			stopping = true;
		if (t >= deadline_hard) {
			note_error(NULL, "hard-deadline", NULL);
			break;
		}
		if (errors >= MAX_ERRORS) {
			stopping = true;
			break;
		}
		if (t - last_check > 0.2) {
			check_timeouts(t);
			last_check = t;
		}
	}
}

/* ---- idle ---- */

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void mode_idle(void)
{
	bool pop3 = !strcmp(O.proto, "pop3");
	if (!pop3 && strcmp(O.proto, "smtp") != 0)
		die("--proto smtp|pop3");
	if (!O.user_fmt)
		O.user_fmt = "i%d@localhost";
	conns = calloc((size_t)O.conns + 1, sizeof *conns);
	if (!conns)
		die("out of memory");
	nconns = O.conns;
	t_start = now_s();
	double dl = t_start + O.duration;
	int opened = 0;
	/* Ramp: at most O.ramp sessions being set up at once. */
	while (!got_term) {
		while (opened < O.conns && active - held < O.ramp) {
			conns[opened] = conn_alloc(opened);
			conn_open(conns[opened]);
			opened++;
		}
		loop_once(20);
		check_timeouts(now_s());
		if (opened == O.conns && active == held)
			break;
		if (now_s() > dl) {
			note_error(NULL, "ramp-deadline", NULL);
			break;
		}
	}
	idle_failed = opened - active;
	double ramp = now_s() - t_start;
	/* Greeting time of new sessions while the others are held. */
	struct conn *probe = conn_alloc(-1);
	probe->probe = true;
	conns[O.conns] = probe;
	nconns = O.conns + 1;
	for (int s = 0; s < O.samples && !got_term; s++) {
		if (!conn_open(probe))
			break;
		double pdl = now_s() + O.timeout;
		while (probe->st != ST_DONE && now_s() < pdl)
			loop_once(5);
		if (probe->st != ST_DONE) {
			note_error(probe, "probe-timeout", NULL);
			conn_close(probe);
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	nconns = O.conns; /* the probe's slot is done */
	char res[1024];
	snprintf(res, sizeof res,
		 "mode=idle proto=%s conns=%d held=%d failed=%d ramp_s=%.2f login_p50_ms=%.3f "
		 "login_max_ms=%.3f greet_p50_ms=%.3f greet_p99_ms=%.3f greet_max_ms=%.3f "
		 "samples=%zu errors=%ld first_error=\"%s\"\n",
		 O.proto, O.conns, held, idle_failed, ramp, pct(&login_t, 50) * 1e3,
		 smax(&login_t) * 1e3, pct(&greet_t, 50) * 1e3, pct(&greet_t, 99) * 1e3,
		 smax(&greet_t) * 1e3, greet_t.n, errors, first_error);
	fputs(res, stdout);
	fflush(stdout);
	if (O.ready_file) {
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof tmp, "%s.tmp", O.ready_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fputs(res, f) < 0 || fclose(f) != 0 || rename(tmp, O.ready_file) < 0)
			die("cannot write %s", O.ready_file);
	}
	double hold_end = now_s() + O.hold;
	while (!got_term && now_s() < hold_end)
		loop_once(100);
	for (int i = 0; i < O.conns; i++)
		if (conns[i])
			conn_close(conns[i]);
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen smtp|pop3|idle --port P [--host 127.0.0.1] [--conns N]\n"
		"         [--duration S] [--max-msgs N] [--timeout S]\n"
		"   smtp: [--size BYTES] [--rcpts K] [--users U] [--user-base B]\n"
		"         [--user-fmt u%%d@localhost] [--per-session M] [--wait-root DIR]\n"
		"         [--wait-timeout S]\n"
		"   pop3: [--user-fmt p%%d@localhost] [--user-base B] [--pass PW] [--list] [--no-retr]\n"
		"   idle: --proto smtp|pop3 [--samples K] [--ready-file F] [--hold S] [--ramp R]\n"
		"         [--user-fmt i%%d@localhost] [--pass PW]\n");
	exit(2);
}

static long num(const char *s, long lo, long hi, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die("%s: %s is not in %ld..%ld", name, s, lo, hi);
	return v;
}

static double dnum(const char *s, double lo, double hi, const char *name)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= lo && v <= hi))
		die("%s: %s is not in %g..%g", name, s, lo, hi);
	return v;
}

static void raise_nofile(long want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if ((long)rl.rlim_cur >= want)
		return;
	/* Raising the hard limit needs CAP_SYS_RESOURCE; try, else settle
	 * for the hard limit. */
	struct rlimit hi = { (rlim_t)want, (rlim_t)want };
	if (setrlimit(RLIMIT_NOFILE, &hi) == 0)
		return;
	if ((long)rl.rlim_max < want)
		die("need %ld open files, the hard limit (ulimit -Hn) is %ld", want,
		    (long)rl.rlim_max);
	rl.rlim_cur = (rlim_t)want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("cannot raise open files to %ld (ulimit -n): %s", want, strerror(errno));
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	O.mode = argv[1];
	if (strcmp(O.mode, "smtp") && strcmp(O.mode, "pop3") && strcmp(O.mode, "idle"))
		usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
		if (ARG("--host"))
			O.host = v;
		else if (ARG("--port"))
			O.port = (int)num(v, 1, 65535, a);
		else if (ARG("--conns"))
			O.conns = (int)num(v, 1, 200000, a);
		else if (ARG("--duration"))
			O.duration = dnum(v, 0.1, MAX_DURATION, a);
		else if (ARG("--max-msgs"))
			O.max_msgs = num(v, 1, 100000000, a);
		else if (ARG("--timeout"))
			O.timeout = dnum(v, 0.1, 600, a);
		else if (ARG("--size"))
			O.size = (size_t)num(v, 64, 64L << 20, a);
		else if (ARG("--rcpts"))
			O.rcpts = (int)num(v, 1, 1000, a);
		else if (ARG("--users"))
			O.users = (int)num(v, 1, 1000000, a);
		else if (ARG("--user-base"))
			O.user_base = (int)num(v, 0, 100000000, a);
		else if (ARG("--user-fmt"))
			O.user_fmt = v;
		else if (ARG("--per-session"))
			O.per_session = (int)num(v, 1, 1000000, a);
		else if (ARG("--wait-root"))
			O.wait_root = v;
		else if (ARG("--wait-timeout"))
			O.wait_timeout = dnum(v, 1, 600, a);
		else if (ARG("--pass"))
			O.pass = v;
		else if (!strcmp(a, "--list"))
			O.list = true;
		else if (!strcmp(a, "--no-retr"))
			O.retr = false;
		else if (ARG("--proto"))
			O.proto = v;
		else if (ARG("--samples"))
			O.samples = (int)num(v, 0, 10000, a);
		else if (ARG("--ready-file"))
			O.ready_file = v;
		else if (ARG("--hold"))
			O.hold = dnum(v, 0, MAX_DURATION, a);
		else if (ARG("--ramp"))
			O.ramp = (int)num(v, 1, 100000, a);
		else
			usage();
#undef ARG
	}
	if (!O.port)
		usage();
	if (O.user_fmt) {
		/* exactly one %d and no other conversion */
		const char *p = strchr(O.user_fmt, '%');
		if (!p || p[1] != 'd' || strchr(p + 2, '%'))
			die("--user-fmt needs exactly one %%d");
	}
	memset(&target, 0, sizeof target);
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)O.port);
	if (inet_pton(AF_INET, O.host, &target.sin_addr) != 1)
		die("--host must be a numeric IPv4 address");
	/* Loopback only: this tool never sends load anywhere else. */
	if ((ntohl(target.sin_addr.s_addr) >> 24) != 127)
		die("--host must be in 127.0.0.0/8");
	raise_nofile((long)O.conns + 64);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	scratch = malloc(SCRATCH);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!scratch || epfd < 0)
		die("setup: %s", strerror(errno));
	if (!strcmp(O.mode, "smtp"))
		mode_smtp();
	else if (!strcmp(O.mode, "pop3"))
		mode_pop3();
	else
		mode_idle();
	fflush(stdout);
	return errors >= MAX_ERRORS ? 1 : 0;
}

