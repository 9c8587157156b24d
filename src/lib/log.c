#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static enum log_level current_level = LOG_INFO;

void log_set_level(enum log_level lvl)
{
	current_level = lvl;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if (lvl > current_level)
		return;
	/* One write per line keeps lines whole when threads log at once. */
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}

void log_bug(const char *file, int line, const char *msg)
{
	fprintf(stderr, "bug %s:%d %s\n", file, line, msg);
	abort();
}
