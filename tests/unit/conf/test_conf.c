/* Unit tests for src/conf: defaults, every key, every error with its line,
 * listeners (IPv4 and IPv6), conf_load paths and conf_format round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "lib/buf.h"
#include "lib/log.h"

static int parse(struct conf *c, const char *text, char *err, size_t errlen)
{
	assert_int_equal(conf_defaults(c), 0);
	return conf_parse("t.conf", text, strlen(text), c, err, errlen);
}

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(unsetenv("FACTEUR_HOME"), 0);
	struct conf c;
	assert_int_equal(conf_defaults(&c), 0);
	char cwd[PATH_MAX], want[PATH_MAX + 32];
	assert_non_null(getcwd(cwd, sizeof cwd));
	snprintf(want, sizeof want, "%s/facteur-data", cwd);
	assert_string_equal(c.data_dir, want);
	assert_non_null(c.hostname);
	assert_true(strlen(c.hostname) > 0);
	assert_int_equal(c.ndomains, 1);
	assert_string_equal(c.domains[0], "localhost");
	assert_string_equal(c.postmaster, "");
	assert_int_equal(c.nlisteners, 5);
	assert_int_equal(c.listeners[2].proto, LISTEN_SUBMISSION);
	assert_int_equal(c.listeners[2].port, 5870);
	assert_int_equal(c.listeners[3].proto, LISTEN_SMTPS);
	assert_int_equal(c.listeners[3].port, 4465);
	assert_int_equal(c.listeners[4].proto, LISTEN_POP3S);
	assert_int_equal(c.listeners[4].port, 9995);
	assert_int_equal(c.max_auth_failures, 3);
	assert_int_equal(c.ncleartext_auth_nets, 2);
	assert_true(cidr_match_text(c.cleartext_auth_nets, c.ncleartext_auth_nets, "127.0.0.2"));
	assert_true(cidr_match_text(c.cleartext_auth_nets, c.ncleartext_auth_nets, "::1"));
	assert_false(cidr_match_text(c.cleartext_auth_nets, c.ncleartext_auth_nets, "10.0.0.1"));
	assert_int_equal(c.listeners[0].proto, LISTEN_SMTP);
	assert_string_equal(c.listeners[0].addr, "127.0.0.1");
	assert_int_equal(c.listeners[0].port, 2525);
	assert_int_equal(c.listeners[1].proto, LISTEN_POP3);
	assert_string_equal(c.listeners[1].addr, "127.0.0.1");
	assert_int_equal(c.listeners[1].port, 1100);
	assert_true(c.max_message_size == 25u * 1024 * 1024);
	assert_int_equal(c.max_recipients, 100);
	assert_int_equal(c.smtp_max_line, 512);
	assert_int_equal(c.smtp_max_text_line, 1000);
	assert_int_equal(c.max_errors, 20);
	assert_int_equal(c.smtp_timeout, 300);
	assert_int_equal(c.smtp_data_timeout, 600);
	assert_int_equal(c.pop3_timeout, 600);
	assert_int_equal(c.max_connections, 20000);
	assert_int_equal(c.max_connections_per_ip, 500);
	assert_true(c.apop);
	assert_false(c.vrfy);
	assert_int_equal(c.auth_fail_delay_ms, 1000);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.log_level, LOG_INFO);
	assert_true(c.loopback_only);
	conf_free(&c);

	assert_int_equal(setenv("FACTEUR_HOME", "/srv/mail", 1), 0);
	assert_int_equal(conf_defaults(&c), 0);
	assert_string_equal(c.data_dir, "/srv/mail");
	conf_free(&c);
	assert_int_equal(setenv("FACTEUR_HOME", "./rel/dir", 1), 0);
	assert_int_equal(conf_defaults(&c), 0);
	snprintf(want, sizeof want, "%s/rel/dir", cwd);
	assert_string_equal(c.data_dir, want);
	conf_free(&c);
	assert_int_equal(unsetenv("FACTEUR_HOME"), 0);
}

static const char full_text[] =
	"# every key\n"
	"hostname = mx.example.org\n"
	"data_dir = /var/lib/facteur\n"
	"domains = Example.org, example.net ,localhost\n"
	"postmaster = Root@example.net\n"
	"smtp_listen = 0.0.0.0:25, [::]:25 , [::1]:2525\n"
	"pop3_listen = 127.0.0.1:110,[2001:db8::1]:995\n"
	"submission_listen = 127.0.0.1:587\n"
	"smtps_listen = [::1]:465\n"
	"pop3s_listen = 127.0.0.1:9950\n"
	"tls_cert = /etc/ssl/mx.pem\n"
	"tls_key = /etc/ssl/mx.key\n"
	"cleartext_auth_networks = 127.0.0.1, 10.0.0.0/8\n"
	"max_auth_failures = 5\n"
	"max_message_size = 10M\n"
	"max_recipients = 250\n"
	"smtp_max_line = 1024\n"
	"smtp_max_text_line = 2000\n"
	"max_errors = 5\n"
	"smtp_timeout = 30\n"
	"smtp_data_timeout = 60\n"
	"pop3_timeout = 90\n"
	"max_connections = 100\n"
	"max_connections_per_ip = 10\n"
	"apop = no\n"
	"vrfy = yes\n"
	"auth_fail_delay = 250ms\n"
	"workers = 8\n"
	"log_level = debug\n";

static void check_full(const struct conf *c)
{
	assert_string_equal(c->hostname, "mx.example.org");
	assert_string_equal(c->data_dir, "/var/lib/facteur");
	assert_int_equal(c->ndomains, 3);
	assert_string_equal(c->domains[0], "example.org");
	assert_string_equal(c->domains[1], "example.net");
	assert_string_equal(c->domains[2], "localhost");
	assert_string_equal(c->postmaster, "root@example.net");
	assert_int_equal(c->nlisteners, 8);
	assert_string_equal(c->tls_cert, "/etc/ssl/mx.pem");
	assert_string_equal(c->tls_key, "/etc/ssl/mx.key");
	assert_int_equal(c->ncleartext_auth_nets, 2);
	assert_int_equal(c->max_auth_failures, 5);
	static const struct {
		enum listener_proto proto;
		const char *addr;
		uint16_t port;
	} want[] = {
		{ LISTEN_SMTP, "0.0.0.0", 25 },
		{ LISTEN_SMTP, "::", 25 },
		{ LISTEN_SMTP, "::1", 2525 },
		{ LISTEN_POP3, "127.0.0.1", 110 },
		{ LISTEN_POP3, "2001:db8::1", 995 },
		{ LISTEN_SUBMISSION, "127.0.0.1", 587 },
		{ LISTEN_SMTPS, "::1", 465 },
		{ LISTEN_POP3S, "127.0.0.1", 9950 },
	};
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(c->listeners[i].proto, want[i].proto);
		assert_string_equal(c->listeners[i].addr, want[i].addr);
		assert_int_equal(c->listeners[i].port, want[i].port);
	}
	assert_true(c->max_message_size == 10u * 1024 * 1024);
	assert_int_equal(c->max_recipients, 250);
	assert_int_equal(c->smtp_max_line, 1024);
	assert_int_equal(c->smtp_max_text_line, 2000);
	assert_int_equal(c->max_errors, 5);
	assert_int_equal(c->smtp_timeout, 30);
	assert_int_equal(c->smtp_data_timeout, 60);
	assert_int_equal(c->pop3_timeout, 90);
	assert_int_equal(c->max_connections, 100);
	assert_int_equal(c->max_connections_per_ip, 10);
	assert_false(c->apop);
	assert_true(c->vrfy);
	assert_int_equal(c->auth_fail_delay_ms, 250);
	assert_int_equal(c->workers, 8);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_false(c->loopback_only);
}

static void test_parse_every_key(void **state)
{
	(void)state;
	struct conf c;
	char err[256] = "";
	assert_int_equal(parse(&c, full_text, err, sizeof err), 0);
	check_full(&c);
	conf_free(&c);
}

static void test_format_round_trip(void **state)
{
	(void)state;
	struct conf c, d;
	char err[256] = "";
	assert_int_equal(parse(&c, full_text, err, sizeof err), 0);
	struct buf b;
	buf_init(&b, 0);
	assert_true(conf_format(&c, &b));
	assert_int_equal(conf_defaults(&d), 0);
	assert_int_equal(conf_parse("fmt", (const char *)b.data, b.len, &d, err, sizeof err), 0);
	check_full(&d);
	conf_free(&d);
	buf_release(&b);
	conf_free(&c);

	/* Defaults too (empty postmaster, listeners "none"). */
	assert_int_equal(parse(&c, "smtp_listen = none\n", err, sizeof err), 0);
	buf_init(&b, 0);
	assert_true(conf_format(&c, &b));
	assert_int_equal(conf_defaults(&d), 0);
	assert_int_equal(conf_parse("fmt", (const char *)b.data, b.len, &d, err, sizeof err), 0);
	assert_string_equal(d.postmaster, "");
	assert_int_equal(d.nlisteners, 0);
	assert_true(d.max_message_size == c.max_message_size);
	assert_int_equal(d.auth_fail_delay_ms, c.auth_fail_delay_ms);
	assert_int_equal(d.log_level, c.log_level);
	conf_free(&d);
	buf_release(&b);
	conf_free(&c);
}

static void test_syntax_comments_blanks_crlf(void **state)
{
	(void)state;
	struct conf c;
	char err[256] = "";
	static const char text[] =
		"\n"
		"   # indented comment\n"
		"\t\n"
		"workers=2   # trailing comment\r\n"
		"\thostname\t=\tmail.example.org\t\r\n"
		"data_dir = /srv/a#b\n" /* '#' inside a word is kept */
		"max_recipients = 7";   /* no final newline */
	assert_int_equal(parse(&c, text, err, sizeof err), 0);
	assert_int_equal(c.workers, 2);
	assert_string_equal(c.hostname, "mail.example.org");
	assert_string_equal(c.data_dir, "/srv/a#b");
	assert_int_equal(c.max_recipients, 7);
	conf_free(&c);

	assert_int_equal(parse(&c, "", err, sizeof err), 0);
	assert_false(c.loopback_only); /* any parsed file leaves quick-start mode */
	conf_free(&c);
}

static void test_values(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint64_t size;
	} sizes[] = {
		{ "max_message_size = 1000", 1000 },
		{ "max_message_size = 512K", 512 * 1024 },
		{ "max_message_size = 512k", 512 * 1024 },
		{ "max_message_size = 25M", 25 * 1024 * 1024 },
		{ "max_message_size = 1G", 1024 * 1024 * 1024 },
		{ "max_message_size = 1", 1 },
	};
	struct conf c;
	char err[256];
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		assert_int_equal(parse(&c, sizes[i].text, err, sizeof err), 0);
		assert_true(c.max_message_size == sizes[i].size);
		conf_free(&c);
	}
	static const char *const yes[] = { "yes", "YES", "true", "on", "1" };
	static const char *const no[] = { "no", "False", "off", "0" };
	char line[64];
	for (size_t i = 0; i < 5; i++) {
		snprintf(line, sizeof line, "vrfy = %s\n", yes[i]);
		assert_int_equal(parse(&c, line, err, sizeof err), 0);
		assert_true(c.vrfy);
		conf_free(&c);
	}
	for (size_t i = 0; i < 4; i++) {
		snprintf(line, sizeof line, "apop = %s\n", no[i]);
		assert_int_equal(parse(&c, line, err, sizeof err), 0);
		assert_false(c.apop);
		conf_free(&c);
	}
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "error", LOG_ERROR }, { "warn", LOG_WARN }, { "warning", LOG_WARN },
		{ "INFO", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < 5; i++) {
		snprintf(line, sizeof line, "log_level = %s\n", levels[i].name);
		assert_int_equal(parse(&c, line, err, sizeof err), 0);
		assert_int_equal(c.log_level, levels[i].level);
		conf_free(&c);
	}
	/* Limits at their edges. */
	assert_int_equal(parse(&c, "smtp_max_line = 512\nsmtp_max_text_line = 1000\n"
				   "max_recipients = 1\nauth_fail_delay = 0\nworkers = 256\n",
			       err, sizeof err), 0);
	assert_int_equal(c.auth_fail_delay_ms, 0);
	conf_free(&c);
	/* postmaster: a bare local part gets the first domain. */
	assert_int_equal(parse(&c, "postmaster = Admin\ndomains = b.org, a.org\n", err,
			       sizeof err), 0);
	assert_string_equal(c.postmaster, "admin@b.org");
	assert_true(conf_is_local_domain(&c, "A.ORG"));
	assert_false(conf_is_local_domain(&c, "c.org"));
	assert_false(conf_is_local_domain(&c, NULL));
	conf_free(&c);
}

static void test_listeners_replace_per_protocol(void **state)
{
	(void)state;
	struct conf c;
	char err[256];
	/* Naming one listener key turns the other quick-start ports off. */
	assert_int_equal(parse(&c, "pop3_listen = [::1]:1100\n", err, sizeof err), 0);
	assert_int_equal(c.nlisteners, 1);
	assert_int_equal(c.listeners[0].proto, LISTEN_POP3);
	assert_string_equal(c.listeners[0].addr, "::1");
	assert_int_equal(c.listeners[0].port, 1100);
	conf_free(&c);

	assert_int_equal(parse(&c, "smtp_listen = 127.0.0.1:25\nsubmission_listen = 127.0.0.1:587\n"
			       "cleartext_auth_networks = none\n", err, sizeof err), 0);
	assert_int_equal(c.nlisteners, 2);
	assert_int_equal(c.listeners[1].proto, LISTEN_SUBMISSION);
	assert_int_equal(c.ncleartext_auth_nets, 0);
	conf_free(&c);

	assert_int_equal(parse(&c, "cleartext_auth_networks = 10.0.0.1/8\n", err, sizeof err), -1);
	conf_free(&c);
	assert_int_equal(parse(&c, "cleartext_auth_networks = 10.0.0.0/8, fd00::/8, 192.0.2.1\n",
			       err, sizeof err), 0);
	assert_int_equal(c.ncleartext_auth_nets, 3);
	assert_true(cidr_match_text(c.cleartext_auth_nets, 3, "10.9.8.7"));
	assert_true(cidr_match_text(c.cleartext_auth_nets, 3, "::ffff:10.1.1.1"));
	assert_true(cidr_match_text(c.cleartext_auth_nets, 3, "fd12::1"));
	assert_false(cidr_match_text(c.cleartext_auth_nets, 3, "192.0.2.2"));
	assert_false(cidr_match_text(c.cleartext_auth_nets, 3, "127.0.0.1"));
	conf_free(&c);

	assert_int_equal(parse(&c, "smtp_listen = none\npop3_listen = NONE\n", err, sizeof err), 0);
	assert_int_equal(c.nlisteners, 0);
	conf_free(&c);

	assert_int_equal(parse(&c, "smtp_listen = [::ffff:127.0.0.1]:25, 10.0.0.1:65535\n",
			       err, sizeof err), 0);
	assert_int_equal(c.nlisteners, 2);
	assert_string_equal(c.listeners[0].addr, "::ffff:127.0.0.1");
	assert_int_equal(c.listeners[1].port, 65535);
	conf_free(&c);
}

static void test_errors_name_file_and_line(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{ "workers = 2\n\nbogus = 1\n", "t.conf:3: unknown key 'bogus'" },
		{ "# x\nworkers\n", "t.conf:2: missing '=' (expected key = value)" },
		{ "= 3\n", "t.conf:1: missing key before '='" },
		{ "workers =\n", "t.conf:1: missing value for 'workers'" },
		{ "workers = # none\n", "t.conf:1: missing value for 'workers'" },
		{ "workers = 2\nhostname = a\nworkers = 3\n",
		  "t.conf:3: duplicate key 'workers' (first on line 1)" },
		{ "workers = two\n", "t.conf:1: workers: expected a number from 1 to 256" },
		{ "workers = 0\n", "t.conf:1: workers: expected a number from 1 to 256" },
		{ "workers = 257\n", "t.conf:1: workers: expected a number from 1 to 256" },
		{ "workers = -1\n", "t.conf:1: workers: expected a number from 1 to 256" },
		{ "workers = 8 cores\n", "t.conf:1: workers: expected a number from 1 to 256" },
		{ "max_recipients = 0\n",
		  "t.conf:1: max_recipients: expected a number from 1 to 100000" },
		{ "max_recipients = 4294967297\n",
		  "t.conf:1: max_recipients: expected a number from 1 to 100000" },
		{ "smtp_max_line = 511\n",
		  "t.conf:1: smtp_max_line: expected a number from 512 to 65536" },
		{ "smtp_max_text_line = 999\n",
		  "t.conf:1: smtp_max_text_line: expected a number from 1000 to 1048576" },
		{ "max_errors = 0\n", "t.conf:1: max_errors: expected a number from 1 to 1000" },
		{ "smtp_timeout = 0\n", "t.conf:1: smtp_timeout: expected a number from 1 to 86400" },
		{ "smtp_data_timeout = 86401\n",
		  "t.conf:1: smtp_data_timeout: expected a number from 1 to 86400" },
		{ "pop3_timeout = 1m\n", "t.conf:1: pop3_timeout: expected a number from 1 to 86400" },
		{ "max_connections = 0\n",
		  "t.conf:1: max_connections: expected a number from 1 to 1000000" },
		{ "max_connections_per_ip = 1000001\n",
		  "t.conf:1: max_connections_per_ip: expected a number from 1 to 1000000" },
		{ "auth_fail_delay = 60001\n",
		  "t.conf:1: auth_fail_delay: expected milliseconds from 0 to 60000" },
		{ "auth_fail_delay = 1s\n",
		  "t.conf:1: auth_fail_delay: expected milliseconds from 0 to 60000" },
		{ "auth_fail_delay = ms\n",
		  "t.conf:1: auth_fail_delay: expected milliseconds from 0 to 60000" },
		{ "max_message_size = 2G\n",
		  "t.conf:1: max_message_size: expected a size from 1 to 1G (suffix K, M or G)" },
		{ "max_message_size = 0\n",
		  "t.conf:1: max_message_size: expected a size from 1 to 1G (suffix K, M or G)" },
		{ "max_message_size = 25X\n",
		  "t.conf:1: max_message_size: expected a size from 1 to 1G (suffix K, M or G)" },
		{ "max_message_size = M\n",
		  "t.conf:1: max_message_size: expected a size from 1 to 1G (suffix K, M or G)" },
		{ "max_message_size = 99999999999999999999K\n",
		  "t.conf:1: max_message_size: expected a size from 1 to 1G (suffix K, M or G)" },
		{ "apop = maybe\n", "t.conf:1: apop: expected yes or no" },
		{ "vrfy = y\n", "t.conf:1: vrfy: expected yes or no" },
		{ "log_level = loud\n", "t.conf:1: log_level: expected error, warn, info or debug" },
		{ "hostname = mx_1.example\n",
		  "t.conf:1: hostname: not a valid host name (letters, digits, '-', '.')" },
		{ "hostname = a..b\n",
		  "t.conf:1: hostname: not a valid host name (letters, digits, '-', '.')" },
		{ "domains = a.org,,b.org\n", "t.conf:1: domains: empty item in the list" },
		{ "domains = a.org, A.ORG\n", "t.conf:1: domains: 'a.org' listed twice" },
		{ "domains = a/b\n", "t.conf:1: domains: 'a/b' is not a valid domain" },
		{ "postmaster = a b\n", "t.conf:1: postmaster: not a valid account name" },
		{ "postmaster = ../x@localhost\n", "t.conf:1: postmaster: not a valid account name" },
		{ "domains = a.org\n\npostmaster = root@b.org\n",
		  "t.conf:3: postmaster: domain 'b.org' is not one of the domains" },
		{ "smtp_listen = localhost:25\n",
		  "t.conf:1: smtp_listen: 'localhost' is not a numeric IPv4 address" },
		{ "smtp_listen = 127.0.0.1\n",
		  "t.conf:1: smtp_listen: expected address:port (IPv6 as [addr]:port)" },
		{ "smtp_listen = ::1:25\n",
		  "t.conf:1: smtp_listen: expected address:port (IPv6 as [addr]:port)" },
		{ "smtp_listen = [::1]25\n", "t.conf:1: smtp_listen: expected [IPv6]:port" },
		{ "smtp_listen = [::1\n", "t.conf:1: smtp_listen: expected [IPv6]:port" },
		{ "smtp_listen = [127.0.0.1]:25\n",
		  "t.conf:1: smtp_listen: '127.0.0.1' is not a numeric IPv6 address" },
		{ "smtp_listen = [fe80::1%eth0]:25\n",
		  "t.conf:1: smtp_listen: 'fe80::1%eth0' is not a numeric IPv6 address" },
		{ "smtp_listen = 1.2.3.4:0\n", "t.conf:1: smtp_listen: port must be 1 to 65535" },
		{ "smtp_listen = 1.2.3.4:65536\n", "t.conf:1: smtp_listen: port must be 1 to 65535" },
		{ "smtp_listen = 1.2.3.4:\n", "t.conf:1: smtp_listen: port must be 1 to 65535" },
		{ "smtp_listen = :25\n", "t.conf:1: smtp_listen: missing or over-long address" },
		{ "pop3_listen = 1.2.3.4:110, 1.2.3.4:110\n",
		  "t.conf:1: pop3_listen: '1.2.3.4:110' listed twice" },
		{ "pop3_listen = 1.2.3.4:110,\n", "t.conf:1: pop3_listen: empty item in the list" },
		{ "data_dir = /a\x01z\n", "t.conf:1: data_dir: control character in path" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct conf c;
		char err[256] = "";
		if (parse(&c, cases[i].text, err, sizeof err) != -1)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].err);
		conf_free(&c);
	}

	/* NUL byte, over-long line and control bytes in an unknown key. */
	struct conf c;
	char err[256];
	assert_int_equal(conf_defaults(&c), 0);
	assert_int_equal(conf_parse("t.conf", "workers = 1\nx\0y = 1\n", 20, &c, err, sizeof err), -1);
	assert_string_equal(err, "t.conf:2: NUL byte");
	conf_free(&c);
	char big[5000];
	memset(big, 'a', sizeof big);
	assert_int_equal(conf_defaults(&c), 0);
	assert_int_equal(conf_parse("t.conf", big, sizeof big, &c, err, sizeof err), -1);
	assert_string_equal(err, "t.conf:1: line longer than 4096 bytes");
	conf_free(&c);
	assert_int_equal(parse(&c, "\x1b[31m = 1\n", err, sizeof err), -1);
	assert_string_equal(err, "t.conf:1: unknown key '\\x1b[31m'");
	conf_free(&c);
	/* Seventeen listeners. */
	struct buf many;
	buf_init(&many, 0);
	assert_true(buf_append_str(&many, "smtp_listen = "));
	for (int i = 1; i <= 17; i++)
		assert_true(buf_printf(&many, "%s10.0.0.%d:25", i > 1 ? "," : "", i));
	assert_int_equal(parse(&c, buf_cstr(&many), err, sizeof err), -1);
	assert_string_equal(err, "t.conf:1: smtp_listen: more than 16 addresses");
	conf_free(&c);
	buf_release(&many);
}

static void test_load_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/facteur-conf-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], err[512], want[256];
	snprintf(path, sizeof path, "%s/facteur.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("data_dir = ./data\nworkers = 3\n", f);
	fclose(f);
	struct conf c;
	assert_int_equal(conf_defaults(&c), 0);
	assert_int_equal(conf_load(path, &c, err, sizeof err), 0);
	/* Relative to the file's directory. */
	snprintf(want, sizeof want, "%s/data", dir);
	assert_string_equal(c.data_dir, want);
	assert_int_equal(c.workers, 3);
	assert_false(c.loopback_only);
	conf_free(&c);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("workers = 3\nworkers = 4\n", f);
	fclose(f);
	assert_int_equal(conf_defaults(&c), 0);
	assert_int_equal(conf_load(path, &c, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: duplicate key 'workers' (first on line 1)", path);
	assert_string_equal(err, want);
	conf_free(&c);

	unlink(path);
	assert_int_equal(conf_defaults(&c), 0);
	assert_int_equal(conf_load(path, &c, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	assert_string_equal(err, want);
	conf_free(&c);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_every_key),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_syntax_comments_blanks_crlf),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_listeners_replace_per_protocol),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
