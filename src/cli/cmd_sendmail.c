/* sendmail: "facteur sendmail", the sendmail(8) command line that mail
 * programs (mutt, git send-email, cron, PHP's mail()) call to send a
 * message: the message on standard input, recipients as arguments or
 * (-t) from its headers. It is submitted over SMTP to the first
 * smtp_listen address of the configuration.
 *
 * All or nothing: if any recipient is refused, nothing is sent and the
 * exit status says why (sysexits.h): 64 usage, 65 message or sender
 * refused, 67 recipient refused, 69 server unreachable, 74 input error,
 * 75 temporary failure (4xx, timeout), 76 protocol error, 78 config. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cli/common.h"
#include "probe/addrlist.h"
#include "probe/conn.h"
#include "probe/message.h"
#include "probe/reply.h"
#include "probe/submit.h"

enum {
	EX_OK_ = 0, EX_USAGE_ = 64, EX_DATAERR_ = 65, EX_NOUSER_ = 67, EX_UNAVAILABLE_ = 69,
	EX_SOFTWARE_ = 70, EX_IOERR_ = 74, EX_TEMPFAIL_ = 75, EX_PROTOCOL_ = 76, EX_CONFIG_ = 78,
};

/* SMTP waits: RFC 5321 4.5.3.2 suggests minutes; a local server answers
 * at once unless something is wrong. */
#define SENDMAIL_TIMEOUT_MS 120000

static const char sendmail_usage[] =
	"usage: facteur sendmail [-t] [-f ADDR] [-F NAME] [-i | -oi] [-bm] [-v] [-c FILE]\n"
	"                        [--] [recipients...]\n"
	"  Sends the message on standard input through the local facteur (the\n"
	"  first smtp_listen address). Without -i a line with a single \".\" ends\n"
	"  the input. -t adds the recipients of the To, Cc and Bcc fields; Bcc is\n"
	"  removed. From, Date and Message-ID are added when missing. -f sets the\n"
	"  envelope sender (default: your login name at the first domain), -F the\n"
	"  From name. Other -o options are ignored, as sendmail does.\n";

struct sm_args {
	bool extract, ignore_dots, verbose;
	const char *sender, *fullname, *conf_path;
	char **rcpts;
	int nrcpts;
};

/* Options that take a value and are ignored (sendmail and Postfix). */
static const char ignored_with_arg[] = "BChLNORVX";
/* Flags that are ignored. */
static const char ignored_flags[] = "mnUGAe";

static int parse_args(int argc, char **argv, struct sm_args *a)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--")) {
			i++;
			break;
		}
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(sendmail_usage, stdout);
			return -1;
		}
		char opt = s[1];
		const char *val = s[2] ? s + 2 : NULL;
		bool takes = opt == 'f' || opt == 'r' || opt == 'F' || opt == 'c' ||
			     strchr(ignored_with_arg, opt);
		if (takes && !val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "facteur sendmail: -%c needs a value\n", opt);
				return EX_USAGE_;
			}
			val = argv[++i];
		}
		switch (opt) {
		case 't': a->extract = true; break;
		case 'i': a->ignore_dots = true; break;
		case 'v': a->verbose = true; break;
		case 'f':
		case 'r': a->sender = val; break;
		case 'F': a->fullname = val; break;
		case 'c': a->conf_path = val; break;
		case 'o':
			/* -oi is -i; -oem, -odb, -oQ... are sendmail tuning. */
			if (val && !strcmp(val, "i"))
				a->ignore_dots = true;
			break;
		case 'b':
			if (!val || strcmp(val, "m") != 0) {
				fprintf(stderr, "facteur sendmail: -b%s is not supported (only -bm, "
					"deliver mail)\n", val ? val : "");
				return EX_USAGE_;
			}
			break;
		default:
			if (strchr(ignored_with_arg, opt) || (strchr(ignored_flags, opt) && !val))
				break;
			fprintf(stderr, "facteur sendmail: unknown option %s\n", s);
			return EX_USAGE_;
		}
	}
	a->rcpts = argv + i;
	a->nrcpts = argc - i;
	return 0;
}

/* Reads standard input up to max bytes; without -i, up to a "." line. */
static int read_input(struct buf *in, bool ignore_dots, uint64_t max)
{
	size_t scan = 0;
	for (;;) {
		uint8_t tmp[65536];
		ssize_t n = read(STDIN_FILENO, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("facteur sendmail: reading standard input");
			return EX_IOERR_;
		}
		if (n == 0)
			return 0;
		if (in->len + (size_t)n > max) {
			fprintf(stderr, "facteur sendmail: the message is larger than "
				"max_message_size (%llu bytes)\n", (unsigned long long)max);
			return EX_DATAERR_;
		}
		if (!buf_append(in, tmp, (size_t)n)) {
			fprintf(stderr, "facteur sendmail: out of memory\n");
			return EX_SOFTWARE_;
		}
		if (ignore_dots)
			continue;
		size_t dot = submit_dot_line(in->data, in->len, scan);
		if (dot < in->len) {
			in->len = dot;
			return 0;
		}
		/* Rescan from the last line start: it may be incomplete. */
		while (scan < in->len) {
			const uint8_t *lf = memchr(in->data + scan, '\n', in->len - scan);
			if (!lf)
				break;
			scan = (size_t)(lf - in->data) + 1;
		}
	}
}

struct sm_smtp {
	struct probe_conn c;
	struct smtp_reply r;
};

/* Reads a reply: 0, or an exit status after saying what went wrong. */
static int read_reply(struct sm_smtp *s)
{
	smtp_reply_clear(&s->r);
	for (;;) {
		struct probe_line l;
		enum pconn_read pr = pconn_read_line(&s->c, &l);
		if (pr != PCONN_LINE) {
			fprintf(stderr, "facteur sendmail: %s\n", s->c.err);
			return pr == PCONN_TOO_LONG ? EX_PROTOCOL_ : EX_TEMPFAIL_;
		}
		enum reply_result rr = smtp_reply_line(&s->r, l.text, l.len);
		if (rr == REPLY_DONE)
			return 0;
		if (rr == REPLY_BAD) {
			fprintf(stderr, "facteur sendmail: malformed reply from the server: %s\n",
				s->r.why);
			return EX_PROTOCOL_;
		}
	}
}

static int command(struct sm_smtp *s, const char *line)
{
	if (pconn_send(&s->c, line, NULL) < 0) {
		fprintf(stderr, "facteur sendmail: %s\n", s->c.err);
		return EX_TEMPFAIL_;
	}
	return read_reply(s);
}

/* Prints "facteur sendmail: what: <every line of the reply>". */
static void say(const char *what, const struct smtp_reply *r)
{
	size_t pos = 0, len;
	const char *t;
	while (smtp_reply_next_text(r, &pos, &t, &len)) {
		char esc[600];
		display_escape(t, len, esc, sizeof esc);
		fprintf(stderr, "facteur sendmail: %s: %d %s\n", what, r->code, esc);
	}
}

/* The exit status for a refusal at a stage: 4xx is always temporary. */
static int refused(const struct smtp_reply *r, int permanent)
{
	return r->code / 100 == 4 ? EX_TEMPFAIL_ : permanent;
}

static int transaction(struct sm_smtp *s, const char *sender, const struct buf *rcpts,
		       const struct submit_out *msg, const struct ehlo_info *e)
{
	char line[600];
	int n = snprintf(line, sizeof line, "MAIL FROM:<%s>", sender);
	if (e && ehlo_find(e, "SIZE"))
		n += snprintf(line + n, sizeof line - (size_t)n, " SIZE=%zu", msg->message.len);
	if (e && msg->eight_bit && ehlo_find(e, "8BITMIME"))
		snprintf(line + n, sizeof line - (size_t)n, " BODY=8BITMIME");
	int rc = command(s, line);
	if (rc)
		return rc;
	if (s->r.code != 250) {
		say("sender refused", &s->r);
		return refused(&s->r, EX_DATAERR_);
	}
	int worst = 0;
	size_t off = 0;
	for (const char *p; (p = nul_list_next(rcpts, &off));) {
		snprintf(line, sizeof line, "RCPT TO:<%s>", p);
		if ((rc = command(s, line)))
			return rc;
		if (s->r.code == 250 || s->r.code == 251)
			continue;
		char what[300];
		snprintf(what, sizeof what, "<%s> refused", p);
		say(what, &s->r);
		rc = refused(&s->r, EX_NOUSER_);
		if (worst != EX_NOUSER_)
			worst = rc;
	}
	if (worst) {
		fprintf(stderr, "facteur sendmail: nothing was sent\n");
		if (command(s, "RSET") == 0)
			command(s, "QUIT");
		return worst;
	}
	if ((rc = command(s, "DATA")))
		return rc;
	if (s->r.code != 354) {
		say("DATA refused", &s->r);
		return refused(&s->r, EX_DATAERR_);
	}
	struct buf wire;
	buf_init(&wire, 0);
	if (!smtp_dot_stuff(msg->message.data, msg->message.len, &wire)) {
		buf_release(&wire);
		fprintf(stderr, "facteur sendmail: out of memory\n");
		return EX_SOFTWARE_;
	}
	rc = pconn_send_data(&s->c, wire.data, wire.len) < 0 ? EX_TEMPFAIL_ : read_reply(s);
	buf_release(&wire);
	if (rc) {
		fprintf(stderr, "facteur sendmail: no answer to the message: it may or may not "
			"have been accepted\n");
		return rc;
	}
	if (s->r.code != 250) {
		say("message refused", &s->r);
		return refused(&s->r, EX_DATAERR_);
	}
	command(s, "QUIT");
	return 0;
}

static int submit(const struct listener_cfg *l, const char *sender, const struct buf *rcpts,
		  const struct submit_out *msg, struct report *rep)
{
	struct sm_smtp s;
	pconn_init(&s.c);
	smtp_reply_init(&s.r);
	struct ehlo_info *e = calloc(1, sizeof *e);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char port[8];
	snprintf(port, sizeof port, "%u", (unsigned)l->port);
	int rc;
	char line[128];
	if (!e) {
		rc = EX_SOFTWARE_;
	} else if (pconn_connect(&s.c, l->addr, port, SENDMAIL_TIMEOUT_MS, rep, &t0) < 0) {
		fprintf(stderr, "facteur sendmail: %s (is facteur serve running?)\n", s.c.err);
		rc = EX_UNAVAILABLE_;
	} else if ((rc = read_reply(&s)) == 0 && s.r.code != 220) {
		say("the server refuses the session", &s.r);
		rc = refused(&s.r, EX_UNAVAILABLE_);
	} else if (rc == 0) {
		snprintf(line, sizeof line, "EHLO %s", s.c.ehlo_literal);
		rc = command(&s, line);
		bool esmtp = rc == 0 && s.r.code == 250;
		if (esmtp)
			ehlo_parse(&s.r, e);
		if (rc == 0 && !esmtp) {
			snprintf(line, sizeof line, "HELO %s", s.c.ehlo_literal);
			rc = command(&s, line);
			if (rc == 0 && s.r.code != 250) {
				say("HELO refused", &s.r);
				rc = refused(&s.r, EX_UNAVAILABLE_);
			}
		}
		if (rc == 0)
			rc = transaction(&s, sender, rcpts, msg, esmtp ? e : NULL);
	}
	pconn_close(&s.c);
	smtp_reply_clear(&s.r);
	free(e);
	return rc;
}

/* Makes the Date and Message-ID values. */
static bool stamp(const char *host, char *date, size_t datesz, char *id, size_t idsz)
{
	unsigned char rnd[8];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return false;
	time_t now = time(NULL);
	struct tm tm;
	if (!localtime_r(&now, &tm) || !strftime(date, datesz, "%a, %d %b %Y %H:%M:%S %z", &tm))
		return false;
	char hex[17];
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return snprintf(id, idsz, "<%lld.%s@%s>", (long long)now, hex, host) < (int)idsz;
}

static int run(const struct sm_args *a, const struct conf *c)
{
	const struct listener_cfg *l = NULL;
	for (size_t i = 0; i < c->nlisteners && !l; i++)
		if (c->listeners[i].proto == LISTEN_SMTP)
			l = &c->listeners[i];
	if (!l) {
		fprintf(stderr, "facteur sendmail: no smtp_listen address in the configuration\n");
		return EX_CONFIG_;
	}
	const char *domain = c->domains[0];
	const struct passwd *pw = getpwuid(getuid());
	const char *login = pw && pw->pw_name ? pw->pw_name : getenv("LOGNAME");
	char self[ADDRLIST_ADDR_MAX + 1], date[64], id[300];
	if (!login || snprintf(self, sizeof self, "%s@%s", login, domain) >= (int)sizeof self) {
		fprintf(stderr, "facteur sendmail: cannot tell who you are: give -f ADDR\n");
		return EX_USAGE_;
	}
	/* -f "" and -f "<>" ask for the null reverse-path (RFC 5321 4.5.5). */
	const char *sender = a->sender ? a->sender : self;
	if (!strcmp(sender, "<>"))
		sender = "";
	char fullname[128] = "";
	if (a->fullname)
		snprintf(fullname, sizeof fullname, "%s", a->fullname);
	else if (!a->sender && pw && pw->pw_gecos) /* the name goes with the login's address */
		snprintf(fullname, sizeof fullname, "%.*s", (int)strcspn(pw->pw_gecos, ","),
			 pw->pw_gecos);
	if (!stamp(c->hostname, date, sizeof date, id, sizeof id)) {
		fprintf(stderr, "facteur sendmail: cannot make a Message-ID\n");
		return EX_SOFTWARE_;
	}

	struct buf in;
	buf_init(&in, 0);
	int rc = read_input(&in, a->ignore_dots, c->max_message_size);
	struct submit_out out;
	buf_init(&out.message, 0);
	buf_init(&out.rcpts, 0);
	out.nrcpts = 0;
	struct submit_in si = {
		.from_addr = sender[0] ? sender : self, .from_name = fullname, .date = date,
		.message_id = id, .domain = domain, .extract = a->extract,
	};
	if (rc == 0 && !submit_prepare(in.data ? in.data : (const uint8_t *)"", in.len, &si, &out)) {
		fprintf(stderr, "facteur sendmail: %s\n", out.err);
		rc = EX_DATAERR_;
	}
	for (int i = 0; rc == 0 && i < a->nrcpts; i++) {
		struct buf found;
		buf_init(&found, 0);
		int n = addrlist_parse(a->rcpts[i], strlen(a->rcpts[i]), &found);
		size_t off = 0;
		for (const char *p; n > 0 && (p = nul_list_next(&found, &off));)
			if (!submit_add_rcpt(&out.rcpts, &out.nrcpts, p, strlen(p), domain))
				n = -1;
		if (n < 0) {
			fprintf(stderr, "facteur sendmail: bad recipient address %s\n", a->rcpts[i]);
			rc = EX_USAGE_;
		}
		buf_release(&found);
	}
	if (rc == 0 && out.nrcpts == 0) {
		fprintf(stderr, "facteur sendmail: no recipients (give them as arguments, or -t)\n");
		rc = EX_USAGE_;
	}
	if (rc == 0) {
		struct report rep;
		report_init(&rep);
		rc = submit(l, sender, &out.rcpts, &out, a->verbose ? &rep : NULL);
		if (a->verbose) {
			struct buf text;
			buf_init(&text, 0);
			if (report_format_transcript(&rep, &text))
				fwrite(text.data, 1, text.len, stderr);
			buf_release(&text);
		}
		report_free(&rep);
	}
	buf_release(&in);
	buf_release(&out.message);
	buf_release(&out.rcpts);
	return rc;
}

int cmd_sendmail(int argc, char **argv)
{
	struct sm_args a = { 0 };
	int rc = parse_args(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	struct conf c;
	if (cli_load_conf(a.conf_path, &c) < 0)
		return EX_CONFIG_;
	signal(SIGPIPE, SIG_IGN);
	rc = run(&a, &c);
	conf_free(&c);
	return rc;
}
