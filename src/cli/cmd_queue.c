/* queue: look at and act on the outbound queue (<data_dir>/queue).
 *
 *   facteur queue list [-c FILE]          one line per entry
 *   facteur queue show ID [-c FILE]       envelope, recipients, headers
 *   facteur queue flush [-c FILE]         retry every entry now
 *   facteur queue delete ID [-c FILE]     remove without a bounce
 *   facteur queue hold ID [-c FILE]       stop attempts until release
 *   facteur queue release ID [-c FILE]    resume (and retry now)
 *
 * These work on the files directly, under the entry's lock
 * (queue/spool.h), so they are safe while the server runs: an entry in
 * the middle of an attempt is waited for (up to LOCK_WAIT_SEC). flush and
 * release leave a request the running server picks up within a second.
 * Exit status: 0 done, 1 failed (no such entry...), 2 usage error. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/common.h"
#include "queue/spool.h"

#define LOCK_WAIT_SEC 30

static const char queue_usage[] =
	"usage: facteur queue list [-c FILE]\n"
	"       facteur queue show ID [-c FILE]\n"
	"       facteur queue flush [-c FILE]\n"
	"       facteur queue delete ID [-c FILE]\n"
	"       facteur queue hold ID [-c FILE]\n"
	"       facteur queue release ID [-c FILE]\n"
	"  -c, --config FILE   configuration file (default: the quick-start defaults)\n";

static int usage_error(const char *what, const char *arg)
{
	if (arg)
		fprintf(stderr, "facteur: %s '%s'\n", what, arg);
	else
		fprintf(stderr, "facteur: %s\n", what);
	fputs(queue_usage, stderr);
	return 2;
}

static const char *state_name(enum rcpt_state s)
{
	switch (s) {
	case RCPT_PENDING: return "pending";
	case RCPT_SENT: return "sent";
	case RCPT_FAILED: return "failed";
	case RCPT_BOUNCED: return "bounced";
	}
	return "?";
}

static void age_text(char *out, size_t outsz, long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(out, outsz, "%lds", secs);
	else if (secs < 7200)
		snprintf(out, outsz, "%ldm", secs / 60);
	else if (secs < 172800)
		snprintf(out, outsz, "%ldh", secs / 3600);
	else
		snprintf(out, outsz, "%ldd", (secs / 86400) % 100000);
}

static int queue_list(const char *dir)
{
	char **ids = NULL;
	size_t n = 0;
	char err[512];
	if (spool_list(dir, &ids, &n, err, sizeof err) < 0) {
		if (errno == ENOENT) {
			puts("queue is empty");
			return 0;
		}
		fprintf(stderr, "facteur: %s\n", err);
		return 1;
	}
	time_t now = time(NULL);
	if (n)
		printf("%-40s %9s %5s %5s %-8s %s\n", "ID", "SIZE", "AGE", "NEXT", "STATE",
		       "SENDER -> PENDING RECIPIENTS");
	for (size_t i = 0; i < n; i++) {
		struct queue_env e;
		memset(&e, 0, sizeof e);
		if (spool_load(dir, ids[i], &e, err, sizeof err) < 0) {
			if (errno != ENOENT)
				printf("%-40s (unreadable: %s)\n", ids[i], err);
			continue;
		}
		char age[32], next[32];
		age_text(age, sizeof age, (long)(now - e.created));
		age_text(next, sizeof next, (long)(e.next_attempt - now));
		printf("%-40s %9llu %5s %5s %-8s <%s> ->", e.id, (unsigned long long)e.size, age,
		       e.held ? "-" : next, e.held ? "held" : "active", e.sender);
		for (size_t k = 0; k < e.nrcpts; k++)
			if (e.rcpts[k].state == RCPT_PENDING)
				printf(" <%s>", e.rcpts[k].addr);
		putchar('\n');
		for (size_t k = 0; k < e.nrcpts; k++)
			if (e.rcpts[k].state == RCPT_PENDING && e.rcpts[k].text)
				printf("%41s(%s: %u %s %s)\n", "", e.rcpts[k].addr, e.rcpts[k].code,
				       e.rcpts[k].status, e.rcpts[k].text);
		queue_env_free(&e);
	}
	printf("%zu %s\n", n, n == 1 ? "entry" : "entries");
	spool_ids_free(&ids, n);
	return 0;
}

static void print_time(const char *label, time_t t)
{
	char buf[64];
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm);
	printf("%-10s %s\n", label, buf);
}

static int queue_show(const char *dir, const char *id)
{
	struct queue_env e;
	memset(&e, 0, sizeof e);
	char err[512];
	if (spool_load(dir, id, &e, err, sizeof err) < 0) {
		fprintf(stderr, "facteur: %s: %s\n", id, errno == ENOENT ? "no such entry" : err);
		return 1;
	}
	printf("id         %s\nsender     <%s>\nsize       %llu\n", e.id, e.sender,
	       (unsigned long long)e.size);
	print_time("created", e.created);
	if (e.held)
		printf("next       held\n");
	else
		print_time("next", e.next_attempt);
	printf("attempts   %u\n", e.attempts);
	for (size_t k = 0; k < e.nrcpts; k++) {
		const struct queue_rcpt *q = &e.rcpts[k];
		printf("rcpt       <%s> %s%s", q->addr, state_name(q->state), q->local ? " local" : "");
		if (strcmp(q->orcpt, q->addr) != 0)
			printf(" (for <%s>)", q->orcpt);
		putchar('\n');
		if (q->code || q->text)
			printf("           last: %u %s %s%s%s\n", q->code, q->status,
			       q->mta ? q->mta : "", q->mta ? ": " : "", q->text ? q->text : "");
	}
	/* The header section, so one can tell which message it is. */
	char *msg = NULL;
	size_t len = 0;
	if (spool_read_msg(dir, id, &msg, &len, err, sizeof err) == 0) {
		puts("--");
		size_t pos = 0;
		while (pos < len) {
			const char *nl = memchr(msg + pos, '\n', len - pos);
			size_t ll = nl ? (size_t)(nl - (msg + pos)) : len - pos;
			if (ll == 0 || (ll == 1 && msg[pos] == '\r'))
				break;
			printf("%.*s\n", (int)ll, msg + pos);
			pos += ll + 1;
		}
	}
	free(msg);
	queue_env_free(&e);
	return 0;
}

/* Takes the entry's lock, waiting for a running attempt to end. */
static int lock_entry(const char *dir, const char *id)
{
	for (int i = 0; i < LOCK_WAIT_SEC * 10; i++) {
		int fd = spool_lock(dir, id, false);
		if (fd >= 0 || errno != EWOULDBLOCK)
			return fd;
		usleep(100 * 1000);
	}
	errno = EWOULDBLOCK;
	return -1;
}

enum change { CH_DELETE, CH_HOLD, CH_RELEASE };

static int queue_change(const char *dir, const char *id, enum change ch)
{
	if (!queue_id_valid(id)) {
		fprintf(stderr, "facteur: '%s' is not a queue id\n", id);
		return 1;
	}
	int fd = lock_entry(dir, id);
	if (fd < 0) {
		fprintf(stderr, "facteur: %s: %s\n", id, errno == ENOENT ? "no such entry"
			: errno == EWOULDBLOCK ? "busy (an attempt is running), try again"
					       : strerror(errno));
		return 1;
	}
	char err[512];
	struct queue_env e;
	memset(&e, 0, sizeof e);
	int rc = spool_load(dir, id, &e, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "facteur: %s: %s\n", id, errno == ENOENT ? "no such entry" : err);
	} else if (ch == CH_DELETE) {
		rc = spool_remove(dir, id, err, sizeof err);
	} else {
		e.held = ch == CH_HOLD;
		if (ch == CH_RELEASE)
			e.next_attempt = time(NULL);
		rc = spool_update(dir, &e, err, sizeof err);
	}
	if (rc == 0 && ch == CH_RELEASE && spool_request_flush(dir, err, sizeof err) < 0)
		fprintf(stderr, "facteur: warning: %s\n", err);
	spool_unlock(fd);
	queue_env_free(&e);
	if (rc < 0) {
		if (errno != ENOENT)
			fprintf(stderr, "facteur: %s: %s\n", id, err);
		return 1;
	}
	static const char *const done[] = { "deleted", "held", "released" };
	printf("%s: %s\n", id, done[ch]);
	return 0;
}

int cmd_queue(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("missing action", NULL);
	const char *act = argv[1];
	if (!strcmp(act, "-h") || !strcmp(act, "--help") || !strcmp(act, "help")) {
		fputs(queue_usage, stdout);
		return 0;
	}
	bool needs_id = !strcmp(act, "show") || !strcmp(act, "delete") || !strcmp(act, "hold") ||
			!strcmp(act, "release");
	if (!needs_id && strcmp(act, "list") != 0 && strcmp(act, "flush") != 0)
		return usage_error("unknown action", act);
	const char *path = NULL, *id = NULL;
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "-c") || !strcmp(s, "--config")) {
			if (i + 1 >= argc)
				return usage_error("missing file name after", s);
			path = argv[++i];
		} else if (!strncmp(s, "--config=", 9)) {
			path = s + 9;
		} else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			fputs(queue_usage, stdout);
			return 0;
		} else if (s[0] == '-') {
			return usage_error("unknown option", s);
		} else if (needs_id && !id) {
			id = s;
		} else {
			return usage_error("unexpected argument", s);
		}
	}
	if (needs_id && !id)
		return usage_error("missing queue id", NULL);
	struct conf c;
	if (cli_load_conf(path, &c) < 0)
		return 1;
	if (cli_become_data_owner(&c) < 0) {
		conf_free(&c);
		return 1;
	}
	char dir[4096];
	int rc;
	if (cli_data_path(&c, "queue", dir, sizeof dir) < 0) {
		fprintf(stderr, "facteur: data_dir too long\n");
		rc = 1;
	} else if (!strcmp(act, "list")) {
		rc = queue_list(dir);
	} else if (!strcmp(act, "show")) {
		rc = queue_show(dir, id);
	} else if (!strcmp(act, "flush")) {
		char err[512];
		rc = spool_request_flush(dir, err, sizeof err) < 0;
		if (rc)
			fprintf(stderr, "facteur: %s\n", err);
		else
			puts("flush requested: the server retries every entry within a second");
	} else {
		enum change ch = CH_RELEASE;
		if (strcmp(act, "delete") == 0)
			ch = CH_DELETE;
		else if (strcmp(act, "hold") == 0)
			ch = CH_HOLD;
		rc = queue_change(dir, id, ch);
	}
	conf_free(&c);
	return rc;
}
