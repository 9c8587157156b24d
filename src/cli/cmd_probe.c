/* probe: "facteur probe" checks a mail server from the outside, as a
 * client: SMTP, then POP3, with a transcript of every line, a verdict per
 * step and a security summary (see doc/probe.md and src/probe/probe.h).
 *
 * This file only reads the command line and the password and prints the
 * report. Exit status: 0 when no step failed, 1 otherwise, 2 on usage. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"
#include "lib/secure.h"
#include "lib/strnum.h"
#include "probe/hostport.h"
#include "probe/probe.h"

static const char probe_usage[] =
	"usage: facteur probe [--smtp HOST[:PORT]] [--pop3 HOST[:PORT]] [--user NAME]\n"
	"                     [--password-stdin] [--from ADDR] [--to ADDR]\n"
	"                     [--tls auto|no|starttls|implicit] [--json] [--show-secrets]\n"
	"                     [--timeout SEC] [--cafile FILE | --insecure] [--servername NAME]\n"
	"  Checks a mail server as a client would and prints a transcript with a\n"
	"  verdict per step: SMTP greeting, EHLO, STARTTLS, AUTH and a test message;\n"
	"  POP3 greeting, CAPA, STLS, login, STAT/LIST/UIDL, then the test message\n"
	"  is found, read back, compared and deleted. At least one of --smtp and\n"
	"  --pop3. Ports default to 25/110 (465/995 with --tls implicit).\n"
	"  --user NAME          log in as NAME (password asked on the terminal)\n"
	"  --password-stdin     read the password from standard input instead\n"
	"  --from, --to ADDR    envelope of the test message (default: NAME)\n"
	"  --tls MODE           auto (default): STARTTLS/STLS when offered, never a\n"
	"                       password in the clear; no: plaintext only;\n"
	"                       starttls: required; implicit: TLS from the start\n"
	"  --cafile FILE        trust the certificates in FILE (default: the system's)\n"
	"  --insecure           go on when the certificate cannot be verified\n"
	"  --servername NAME    the name the certificate must carry (default: HOST)\n"
	"  --timeout SEC        per network operation, 1..3600 (default 10)\n"
	"  --show-secrets       do not mask passwords in the transcript\n"
	"  --json               print the report as one JSON object\n"
	"Exit status: 0 when every step passed (WARN and INFO allowed), 1 when\n"
	"one failed, 2 on a usage error.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("facteur probe: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (try facteur probe --help)\n", stderr);
	va_end(ap);
	return 2;
}

static bool parse_tls(const char *s, enum probe_tls *out)
{
	static const struct {
		const char *name;
		enum probe_tls mode;
	} modes[] = {
		{ "auto", PROBE_TLS_AUTO },
		{ "no", PROBE_TLS_NO },
		{ "starttls", PROBE_TLS_STARTTLS },
		{ "implicit", PROBE_TLS_IMPLICIT },
	};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		if (!strcmp(s, modes[i].name)) {
			*out = modes[i].mode;
			return true;
		}
	}
	return false;
}

static const char *tls_name(enum probe_tls t)
{
	switch (t) {
	case PROBE_TLS_AUTO:
		return "auto";
	case PROBE_TLS_NO:
		return "no";
	case PROBE_TLS_STARTTLS:
		return "starttls";
	case PROBE_TLS_IMPLICIT:
		return "implicit";
	}
	return "?";
}

int cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "smtp", required_argument, NULL, 's' },
		{ "pop3", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-stdin", no_argument, NULL, 'P' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "tls", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "show-secrets", no_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "cafile", required_argument, NULL, 'C' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "servername", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct probe_opts o = { .tls = PROBE_TLS_AUTO, .timeout_ms = 10000 };
	const char *smtp_arg = NULL, *pop3_arg = NULL;
	bool pw_stdin = false, json = false;
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		uint64_t v;
		switch (ch) {
		case 's': smtp_arg = optarg; break;
		case 'p': pop3_arg = optarg; break;
		case 'u': o.user = optarg; break;
		case 'P': pw_stdin = true; break;
		case 'f': o.from = optarg; break;
		case 't': o.to = optarg; break;
		case 'j': json = true; break;
		case 'S': o.show_secrets = true; break;
		case 'C': o.tlsopt.cafile = optarg; break;
		case 'k': o.tlsopt.insecure = true; break;
		case 'n': o.tlsopt.servername = optarg; break;
		case 'T':
			if (!parse_tls(optarg, &o.tls))
				return usage_error("--tls %s: expected auto, no, starttls or implicit",
						   optarg);
			break;
		case 'w':
			if (!strnum_u64_cstr(optarg, 3600, &v) || v == 0)
				return usage_error("--timeout %s: expected 1 to 3600 seconds", optarg);
			o.timeout_ms = (int)v * 1000;
			break;
		case 'h': fputs(probe_usage, stdout); return 0;
		default:
			return usage_error("unknown or incomplete option %s",
					   argv[optind - 1] ? argv[optind - 1] : "?");
		}
	}
	if (optind != argc)
		return usage_error("unexpected argument %s", argv[optind]);
	if (!smtp_arg && !pop3_arg)
		return usage_error("give --smtp HOST[:PORT], --pop3 HOST[:PORT] or both");
	if (o.tlsopt.cafile && o.tlsopt.insecure)
		return usage_error("--cafile and --insecure exclude each other");
	if (pw_stdin && !o.user)
		return usage_error("--password-stdin needs --user");
	bool implicit = o.tls == PROBE_TLS_IMPLICIT;
	char smtp_host[256], smtp_port[8], pop3_host[256], pop3_port[8];
	if (smtp_arg) {
		if (!hostport_split(smtp_arg, implicit ? "465" : "25", smtp_host, sizeof smtp_host,
				    smtp_port, sizeof smtp_port))
			return usage_error("--smtp %s: expected HOST[:PORT]", smtp_arg);
		o.smtp_host = smtp_host;
		o.smtp_port = smtp_port;
		const char *from = o.from ? o.from : o.user, *to = o.to ? o.to : o.user;
		if ((from && !strchr(from, '@')) || (to && !strchr(to, '@')))
			return usage_error("the test message needs addresses: give --from and "
					   "--to when --user is not one");
	}
	if (pop3_arg) {
		if (!hostport_split(pop3_arg, implicit ? "995" : "110", pop3_host, sizeof pop3_host,
				    pop3_port, sizeof pop3_port))
			return usage_error("--pop3 %s: expected HOST[:PORT]", pop3_arg);
		o.pop3_host = pop3_host;
		o.pop3_port = pop3_port;
	}

	char *password = NULL;
	if (o.user) {
		char prompt[300];
		snprintf(prompt, sizeof prompt, "Password for %s: ", o.user);
		password = cli_read_secret(prompt, pw_stdin, 0);
		if (!password)
			return 2;
		o.password = password;
	}
	signal(SIGPIPE, SIG_IGN);

	struct probe_state st;
	probe_state_init(&st);
	char title[800];
	snprintf(title, sizeof title, "facteur probe %s: SMTP %s%s%s, POP3 %s%s%s, user %s, --tls %s",
		 FACTEUR_VERSION, o.smtp_host ? o.smtp_host : "(none)", o.smtp_host ? " port " : "",
		 o.smtp_host ? o.smtp_port : "", o.pop3_host ? o.pop3_host : "(none)",
		 o.pop3_host ? " port " : "", o.pop3_host ? o.pop3_port : "",
		 o.user ? o.user : "(none)", tls_name(o.tls));
	report_set_title(&st.rep, title);
	if (o.smtp_host)
		probe_smtp(&o, &st);
	if (o.pop3_host)
		probe_pop3(&o, &st);
	if (password) {
		secure_wipe(password, strlen(password));
		free(password);
	}

	struct buf out;
	buf_init(&out, 0);
	bool ok = json ? report_format_json(&st.rep, &out) : report_format_text(&st.rep, &out);
	int rc = report_count(&st.rep, VERDICT_FAIL) || st.rep.oom || !ok ? 1 : 0;
	if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
		rc = 1;
	if (fflush(stdout) != 0)
		rc = 1;
	buf_release(&out);
	probe_state_free(&st);
	return rc;
}
