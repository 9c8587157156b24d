/* cert: "facteur cert selfsigned --host NAME" writes a key and a
 * self-signed certificate (by default where the server looks for them). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"
#include "tls/selfsigned.h"

static const char cert_usage[] =
	"usage: facteur cert selfsigned [--host NAME] [--days N] [--cert FILE] [--key FILE] [-c FILE]\n"
	"  Writes an ECDSA P-256 key and a self-signed certificate for NAME\n"
	"  (default: the configured hostname) to FILE paths (default: tls_cert\n"
	"  and tls_key, i.e. <data_dir>/tls/cert.pem and key.pem).\n";

int cmd_cert(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "selfsigned") != 0) {
		fputs(cert_usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	const char *conf_path = NULL, *host = NULL, *cert = NULL, *key = NULL;
	unsigned long days = 825;
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "days", required_argument, NULL, 'd' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': host = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'c': conf_path = optarg; break;
		case 'd': {
			char *end;
			days = strtoul(optarg, &end, 10);
			if (*end || days == 0 || days > 36500) {
				fprintf(stderr, "facteur: --days: expected 1 to 36500\n");
				return 2;
			}
			break;
		}
		case 'h': fputs(cert_usage, stdout); return 0;
		default: fputs(cert_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(cert_usage, stderr);
		return 2;
	}
	struct conf c;
	if (cli_load_conf(conf_path, &c) < 0)
		return 1;
	char cert_path[4096], key_path[4096], err[512];
	int rc = 1;
	if (cli_tls_paths(&c, cert_path, sizeof cert_path, key_path, sizeof key_path) < 0) {
		fprintf(stderr, "facteur: TLS file paths too long\n");
		goto out;
	}
	if (!cert)
		cert = cert_path;
	if (!key)
		key = key_path;
	if (!host)
		host = c.hostname;
	if (cli_mkdir_parent(cert) < 0 || cli_mkdir_parent(key) < 0) {
		fprintf(stderr, "facteur: cannot create the directory for %s\n", cert);
		goto out;
	}
	if (selfsigned_write(host, (unsigned)days, cert, key, err, sizeof err) < 0) {
		fprintf(stderr, "facteur: %s\n", err);
		goto out;
	}
	printf("wrote %s and %s (self-signed for %s, %lu days)\n", cert, key, host, days);
	rc = 0;
out:
	conf_free(&c);
	return rc;
}
