/* config: check a configuration file, or show the effective values.
 *
 *   facteur config check [-c FILE]   "FILE: ok", or the error and exit 1
 *   facteur config show [-c FILE]    every key as "key = value"
 *
 * Without -c both work on the quick-start defaults. Exit status: 0 done,
 * 1 invalid configuration, 2 usage error. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/common.h"
#include "lib/buf.h"

static const char config_usage[] =
	"usage: facteur config check [-c FILE]\n"
	"       facteur config show [-c FILE]\n"
	"  -c, --config FILE   configuration file (default: the quick-start defaults)\n";

static int config_usage_error(const char *what, const char *arg)
{
	if (arg)
		fprintf(stderr, "facteur: %s '%s'\n", what, arg);
	else
		fprintf(stderr, "facteur: %s\n", what);
	fputs(config_usage, stderr);
	return 2;
}

int cmd_config(int argc, char **argv)
{
	if (argc < 2)
		return config_usage_error("missing action", NULL);
	const char *act = argv[1];
	if (!strcmp(act, "-h") || !strcmp(act, "--help") || !strcmp(act, "help")) {
		fputs(config_usage, stdout);
		return 0;
	}
	bool show;
	if (!strcmp(act, "check"))
		show = false;
	else if (!strcmp(act, "show"))
		show = true;
	else
		return config_usage_error("unknown action", act);

	const char *path = NULL;
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "-c") || !strcmp(s, "--config")) {
			if (i + 1 >= argc)
				return config_usage_error("missing file name after", s);
			path = argv[++i];
		} else if (!strncmp(s, "--config=", 9)) {
			path = s + 9;
		} else if (!strncmp(s, "-c", 2) && s[2]) {
			path = s + 2;
		} else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			fputs(config_usage, stdout);
			return 0;
		} else {
			return config_usage_error("unexpected argument", s);
		}
	}

	struct conf c;
	if (cli_load_conf(path, &c) < 0)
		return 1;
	int rc = 0;
	if (show) {
		struct buf b;
		buf_init(&b, 0);
		if (!conf_format(&c, &b) || fwrite(b.data, 1, b.len, stdout) != b.len ||
		    fflush(stdout) != 0) {
			fprintf(stderr, "facteur: cannot write the configuration\n");
			rc = 1;
		}
		buf_release(&b);
	} else {
		printf("%s: ok\n", path ? path : "(defaults)");
		if (c.nlisteners == 0)
			fprintf(stderr, "facteur: warning: no listener (smtp_listen and "
					"pop3_listen are both 'none')\n");
	}
	conf_free(&c);
	return rc;
}
