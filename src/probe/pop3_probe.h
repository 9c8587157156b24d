/* pop3_probe: the POP3 half of "facteur probe", shared between the session
 * driver (pop3_probe.c) and the login methods (pop3_login.c). Internal to
 * src/probe. */
#ifndef FACTEUR_PROBE_POP3_PROBE_H
#define FACTEUR_PROBE_POP3_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "probe/conn.h"
#include "probe/probe.h"
#include "probe/reply.h"

struct pop3_uid {
	uint64_t msg;
	char uid[72];
};

struct pop3_probe {
	const struct probe_opts *o;
	struct probe_state *st;
	struct report *r;
	struct probe_conn c;
	bool implicit;          /* --tls implicit */
	bool quiet;             /* confirmation session: no steps of its own */
	enum verdict qv;        /* quiet: the worst verdict seen */
	char qreason[600];      /* quiet: the reason of the first FAIL */
	char ts[256];           /* APOP timestamp from the greeting, or "" */
	struct pop3_multi capa;
	bool have_capa;
	enum pop3_status status; /* of the last status line */
	char last[300];         /* the last status line, escaped */
	char text[300];         /* its text after "+OK "/"-ERR ", escaped */
	size_t bare_lf;         /* lines ended by a bare LF in the last multi-line read */
	uint64_t count, octets; /* STAT */
	uint64_t *sizes;        /* LIST, sizes[msg - 1]; UINT64_MAX when not listed */
	size_t nsizes;
	struct pop3_uid *uids;  /* UIDL */
	size_t nuids;
	bool have_uidl;
	uint64_t target;        /* the test message's number, 0 when not found */
	char target_uid[72];
};

/* Steps: report_begin/report_end, or in quiet mode only the worst verdict
 * and the first failure's reason. */
void pop3p_begin(struct pop3_probe *p, const char *name);
void pop3p_end(struct pop3_probe *p, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pop3p_detail(struct pop3_probe *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reads a status line into p->status / p->last: 0, or -1 (connection
 * failure or a line that is neither +OK nor -ERR) with p->c.err. */
int pop3p_status(struct pop3_probe *p);
/* Sends a command (shown masked when `shown`), reads the status line. */
int pop3p_cmd(struct pop3_probe *p, const char *line, const char *shown);
/* The channel name for the security summary. */
const char *pop3p_channel(const struct pop3_probe *p);

/* Logs in with the strongest method the server offers and --tls allows,
 * inside the open step; returns its verdict and reason. */
enum verdict pop3p_login(struct pop3_probe *p, char *reason, size_t reasonsz);
/* Adds the login methods of the greeting and CAPA to the summary. */
void pop3p_note_methods(struct pop3_probe *p);

#endif
