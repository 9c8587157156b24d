/* main: "facteur <subcommand>" dispatch, --help and --version. */
#include <stdio.h>
#include <string.h>

#include "cli/common.h"

static const char usage[] =
	"usage: facteur <command> [options]\n"
	"\n"
	"commands:\n"
	"  serve [-c FILE]              run the SMTP and POP3 server\n"
	"  user add NAME [--password-stdin] [-c FILE]\n"
	"  user del NAME [-c FILE]\n"
	"  user list [-c FILE]\n"
	"  user passwd NAME [--password-stdin] [-c FILE]\n"
	"  user apop-secret NAME [--password-stdin | --remove] [-c FILE]\n"
	"                               manage accounts\n"
	"  config check [-c FILE]       check a configuration file\n"
	"  config show [-c FILE]        print the effective configuration\n"
	"  cert selfsigned [--host NAME] [--days N] [--cert FILE] [--key FILE] [-c FILE]\n"
	"                               write a key and a self-signed certificate\n"
	"  probe --smtp HOST[:PORT] --pop3 HOST[:PORT] [--user NAME] [--tls MODE] [--json] ...\n"
	"                               check a server end to end, with a transcript\n"
	"  sendmail [-t] [-f ADDR] [-F NAME] [-i] [-c FILE] [recipients...]\n"
	"                               send the message on stdin (sendmail(8) interface)\n"
	"  queue list|flush [-c FILE]\n"
	"  queue show|delete|hold|release ID [-c FILE]\n"
	"                               inspect and act on the outbound queue\n"
	"\n"
	"options:\n"
	"  -h, --help                   show this help\n"
	"  -V, --version                show the version\n"
	"\n"
	"Without -c, facteur uses the quick-start defaults, all on 127.0.0.1:\n"
	"SMTP 2525, POP3 1100, submission 5870 (STARTTLS), SMTPS 4465 and\n"
	"POP3S 9995 (implicit TLS), data in $FACTEUR_HOME or ./facteur-data.\n"
	"See facteur(8) and facteur.conf(5).\n";

int main(int argc, char **argv)
{
	/* Installed as "sendmail" (a link to facteur), behave as sendmail(8):
	 * programs call it with sendmail's own options. */
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (!strcmp(base, "sendmail"))
		return cmd_sendmail(argc, argv);
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("facteur %s\n", FACTEUR_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "user"))
		return cmd_user(argc - 1, argv + 1);
	if (!strcmp(cmd, "config"))
		return cmd_config(argc - 1, argv + 1);
	if (!strcmp(cmd, "cert"))
		return cmd_cert(argc - 1, argv + 1);
	if (!strcmp(cmd, "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (!strcmp(cmd, "sendmail"))
		return cmd_sendmail(argc - 1, argv + 1);
	if (!strcmp(cmd, "queue"))
		return cmd_queue(argc - 1, argv + 1);
	fprintf(stderr, "facteur: unknown command '%s' (try facteur --help)\n", cmd);
	return 2;
}
