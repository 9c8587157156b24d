/* probe: "facteur probe" checks a mail server end to end as a client
 * would: SMTP greeting, EHLO, STARTTLS, AUTH, a real test message; then
 * POP3 greeting, CAPA, STLS, login, STAT/LIST/UIDL, finding, reading and
 * deleting that message; and a summary of which login methods expose the
 * password. Everything goes into a report (see report.h). */
#ifndef FACTEUR_PROBE_PROBE_H
#define FACTEUR_PROBE_PROBE_H

#include <stdbool.h>
#include <time.h>

#include "lib/buf.h"
#include "probe/conn.h"
#include "probe/report.h"

enum probe_tls {
	PROBE_TLS_AUTO,      /* STARTTLS/STLS when offered; no password in the clear */
	PROBE_TLS_NO,        /* never TLS; a password may cross in the clear */
	PROBE_TLS_STARTTLS,  /* STARTTLS/STLS required */
	PROBE_TLS_IMPLICIT,  /* TLS from the first byte (SMTPS 465, POP3S 995) */
};

struct probe_opts {
	const char *smtp_host, *smtp_port; /* smtp_host NULL: no SMTP part */
	const char *pop3_host, *pop3_port; /* pop3_host NULL: no POP3 part */
	const char *user;                  /* NULL: no login */
	const char *password;              /* with user; never printed unless show_secrets */
	const char *from, *to;             /* envelope; default: user */
	enum probe_tls tls;
	bool show_secrets;
	int timeout_ms;
	struct probe_tls_opts tlsopt;
};

struct probe_state {
	struct report rep;
	struct timespec t0;
	char message_id[96];   /* "<probe.<time>.<random>@facteur-probe>" */
	struct buf message;    /* the test message as sent (CRLF, not stuffed) */
	bool message_sent;     /* the server answered 250 to it */
};

void probe_state_init(struct probe_state *st);
void probe_state_free(struct probe_state *st);
/* Builds the test message for from/to with a new unique Message-ID. */
bool probe_build_message(struct probe_state *st, const char *from, const char *to);

void probe_smtp(const struct probe_opts *o, struct probe_state *st);
void probe_pop3(const struct probe_opts *o, struct probe_state *st);

/* ---- shared by the SMTP and POP3 drivers (probe.c) ---------------------- */

/* After pconn_tls succeeded: adds the certificate and session as details
 * of the open step of r (none when r is NULL) and returns the verdict.
 * *stop is set when the session must end before anything secret is sent
 * (certificate not verified and no --insecure). */
enum verdict probe_tls_verdict(const struct probe_opts *o, struct report *r,
			       const struct probe_conn *c, const char *host, bool *stop,
			       char *reason, size_t reasonsz);
/* Adds a security-summary entry for a login method offered on a channel
 * ("plaintext", "after STARTTLS", "after STLS", "implicit TLS"). Unknown
 * SASL mechanisms are skipped. Returns the entry or NULL. */
struct report_sec *probe_sec_offered(struct probe_state *st, const char *proto,
				     const char *method, const char *channel, bool tls);
/* Marks an entry as used by the probe with a result ("accepted" ...). */
void probe_sec_used(struct probe_state *st, const char *proto, const char *method,
		    const char *channel, bool tls, const char *result);
/* The name of a channel for the summary. */
const char *probe_channel(const struct probe_conn *c, bool implicit, const char *upgrade);

#endif
